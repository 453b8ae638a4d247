// Activities: the workflow's only way to touch the database and the deploy targets. Each is
// thin and idempotent, so Temporal may retry any of them safely.

import { ApplicationFailure, Context } from '@temporalio/activity';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { appendAuditEvents } from '../database/audit-trail';
import { ChangeRecorder } from '../database/change-recorder';
import { DEPLOYER_FAILURES_ALLOWED, type DeployRunRow, deployRuns } from '../database/deploy-runs';
import { writeDeploymentView } from '../database/deployment-index';
import { keepEvidence } from '../database/evidence-records';
import type { Policy } from '../policy/config';
import type { DeployResult } from '../policy/types';
import type { EvidenceKey } from '../evidence/keys';
import { DeployerFailure, runDeployer } from './deployers';
import { createCalendarActivities } from './calendar';
import { createGitActivities } from './git';
import { createNotifyActivities } from './notify';
import type { CalendarActivities, DeployActivities, GateActivities, GitActivities, NotifyActivities } from './types';

export interface ActivityDependencies {
  dataSource: DataSource;
  /** The current policy, for deployer definitions (secrets stay out of workflow histories). */
  policy: () => Policy;
  /** The policy whose change calendar a deploy is checked against (default `policy`): the file as it is now. */
  calendarPolicy?: () => Policy;
  /** Where mirrors of remote git repositories are kept (default: `.data`). */
  dataDir?: string;
  /** Signs the evidence whose sha256 a deployment's git tag carries. */
  evidenceKey?: EvidenceKey;
  /** The Temporal UI the evidence links to. */
  temporalUiUrl?: string;
  /** The base of links in notifications (COUNTERSIGN_PUBLIC_URL). */
  publicBaseUrl?: string;
}

/** Well inside the deploy activity's heartbeat timeout (10 s in workflows/deployment.ts). */
const HEARTBEAT_EVERY_MS = 2_000;
/** One database call may hang on a half-open link; give up on it and try a fresh one. */
const DATABASE_CALL_TIMEOUT_MS = 15_000;

interface DeployCheckpoint {
  attempt?: number;
  result?: DeployResult;
}

function succeededResult(deployer: string, row: DeployRunRow): DeployResult {
  // Deployed by an earlier run whose completion never reached Temporal.
  return { ok: true, deployer, digest: row.digest, at: new Date(row.finishedAt ?? Date.now()).toISOString(), output: row.output ?? undefined };
}

/**
 * A database call around a deploy, tried until the database answers: an outage delays the
 * deploy's record, never its outcome, and never counts as a failure of the deployer. The
 * activity keeps heartbeating meanwhile; only a cancellation ends the wait.
 */
