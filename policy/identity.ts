// Segregation of duties compares people, not strings. Every identity a commit, a token or a
// directory entry carries is reduced here to canonical, typed keys (`email:…`, `login:…`,
// `subject:…`), so that two spellings of one person compare equal.

export type IdentityKind = 'email' | 'login' | 'subject';

const GITHUB_NOREPLY = /^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$/;
const TRAILER = /^\s*co-authored-by\s*:\s*/i;
const NAME_ADDR = /<([^<>]*)>\s*$/;

/** NFKC folds compatibility forms (fullwidth letters, ligatures); then case and space. */
export function canonicalText(text: string): string {
  return text
    .normalize('NFKC')
    // Invisible characters: zero-width spaces and joiners, direction marks, soft hyphen, BOM...
    .replace(/\p{Default_Ignorable_Code_Point}/gu, '')
    .trim()
    .toLowerCase();
}

/**
 * An email reduced to the mailbox that receives it: sub-addressing (`alice+x@`) delivers to
 * `alice@`, so both are the same person for the gate.
 */
export function canonicalEmail(email: string): string {
  const text = canonicalText(email);
  const at = text.lastIndexOf('@');
  if (at <= 0) return text;
  const local = text.slice(0, at).split('+')[0];
  return `${local}@${text.slice(at + 1)}`;
}

/**
 * The typed keys one author entry stands for. Accepts a bare email, a login, `Name <email>`
 * and a whole `Co-authored-by: Name <email>` trailer. A GitHub noreply address also stands for
 * the GitHub login inside it.
 */
export function authorKeys(entry: string): string[] {
  // A block of trailers (`Co-authored-by: A <a@…>\nCo-authored-by: B <b@…>`) names one person
  // per line: every line counts, not only the last address in the entry.
  const lines = entry.split(/[\n\r\v\f\u0085\u2028\u2029]+/);
  if (lines.length > 1) return [...new Set(lines.flatMap(authorKeys))];
  // Invisible characters are removed before parsing, so they cannot hide the `<…>` or the trailer.
  let text = canonicalText(entry).replace(TRAILER, '');
  const angle = NAME_ADDR.exec(text);
  if (angle) text = angle[1];
  const canonical = canonicalText(text);
  if (!canonical) return [];
  // `@alice` is a login, not an email: only an `@` after the first character makes an address.
  if (canonical.lastIndexOf('@') <= 0) {
    const login = canonical.replace(/^@/, '');
    return login ? [`login:${login}`] : [];
  }
  const keys = [`email:${canonicalEmail(canonical)}`];
  const noreply = GITHUB_NOREPLY.exec(canonical);
  if (noreply) keys.push(`login:${noreply[1]}`);
  return keys;
}

/** The typed keys of a directory entry's identities. */
export function principalKeys(identities: {
  emails?: string[];
  logins?: string[];
  subjects?: string[];
}): string[] {
  const keys = new Set<string>();
  for (const email of identities.emails ?? []) {
    for (const key of authorKeys(email)) keys.add(key);
  }
  for (const login of identities.logins ?? []) {
    const canonical = canonicalText(login).replace(/^@/, '');
    if (canonical) keys.add(`login:${canonical}`);
  }
  for (const subject of identities.subjects ?? []) {
    // SSO subjects are opaque identifiers issued per issuer: compared exactly, never folded.
    const trimmed = subject.trim();
    if (trimmed) keys.add(`subject:${trimmed}`);
  }
  return [...keys];
}

/** Do two sets of keys name one person? */
export function sharesIdentity(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return b.some((key) => set.has(key));
}
