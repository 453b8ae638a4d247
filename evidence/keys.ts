// The key that signs evidence: Ed25519, from COUNTERSIGN_EVIDENCE_KEY (a PKCS8 PEM file) or
// generated once under the data folder. Every process (API, worker) sharing a data folder
// signs with the same key, even when they start at the same moment.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const EVIDENCE_KEY_FILE = 'evidence-key.pem';

export interface EvidenceKey {
  /** `sha256:` + hex sha256 of the public key's SPKI DER. */
  keyid: string;
  algorithm: 'ed25519';
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM: what `countersign verify --key` takes. */
  publicKeyPem: string;
  /** Where the private key was read from. */
  path: string;
  source: 'env' | 'data-dir';
}

export function keyIdOf(publicKey: KeyObject): string {
  return `sha256:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

export function publicKeyPemOf(publicKey: KeyObject): string {
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** Reads a PEM public key (or derives it from a private one); throws with a message naming `origin`. */
export function readPublicKey(pem: string, origin: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`${origin} is not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${origin} is a ${key.asymmetricKeyType} key; Countersign evidence is signed with Ed25519`);
  }
  return key;
}

function fromPem(pem: string, file: string, source: EvidenceKey['source'], origin: string): EvidenceKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${origin} (${file}) is not a PEM private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${origin} (${file}) is a ${privateKey.asymmetricKeyType} key; evidence needs an Ed25519 key ` +
      '(openssl genpkey -algorithm ed25519 -out evidence-key.pem)');
  }
  const publicKey = createPublicKey(privateKey);
  return { keyid: keyIdOf(publicKey), algorithm: 'ed25519', privateKey, publicKey, publicKeyPem: publicKeyPemOf(publicKey), path: file, source };
}

function readKeyFile(file: string, origin: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${origin} (${file}) cannot be read: ${(err as Error).message}`);
  }
}

/** keyPath: COUNTERSIGN_EVIDENCE_KEY (Settings.evidenceKeyPath); without it, a key kept under dataDir. */
export function loadEvidenceKey(options: { dataDir: string; keyPath?: string }): EvidenceKey {
  const configured = options.keyPath;
  if (configured) {
    const file = path.resolve(configured);
    return fromPem(readKeyFile(file, 'COUNTERSIGN_EVIDENCE_KEY'), file, 'env', 'COUNTERSIGN_EVIDENCE_KEY');
  }

  const file = path.join(path.resolve(options.dataDir), EVIDENCE_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`the evidence key ${file} cannot be read: ${(err as Error).message}`);
    }
  }
  if (pem === undefined) {
    mkdirSync(path.dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    const fresh = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // Written whole under a private name, then linked into place: a hard link never replaces
    // an existing file, so of two processes racing here exactly one key wins, and both use it.
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, fresh, { mode: 0o600, flag: 'wx' });
    chmodSync(temp, 0o600);
    try {
      linkSync(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        unlinkSync(temp);
        throw new Error(`the evidence key could not be stored at ${file}: ${(err as Error).message}`);
      }
    }
    unlinkSync(temp);
    pem = readKeyFile(file, 'the evidence key');
  }
  return fromPem(pem, file, 'data-dir', 'the evidence key');
}