async function untilDatabase<T>(context: Context, what: string, query: () => Promise<T>): Promise<T> {
  for (let tries = 1, delayMs = 250; ; tries++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        query(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${DATABASE_CALL_TIMEOUT_MS / 1000} s`)), DATABASE_CALL_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      if (context.cancellationSignal.aborted) throw err;
      if (tries === 1 || tries % 10 === 0) {
        context.log.warn(`deploy: cannot ${what} yet (${(err as Error).message}); retrying until the database answers`, { tries });
      }
      await context.sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 5_000);
    } finally {
      clearTimeout(timer);
    }
  }
}

export function createActivities(
  { dataSource, policy, calendarPolicy, dataDir, evidenceKey, temporalUiUrl, publicBaseUrl }: ActivityDependencies,
): GateActivities & DeployActivities & GitActivities & NotifyActivities & CalendarActivities {
  // One per worker: the workflows' concurrent writes share its transactions.
  const recorder = new ChangeRecorder(dataSource);
  return {
    ...createNotifyActivities({ dataSource, policy, publicBaseUrl: publicBaseUrl ?? 'http://127.0.0.1:3000' }),
    ...createCalendarActivities({ dataSource, policy: calendarPolicy ?? policy }),
    ...createGitActivities({
      dataDir: dataDir ?? path.resolve('.data'),
      evidenceKey,
      temporalUiUrl,
      keepEvidence: (record) => keepEvidence(dataSource, record),
    }),
    async recordChanges(changes) {
      await recorder.record(changes);
      return changes;
    },

    async recordAuditEvents(events) {
      await appendAuditEvents(dataSource, events);
    },

    async indexDeployment(view) {
      await writeDeploymentView(dataSource, view);
    },

    async deploy({ request, digest }) {
      const context = Context.current();
      // What an earlier run of this activity got to, should its worker have died before the
      // database took it: the run number, and the deployer's result once it has one.
      const checkpoint: DeployCheckpoint = { ...(context.info.heartbeatDetails as DeployCheckpoint | undefined) };
      const beat = () => context.heartbeat(checkpoint);
      const ticker = setInterval(beat, HEARTBEAT_EVERY_MS);
      const database = <T>(what: string, query: () => Promise<T>) => untilDatabase(context, what, query);
      const runs = deployRuns(dataSource);
      const recordSucceeded = (attempt: number | undefined, result: DeployResult) =>
        database('record the deploy as succeeded', () => runs.succeeded(request.id, attempt, result));
      try {
        beat();
        if (checkpoint.result) {
          // The deployer finished in an earlier run; only its record (or its completion) was lost.
          await recordSucceeded(checkpoint.attempt, checkpoint.result);
          return checkpoint.result;
        }
        const spec = policy().deployers[request.rule.deployer];
        // No run starts before the database has said no run succeeded, and counted this one.
        const attempt = spec ? await database('record the start of a run', () => runs.start(request.id, digest)) : undefined;
        if (attempt === undefined) {
          // Not started: an earlier run succeeded, the deployer failed too often, or it is gone.
          const recorded = await database('read the deploy record', () => runs.read(request.id));
          if (recorded?.status === 'succeeded') return succeededResult(request.rule.deployer, recorded);
          if (recorded && recorded.failures >= DEPLOYER_FAILURES_ALLOWED) {
            throw ApplicationFailure.nonRetryable(recorded.error ?? 'the deployer failed', 'DeployFailed', recorded.output ?? undefined);
          }
          throw ApplicationFailure.nonRetryable(
            `deployer ${request.rule.deployer} is not in the configuration any more; add it back and re-request the deployment`,
            'UnknownDeployer',
          );
        }
        checkpoint.attempt = attempt;
        beat();

        let output: string;
        try {
          output = await runDeployer(spec, { request, digest, attempt, heartbeat: beat, signal: context.cancellationSignal });
        } catch (err) {
          // Interrupted, not failed: whoever cancelled this run will see to the next one.
          if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? err;
          const message = (err as Error).message;
          const failedOutput = err instanceof DeployerFailure ? (err.output ?? undefined) : undefined;
          // Conditional on this run still being the current one, so a retried write counts once.
          await database('record the failed run', () => runs.failed(request.id, attempt, message, failedOutput ?? null));
          const after = await database('read the deploy record', () => runs.read(request.id));
          if (after?.status === 'succeeded') return succeededResult(request.rule.deployer, after);
          const failures = after?.failures ?? 1;
          if (failures >= DEPLOYER_FAILURES_ALLOWED) throw ApplicationFailure.nonRetryable(message, 'DeployFailed', failedOutput);
          throw ApplicationFailure.retryable(message, 'DeployFailed', failedOutput);
        }
        const result: DeployResult = { ok: true, deployer: spec.name, digest, at: new Date().toISOString(), output };
        // The outcome is the deployer's: kept in the heartbeat at once, then in the database
        // whenever it answers. A database outage delays the deployment's outcome, never changes it.
        checkpoint.result = result;
        beat();
        await recordSucceeded(attempt, result);
        return result;
      } finally {
        clearInterval(ticker);
      }
    },
  };
}
