// The deployments table is an index of what each workflow last reported: a snapshot is
// written only over an older version, so retries and reconciliation never move it back.

import type { DataSource } from 'typeorm';
import type { DeploymentView } from '../policy/types';
import { storableJson } from './storable';

/** Inserts or advances the deployment's row; true when the row changed. */
export async function writeDeploymentView(db: DataSource, snapshot: DeploymentView): Promise<boolean> {
  // As PostgreSQL can store it (database/storable.ts): never a write that can only fail.
  const view = storableJson(snapshot).value;
  const rows = (await db.query(
    `INSERT INTO deployments (id, workflow_id, service, environment, status, tier, requested_by, artifact_digest, requested_at, version, view)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version, view = EXCLUDED.view
     WHERE deployments.version < EXCLUDED.version
     RETURNING id`,
    [view.id, view.workflowId, view.service, view.environment, view.status, view.tier, view.requestedBy,
      view.artifact.digest, view.requestedAt, view.version, JSON.stringify(view)],
  )) as unknown[];
  return rows.length > 0;
}
