// The record of a deployment's deploy across its runs (`deploy_runs`): what makes the deploy
// activity idempotent when Temporal retries it.

import type { DataSource } from 'typeorm';
import type { DeployResult } from '../policy/types';
import { DeployRunEntity } from './entities/deploy-run.entity';

/** Runs the deployer itself may fail before the deployment ends FAILED. */
export const DEPLOYER_FAILURES_ALLOWED = 3;

export type DeployRunRow = Pick<DeployRunEntity, 'status' | 'digest' | 'output' | 'error' | 'failures' | 'finishedAt'>;

/** Every read and write of `deploy_runs`, each atomic: one statement, or one transaction. */
export function deployRuns(dataSource: DataSource) {
  const runs = () => dataSource.getRepository(DeployRunEntity);
  return {
    read: (deploymentId: string): Promise<DeployRunRow | null> =>
      runs().findOne({ select: { status: true, digest: true, output: true, error: true, failures: true, finishedAt: true }, where: { deploymentId } }),

    /**
     * Counts a new run unless one has succeeded or the deployer has failed too often: its
     * attempt number, or undefined when no run may start (read the row to learn why). One
     * statement, so no reader sees the row uncounted, concurrent starts each get their own
     * number (the upsert takes the row lock), and a deploy costs one round trip to begin. Raw
     * SQL, since TypeORM's upsert cannot increment a column.
     */
    start: async (deploymentId: string, digest: string): Promise<number | undefined> => {
      const rows: Array<{ attempts: number }> = await dataSource.query(
        `INSERT INTO deploy_runs (deployment_id, status, digest, attempts, failures, started_at)
         VALUES ($1, 'running', $2, 1, 0, now())
         ON CONFLICT (deployment_id) DO UPDATE
           SET status = 'running', attempts = deploy_runs.attempts + 1, started_at = now(), error = NULL
           WHERE deploy_runs.status <> 'succeeded' AND deploy_runs.failures < $3
         RETURNING attempts`,
        [deploymentId, digest, DEPLOYER_FAILURES_ALLOWED],
      );
      return rows[0]?.attempts;
    },

    succeeded: (deploymentId: string, attempt: number | undefined, result: DeployResult) =>
      runs().createQueryBuilder().update()
        .set({ status: 'succeeded', succeededAttempt: attempt ?? null, output: result.output ?? null, finishedAt: new Date(result.at), error: null })
        .where('deployment_id = :deploymentId AND status <> :succeeded', { deploymentId, succeeded: 'succeeded' })
        .execute(),

    /** Conditional on this run still being the current one, so a retried write counts once. */
    failed: (deploymentId: string, attempt: number, error: string, output: string | null) =>
      runs().createQueryBuilder().update()
        .set({ status: 'failed', failures: () => 'failures + 1', error, output, finishedAt: () => 'now()' })
        .where('deployment_id = :deploymentId AND attempts = :attempt AND status = :running', { deploymentId, attempt, running: 'running' })
        .execute(),
  };
}

