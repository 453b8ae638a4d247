// Identities that look alike name one person for the gate. `аlice@example.com` written with a
// Cyrillic `а` is not Alice's address, but a reviewer reading the change sees Alice, and so must
// the gate: refusing a look-alike is the safe side of segregation of duties.
//
// Unicode TS #39 (security mechanisms) defines when two strings are confusable: their
// *skeletons* are equal. The mapping is Unicode's own confusables.txt, shipped by the
// `unhomoglyph` package (data.json, one source code point to its prototype).
//
// NOT FOR WORKFLOW CODE: the table is ~100 KB. The API adds `skeleton:` keys to what it puts
// into a request (`excluded.identities`) and to each principal's identity keys (so to every
// Person), and the workflow's `sharesIdentity` compares them like any other key.

import { principalKeys } from './identity';

const PROTOTYPES: Readonly<Record<string, string>> = require('unhomoglyph/data.json');

/** UTS #39 skeleton: NFD, every code point to its prototype, NFD again. */
export function skeleton(text: string): string {
  let mapped = '';
  for (const char of text.normalize('NFD')) mapped += PROTOTYPES[char] ?? char;
  return mapped.normalize('NFD');
}

/**
 * The skeleton of a canonical (already lower-cased) identity, folded once more: confusables.txt
 * maps some letters to upper-case prototypes (`0` → `O`), and the gate ignores case, so
 * `b0b` is confusable with `bOb`, which is `bob`.
 */
export function identitySkeleton(canonical: string): string {
  return skeleton(skeleton(canonical).toLowerCase());
}

const SKELETON_KINDS = ['email', 'login'] as const;

/**
 * Adds to typed identity keys the skeleton key of every email and login: `email:аlice@x` also
 * stands for `skeleton:email:<skeleton>`, which Alice's own `email:alice@x` also has. Subjects
 * are opaque identifiers compared exactly and get none. Idempotent: existing skeleton keys are
 * kept as they are.
 */
export function withSkeletons(keys: readonly string[]): string[] {
  const all = new Set(keys);
  for (const key of keys) {
    for (const kind of SKELETON_KINDS) {
      if (key.startsWith(`${kind}:`)) all.add(`skeleton:${kind}:${identitySkeleton(key.slice(kind.length + 1))}`);
    }
  }
  return [...all];
}

/** A principal's identity keys as stored and compared: canonical keys and their skeletons. */
export function principalIdentityKeys(identities: Parameters<typeof principalKeys>[0]): string[] {
  return withSkeletons(principalKeys(identities));
}
