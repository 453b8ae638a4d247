// Evidence documents kept by their sha256, for the git tags that name them.

import type { DataSource } from 'typeorm';

export interface EvidenceRecord {
  sha256: string;
  deploymentId: string;
  document: string;
  recordedFor: string;
}

/** Idempotent: the same document kept again is a no-op (its sha256 is its key). */
export async function keepEvidence(dataSource: DataSource, record: EvidenceRecord): Promise<void> {
  await dataSource.query(
    `INSERT INTO evidence_records (sha256, deployment_id, document, recorded_for) VALUES ($1, $2, $3, $4)
     ON CONFLICT (sha256) DO NOTHING`,
    [record.sha256, record.deploymentId, record.document, record.recordedFor],
  );
}

export async function findEvidence(dataSource: DataSource, deploymentId: string, sha256: string): Promise<EvidenceRecord | undefined> {
  const [row] = (await dataSource.query(
    `SELECT sha256, deployment_id, document, recorded_for FROM evidence_records WHERE sha256 = $1 AND deployment_id = $2`,
    [sha256, deploymentId],
  )) as Array<{ sha256: string; deployment_id: string; document: string; recorded_for: string }>;
  return row && { sha256: row.sha256, deploymentId: row.deployment_id, document: row.document, recordedFor: row.recorded_for };
}
