// Segregation of duties compares people, not strings. Every identity a commit, a token or a
// directory entry carries is reduced here to canonical, typed keys (`email:…`, `login:…`,
// `subject:…`), so that two spellings of one person compare equal.

export type IdentityKind = 'email' | 'login' | 'subject' | 'slack';

const GITHUB_NOREPLY = /^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$/;
const TRAILER = /^\s*co-authored-by\s*:\s*/i;

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
 * Something shaped like an address anywhere in an entry: RFC 5322 atext in the local part (any
 * letter or digit of any script), a dotted domain. Matching addresses rather than parsing one
 * `Name <addr>` means an entry cannot hide a second address behind the first.
 */
const ADDRESS = /[\p{L}\p{N}\p{M}!#$%&'*+/=?^_`{|}~.-]+@[\p{L}\p{N}\p{M}-]+(?:\.[\p{L}\p{N}\p{M}-]+)*/gu;
const ANGLE = /<([^<>]*)>/g;

/** Splits `A <a@x>, "Liddell, B" <b@x>; c` at commas and semicolons outside quotes and `<…>`. */
function splitList(text: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let angle = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === '<') angle++;
    else if (!quoted && char === '>' && angle > 0) angle--;
    else if (!quoted && angle === 0 && (char === ',' || char === ';')) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The keys of one identity: a bare email or a login (`@alice` is a login, not an email). */
function identityKeys(identity: string): string[] {
  const canonical = canonicalText(identity);
  if (!canonical) return [];
  // Only an `@` after the first character makes an address.
  if (canonical.lastIndexOf('@') <= 0) {
    const login = canonical.replace(/^@/, '');
    return login ? [`login:${login}`] : [];
  }
  const keys = [`email:${canonicalEmail(canonical)}`];
  const noreply = GITHUB_NOREPLY.exec(canonical);
  if (noreply) keys.push(`login:${noreply[1]}`);
  return keys;
}

/** The keys of one item of a list: every address it names, else the item as one identity. */
function itemKeys(item: string): string[] {
  const addresses = [...item.matchAll(ADDRESS)].map((match) => match[0].replace(/\.+$/, ''));
  const angles = [...item.matchAll(ANGLE)].map((match) => match[1].trim());
  if (addresses.length === 0 && angles.length === 0) return identityKeys(item);
  // `Name <login>` names a login; otherwise the text around addresses is a display name.
  const logins = angles.filter((inside) => inside && !inside.includes('@'));
  return [...addresses, ...logins].flatMap(identityKeys);
}

/**
 * The typed keys one author entry stands for. Accepts a bare email, a login, `Name <email>`
 * and a whole `Co-authored-by: Name <email>` trailer. A GitHub noreply address also stands for
 * the GitHub login inside it.
 *
 * An entry that names several people names every one of them: every line of a block of
 * trailers, every item of a comma or semicolon separated list, every `<addr>` and every bare
 * address anywhere in it. Excluding one person too many is the safe side of the gate; keeping
 * only the last address let `Alice <alice@…>, Zed <zed@…>` approve as Alice.
 */
export function authorKeys(entry: string): string[] {
  const lines = entry.split(/[\n\r\v\f\u0085\u2028\u2029]+/);
  // Invisible characters are removed before parsing, so they cannot hide the `<…>` or the trailer.
  const keys = lines.flatMap((line) =>
    splitList(canonicalText(line)).flatMap((item) => itemKeys(canonicalText(item).replace(TRAILER, ''))),
  );
  return [...new Set(keys)];
}

/** The typed keys of a directory entry's identities. */
export function principalKeys(identities: {
  emails?: string[];
  logins?: string[];
  subjects?: string[];
  slack?: string[];
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
  for (const user of identities.slack ?? []) {
    const id = slackUserKey(user);
    if (id) keys.add(id);
  }
  return [...keys];
}

/** A Slack user id's key: Slack's ids are upper-case letters and digits, compared exactly after trimming. */
export function slackUserKey(user: string): string | undefined {
  const trimmed = user.trim().toUpperCase();
  return trimmed ? `slack:${trimmed}` : undefined;
}

/** Do two sets of keys name one person? */
export function sharesIdentity(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return b.some((key) => set.has(key));
}
