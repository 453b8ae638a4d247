// Token secrets: random, shown once, stored only as SHA-256. Lookup is by the hash, so the
// database never compares a secret byte by byte; the final check is constant-time anyway.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function newSecret(): string {
  return `cs_${randomBytes(32).toString('base64url')}`;
}

export function newTokenId(): string {
  return `tok_${randomBytes(8).toString('hex')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
