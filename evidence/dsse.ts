// DSSE v1 envelopes (https://github.com/secure-systems-lab/dsse): the signature covers the
// pre-authentication encoding of the payload type and the payload bytes, Ed25519 via node:crypto.

import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from '../policy/canonical-json';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: DsseSignature[];
}

export interface SigningKey {
  keyid: string;
  privateKey: KeyObject;
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** Signs canonicalJson(statement) as an in-toto payload. */
export function signEnvelope(statement: unknown, key: SigningKey, payloadType = IN_TOTO_PAYLOAD_TYPE): DsseEnvelope {
  const body = Buffer.from(canonicalJson(statement), 'utf8');
  const sig = sign(null, pae(payloadType, body), key.privateKey);
  return { payload: body.toString('base64'), payloadType, signatures: [{ keyid: key.keyid, sig: sig.toString('base64') }] };
}

/** Strict base64: only the one encoding of the bytes, so that no edit of the text goes unnoticed. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

export type EnvelopeVerdict =
  | { ok: true; keyid: string; payload: Buffer }
  | { ok: false; reason: string; payload?: Buffer };

function isEnvelope(value: unknown): value is DsseEnvelope {
  const env = value as DsseEnvelope;
  return (
    typeof env === 'object' && env !== null &&
    typeof env.payload === 'string' && typeof env.payloadType === 'string' &&
    Array.isArray(env.signatures) &&
    env.signatures.every((s) => typeof s === 'object' && s !== null && typeof s.sig === 'string' && (s.keyid === undefined || typeof s.keyid === 'string'))
  );
}

/**
 * Valid when at least one signature verifies with `publicKey` over the envelope's own payload
 * type and payload. `keyid` names the key in messages (computed by the caller).
 */
export function verifyEnvelope(envelope: unknown, publicKey: KeyObject | string, keyid = 'the given key'): EnvelopeVerdict {
  if (!isEnvelope(envelope)) {
    return { ok: false, reason: 'not a DSSE envelope: expected an object with string "payload" and "payloadType" and a "signatures" array of {keyid, sig}' };
  }
  const payload = decodeBase64Strict(envelope.payload);
  if (!payload) return { ok: false, reason: 'the envelope\'s payload is not valid base64: the evidence was altered' };
  if (envelope.signatures.length === 0) return { ok: false, reason: 'the envelope carries no signature', payload };
  let key: KeyObject;
  try {
    key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  } catch (err) {
    return { ok: false, reason: `the public key cannot be read: ${(err as Error).message}`, payload };
  }
  const message = pae(envelope.payloadType, payload);
  for (const signature of envelope.signatures) {
    const sig = decodeBase64Strict(signature.sig);
    if (!sig) continue;
    try {
      if (verify(null, message, key, sig)) return { ok: true, keyid: signature.keyid ?? keyid, payload };
    } catch {
      // a malformed signature: does not verify
    }
  }
  const signedBy = envelope.signatures.map((s) => s.keyid).filter(Boolean);
  const otherKey = signedBy.length > 0 && !signedBy.includes(keyid);
  return {
    ok: false,
    reason:
      `signature does not verify with key ${keyid}: the evidence was altered or signed by another key` +
      (otherKey ? ` (it names ${signedBy.join(', ')})` : ''),
    payload,
  };
}
