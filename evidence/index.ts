// The evidence document a deployment is served as: a signed DSSE envelope around its
// in-toto statement, and the sha256 of the exact bytes served (which git tags record).

import { createHash } from 'node:crypto';
import { signEnvelope, type DsseEnvelope } from './dsse';
import type { EvidenceKey } from './keys';
import { buildStatement, type StatementInput } from './statement';

export interface EvidenceDocument {
  envelope: DsseEnvelope;
  /** The JSON served, byte for byte. */
  json: string;
  /** Hex sha256 of `json`. */
  sha256: string;
}

export function evidenceDocument(input: StatementInput, key: Pick<EvidenceKey, 'keyid' | 'privateKey'>): EvidenceDocument {
  const envelope = signEnvelope(buildStatement(input), key);
  const json = JSON.stringify(envelope);
  return { envelope, json, sha256: createHash('sha256').update(json, 'utf8').digest('hex') };
}

export { buildStatement, PREDICATE_TYPE, STATEMENT_TYPE, type InTotoStatement, type StatementInput } from './statement';
export { IN_TOTO_PAYLOAD_TYPE, signEnvelope, verifyEnvelope, type DsseEnvelope } from './dsse';
export { loadEvidenceKey, keyIdOf, type EvidenceKey } from './keys';
export { verifyEvidence, type EvidenceVerdict } from './verify';
