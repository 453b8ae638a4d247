// The worker: runs the deployment workflows and their activities on one task queue.

import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { DataSource } from 'typeorm';
import { createActivities } from '../activities';
import type { EvidenceKey } from '../evidence/keys';
import type { Policy } from '../policy/config';
import { DEFAULT_WORKER_MAX_CACHED_WORKFLOWS } from '../settings/settings';
import type { TemporalConnectionSettings } from '../settings/temporal-connection';
import { TASK_QUEUE } from '../workflows/definitions';
import { freshBuiltBundle, workflowsPath } from './bundle';

export interface WorkerDependencies {
  temporalAddress: string;
  /** TLS, mutual TLS or an API key; a plain connection without. */
  temporalConnection?: TemporalConnectionSettings;
  namespace: string;
  dataSource: DataSource;
  policy: () => Policy;
  /** The policy whose change calendar deploys are checked against (default `policy`). */
  calendarPolicy?: () => Policy;
  taskQueue?: string;
  /**
   * A prebuilt workflow bundle, to skip bundling at start-up; without it, the one `npm run build`
   * wrote (worker/bundle.ts) when it is fresh, else the workflow code is bundled here.
   */
  workflowBundlePath?: string;
  /** Deployments kept in memory between their tasks (COUNTERSIGN_WORKER_MAX_CACHED_WORKFLOWS). */
  maxCachedWorkflows?: number;
  /** Where mirrors of remote git repositories are kept. */
  dataDir?: string;
  /** Signs the evidence whose sha256 a deployment's git tag carries. */
  evidenceKey?: EvidenceKey;
  /** The Temporal UI the evidence links to. */
  temporalUiUrl?: string;
  /** The base of links in notifications (COUNTERSIGN_PUBLIC_URL, default the API's own URL). */
  publicBaseUrl?: string;
}

export { workflowsPath } from './bundle';


export async function createWorker(deps: WorkerDependencies): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({
    address: deps.temporalAddress,
    tls: deps.temporalConnection?.tls,
    apiKey: deps.temporalConnection?.apiKey,
    metadata: deps.temporalConnection?.metadata,
  });
  const bundle = deps.workflowBundlePath ?? freshBuiltBundle();
  const options: WorkerOptions = {
    connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue ?? TASK_QUEUE,
    activities: createActivities({
      dataSource: deps.dataSource,
      policy: deps.policy,
      calendarPolicy: deps.calendarPolicy,
      dataDir: deps.dataDir,
      evidenceKey: deps.evidenceKey,
      temporalUiUrl: deps.temporalUiUrl,
      publicBaseUrl: deps.publicBaseUrl,
    }),
    maxCachedWorkflows: deps.maxCachedWorkflows ?? DEFAULT_WORKER_MAX_CACHED_WORKFLOWS,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: workflowsPath() }),
  };
  return { worker: await Worker.create(options), connection };
}
