// Activities: the workflow's only way to touch the database and the deploy targets. Each is
// thin and idempotent, so Temporal may retry any of them safely.

import { ApplicationFailure, Context } from '@temporalio/activity';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { appendAuditEvents } from '../database/audit-trail';
import { keepEvidence } from '../database/evidence-records';
import type { Policy } from '../policy/config';
import type { DeployResult } from '../policy/types';
import type { EvidenceKey } from '../evidence/keys';
import { DeployerFailure, runDeployer } from './deployers';
import { createGitActivities } from './git';
import type { DeployActivities, GateActivities, GitActivities } from './types';

export interface ActivityDependencies {
  dataSource: DataSource;
  /** The current policy, for deployer definitions (secrets stay out of workflow histories). */
  policy: () => Policy;
  /** Where mirrors of remote git repositories are kept (default: `.data`). */
  dataDir?: string;
  /** Signs the evidence whose sha256 a deployment's git tag carries. */
  evidenceKey?: EvidenceKey;
  /** The Temporal UI the evidence links to. */
  temporalUiUrl?: string;
}

export function createActivities({ dataSource, policy, dataDir, evidenceKey, temporalUiUrl }: ActivityDependencies): GateActivities & DeployActivities & GitActivities {
  return {
    ...createGitActivities({
      dataDir: dataDir ?? path.resolve('.data'),
      evidenceKey,
      temporalUiUrl,
      keepEvidence: (record) => keepEvidence(dataSource, record),
    }),
    async recordAuditEvents(events) {
      await appendAuditEvents(dataSource, events);
    },

    async indexDeployment(view) {
      await dataSource.query(
        `INSERT INTO deployments (id, workflow_id, service, environment, status, tier, requested_by, artifact_digest, requested_at, version, view)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version, view = EXCLUDED.view
         WHERE deployments.version < EXCLUDED.version`,
        [view.id, view.workflowId, view.service, view.environment, view.status, view.tier, view.requestedBy,
          view.artifact.digest, view.requestedAt, view.version, JSON.stringify(view)],
      );
    },

    async deploy({ request, digest }) {
      const [done] = (await dataSource.query(
        `SELECT status, digest, output, finished_at FROM deploy_runs WHERE deployment_id = $1`,
        [request.id],
      )) as Array<{ status: string; digest: string; output: string | null; finished_at: Date | null }>;
      if (done?.status === 'succeeded') {
        // Already deployed by an earlier attempt whose completion never reached Temporal.
        return { ok: true, deployer: request.rule.deployer, digest: done.digest, at: new Date(done.finished_at ?? Date.now()).toISOString(), output: done.output ?? undefined };
      }
      const spec = policy().deployers[request.rule.deployer];
      if (!spec) {
        throw ApplicationFailure.nonRetryable(
          `deployer ${request.rule.deployer} is not in the configuration any more; add it back and re-request the deployment`,
          'UnknownDeployer',
        );
      }
      await dataSource.query(
        `INSERT INTO deploy_runs (deployment_id, status, digest, attempts, started_at) VALUES ($1, 'running', $2, 1, now())
         ON CONFLICT (deployment_id) DO UPDATE SET status = 'running', attempts = deploy_runs.attempts + 1, started_at = now(), error = NULL`,
        [request.id, digest],
      );
      const context = Context.current();
      try {
        const output = await runDeployer(spec, {
          request,
          digest,
          heartbeat: () => context.heartbeat(),
          signal: context.cancellationSignal,
        });
        const result: DeployResult = { ok: true, deployer: spec.name, digest, at: new Date().toISOString(), output };
        await dataSource.query(
          `UPDATE deploy_runs SET status = 'succeeded', output = $2, finished_at = $3 WHERE deployment_id = $1`,
          [request.id, output, result.at],
        );
        return result;
      } catch (err) {
        const message = (err as Error).message;
        await dataSource.query(
          `UPDATE deploy_runs SET status = 'failed', error = $2, output = $3, finished_at = now() WHERE deployment_id = $1`,
          [request.id, message, err instanceof DeployerFailure ? (err.output ?? null) : null],
        );
        throw ApplicationFailure.retryable(message, 'DeployFailed', err instanceof DeployerFailure ? err.output : undefined);
      }
    },
  };
}
