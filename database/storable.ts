// PostgreSQL cannot store NUL (U+0000) in text or jsonb, nor a lone UTF-16 surrogate in jsonb
// (and in text it silently becomes U+FFFD, so a hash over the original would not match). The
// API refuses both at the edge; this is the defence behind it, so that no write of an event or
// a snapshot can fail forever: such characters are replaced with U+FFFD, and the caller says so.

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export const REPLACEMENT_CHARACTER = '\uFFFD';

export function storableText(text: string): string {
  return text.replace(UNSTORABLE, REPLACEMENT_CHARACTER);
}

export function isStorableText(text: string): boolean {
  UNSTORABLE.lastIndex = 0;
  const found = UNSTORABLE.test(text);
  UNSTORABLE.lastIndex = 0;
  return !found;
}

/**
 * A plain-JSON copy of `value` (undefined dropped, as jsonb would) with every unstorable
 * character in strings and keys replaced, and the places where that happened (`a.b[2]`).
 * Iterative: no depth overflows the call stack.
 */
export function storableJson<T>(value: T, root = ''): { value: T; replaced: string[] } {
  if (value === undefined) return { value, replaced: [] };
  const copy = JSON.parse(JSON.stringify(value)) as unknown;
  const replaced: string[] = [];
  const fix = (text: string, at: string): string => {
    if (isStorableText(text)) return text;
    replaced.push(storableText(at) || '(value)');
    return storableText(text);
  };
  if (typeof copy === 'string') return { value: fix(copy, root) as T, replaced };
  const stack: Array<{ node: unknown; at: string }> = [{ node: copy, at: root }];
  while (stack.length > 0) {
    const { node, at } = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      node.forEach((item, index) => {
        const place = `${at}[${index}]`;
        if (typeof item === 'string') node[index] = fix(item, place);
        else stack.push({ node: item, at: place });
      });
      continue;
    }
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      let item = record[key];
      let name = key;
      if (!isStorableText(key)) {
        name = fix(key, at ? `${at}.${key}` : key);
        delete record[key];
      }
      const place = at ? `${at}.${name}` : name;
      if (typeof item === 'string') item = fix(item, place);
      else stack.push({ node: item, at: place });
      record[name] = item;
    }
  }
  return { value: copy as T, replaced };
}
