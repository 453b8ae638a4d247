// Environment and service names, compared canonically. A spelling that differs from a
// configured name only in case, spaces, punctuation or Unicode form is the same name: it must
// meet the same rule, never fall through to a laxer one. Pure: no I/O.

/** Case, Unicode form and invisible characters folded: what no reader of a name can see. */
function fold(name: string): string {
  return name
    .normalize('NFKC')
    .replace(/\p{Default_Ignorable_Code_Point}/gu, '')
    // Upper then lower folds more than lower alone: ß → SS → ss, ς → Σ → σ.
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC');
}

/**
 * The key two names are compared by: NFKC (fullwidth and compatibility forms), without
 * default-ignorable code points (zero-width joiners, fillers), case-folded, and only letters
 * and digits kept. `Production`, `PRODUCTION`, `production.`, `pro-duction` and `ｐｒｏｄｕｃｔｉｏｎ`
 * all key to `production`.
 */
export function canonicalName(name: string): string {
  return fold(name).replace(/[^\p{L}\p{N}]/gu, '');
}

const WILDCARD = /([*?])/;

/** A glob in canonical form: its literal parts canonicalised, `*` and `?` kept. */
export function canonicalGlob(pattern: string): string {
  return pattern
    .split(WILDCARD)
    .map((piece) => (piece === '*' || piece === '?' ? piece : canonicalName(piece)))
    .join('');
}

export const isGlob = (pattern: string): boolean => /[*?]/.test(pattern);

/** `*` any run of characters, `?` one, everything else literal. */
function globRegExp(pattern: string): RegExp {
  const source = pattern
    .split(WILDCARD)
    .map((piece) => (piece === '*' ? '.*' : piece === '?' ? '.' : piece.replace(/[.+^${}()|[\]\\*?]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'u');
}

/**
 * Does the name match the rule's glob, compared canonically? `*` is any run of letters and
 * digits, `?` exactly one: `pay-*` matches `pay-api`, `Pay_API` and `payapi` alike.
 */
export function nameMatches(pattern: string, name: string): boolean {
  return globRegExp(canonicalGlob(pattern)).test(canonicalName(name));
}

/** Folded as `canonicalName` is, but each run of spaces and punctuation kept as one `-`, trimmed at the ends. */
function separatedName(name: string, keepWildcards: boolean): string {
  return fold(name)
    .replace(keepWildcards ? /[^\p{L}\p{N}*?]+/gu : /[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Does a pipeline's scope cover the name? A scope grants access, so it never matches more than
 * its author wrote: the name must match canonically (case and Unicode form do not count) and
 * with its separators where the scope has them, so `web-*` covers `WEB_api` but not
 * `webhooks`, though the two are one name to `nameMatches`.
 */
export function scopeMatches(pattern: string, name: string): boolean {
  return nameMatches(pattern, name) && globRegExp(separatedName(pattern, true)).test(separatedName(name, false));
}

/** The names a policy knows for environments (or services), and whether others are allowed. */
export interface KnownNames {
  /** The configured spellings. */
  names: string[];
  /** Globs the rules name (`prod-*`) when the policy lists no names: a name they match is known, as given. */
  patterns: string[];
  /** Names outside `names` are taken as given (`"*"` in the list, or nothing to check against). */
  allowUnknown: boolean;
  /** Whether the policy lists them itself (`environments:` / `services:`). */
  listed: boolean;
}

/** The configured name that `requested` equals canonically, if any. */
export function configuredSpelling(requested: string, names: readonly string[]): string | undefined {
  const key = canonicalName(requested);
  return key === '' ? undefined : names.find((name) => canonicalName(name) === key);
}

export type NameResolution = { ok: true; name: string } | { ok: false; detail: string };

/**
 * The configured spelling of a requested name: the known name it equals canonically. A name
 * that equals none is taken as given only when a rule's glob names it or the policy allows
 * unknown names.
 */
export function resolveName(kind: 'environment' | 'service', requested: string, known: KnownNames): NameResolution {
  const found = configuredSpelling(requested, known.names);
  if (found !== undefined) return { ok: true, name: found };
  if (known.allowUnknown || known.patterns.some((pattern) => nameMatches(pattern, requested))) return { ok: true, name: requested };
  const list = kind === 'environment' ? 'environments' : 'services';
  const globs = known.patterns.length > 0 ? ` (and names matching ${known.patterns.join(', ')})` : '';
  return {
    ok: false,
    detail:
      `${kind} ${JSON.stringify(requested)} is not one the policy knows; known ${list}: ${known.names.join(', ')}${globs}. ` +
      `Use one of them (case, spaces and punctuation do not matter), or ask an admin to add it to \`${list}:\` in the policy ` +
      `(or add "*" to \`${list}:\` to allow ${list} the policy does not list)`,
  };
}
