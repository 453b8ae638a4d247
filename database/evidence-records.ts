// Evidence documents kept by their sha256, for the git tags that name them.

import type { DataSource } from 'typeorm';
import { EvidenceRecordEntity } from './entities/evidence-record.entity';

export interface EvidenceRecord {
  sha256: string;
  deploymentId: string;
  document: string;
  recordedFor: string;
}

/** Idempotent: the same document kept again is a no-op (its sha256 is its key). */
export async function keepEvidence(dataSource: DataSource, record: EvidenceRecord): Promise<void> {
  await dataSource
    .createQueryBuilder()
    .insert()
    .into(EvidenceRecordEntity)
    .values({ sha256: record.sha256, deploymentId: record.deploymentId, document: record.document, recordedFor: record.recordedFor })
    .orIgnore()
    .execute();
}

export async function findEvidence(dataSource: DataSource, deploymentId: string, sha256: string): Promise<EvidenceRecord | undefined> {
  const row = await dataSource.getRepository(EvidenceRecordEntity).findOneBy({ sha256, deploymentId });
  return row ? { sha256: row.sha256, deploymentId: row.deploymentId, document: row.document, recordedFor: row.recordedFor } : undefined;
}
