// Temporal's history is the source of truth for what the gate saw. If the database missed
// writes (an outage, a restore from an older backup), the events are re-derived from each
// workflow's history (every run of it, open or closed) and appended where missing; event ids
// make it safe to run any time.

import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, WorkflowNotFoundError } from '@temporalio/common';
import type { DataSource } from 'typeorm';
import type { AuditEventInput, RecordedChanges } from '../activities/types';
import type { DeploymentRequest, DeploymentView } from '../policy/types';
import { workflowIdFor } from '../policy/types';
import { type PendingWrites, pendingWritesQuery, requestedEvent } from '../workflows/definitions';
import { appendAuditEvents } from './audit-trail';
import { DeploymentIndex, writeDeploymentView } from './deployment-index';

export interface ReconcileResult {
  deploymentId: string;
  /** How many runs of the workflow were read (a workflow that continued as new has several). */
  runs?: number;
  /** Events found in the histories, and for an open workflow those it holds unwritten. */
  eventsInHistory: number;
  eventsAdded: number;
  indexUpdated: boolean;
  error?: string;
}

/** The deployment has no workflow (never requested, or its history is past retention). */
export class NoWorkflowHistory extends Error {
  constructor(readonly deploymentId: string, cause?: unknown) {
    super(`deployment ${deploymentId} has no workflow history to reconcile from`, { cause });
  }
}

type WorkflowHistory = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

// Each call to Temporal is bounded: an unreachable server is an error, not a hang.
const TEMPORAL_DEADLINE_MS = 10_000;
const PENDING_QUERY_DEADLINE_MS = 5_000;

/**
 * The history of every run of the deployment's workflow, oldest first: the current run, then
 * back through each run it continued as new from. Open workflows are read as far as they are.
 */
export async function historiesOf(temporal: Client, deploymentId: string): Promise<{ histories: WorkflowHistory[]; open: boolean }> {
  const workflowId = workflowIdFor(deploymentId);
  const within = <T>(call: () => Promise<T>) => temporal.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, call);
  let runId: string | undefined;
  let open = false;
  try {
    const description = await within(() => temporal.workflow.getHandle(workflowId).describe());
    runId = description.runId;
    open = description.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NoWorkflowHistory(deploymentId, err);
    throw err;
  }
  const histories: WorkflowHistory[] = [];
  const seen = new Set<string>();
  while (runId && !seen.has(runId)) {
    seen.add(runId);
    const run: string = runId;
    const history: WorkflowHistory = await within(() => temporal.workflow.getHandle(workflowId, run).fetchHistory());
    histories.unshift(history);
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return { histories, open };
}

/**
 * What an open workflow holds but could not write yet: its write-behind sends one batch at a
 * time, so while a write fails, later events wait in the workflow, not in its history. Read
 * through a query (answered by a worker); undefined with the reason when it cannot be read.
 */
async function pendingWrites(temporal: Client, deploymentId: string): Promise<{ writes?: PendingWrites; unread?: string }> {
  try {
    const writes = await temporal.withDeadline(Date.now() + PENDING_QUERY_DEADLINE_MS, () =>
      temporal.workflow.getHandle(workflowIdFor(deploymentId)).query(pendingWritesQuery));
    return { writes };
  } catch (err) {
    return { unread: `the events the open workflow holds unwritten could not be read (${(err as Error).message}); reconcile again once a worker runs` };
  }
}

/** Every audit event and the newest index snapshot the workflow asked to write, from its history (every run). */
export async function writesInHistory(temporal: Client, deploymentId: string): Promise<{ events: AuditEventInput[]; view?: DeploymentView; runs: number; unread?: string }> {
  const { histories, open } = await historiesOf(temporal, deploymentId);
  const events = new Map<string, AuditEventInput>();
  let view: DeploymentView | undefined;
  const indexed = (candidate: DeploymentView | undefined) => {
    if (candidate && (!view || candidate.version > view.version)) view = candidate;
  };
  const recorded = (changes: RecordedChanges) => {
    for (const audit of changes.events) events.set(audit.eventId, audit);
    indexed(changes.view);
  };
  // The request's own event, where the API wrote it (the workflow then does not): from the input
  // the first run started with.
  const started = histories[0]?.events?.[0]?.workflowExecutionStartedEventAttributes;
  const [request] = (started?.input?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload<DeploymentRequest>(payload));
  if (request?.requestRecorded) events.set(`${request.id}:1`, requestedEvent(request));
  for (const event of histories.flatMap((history) => history.events ?? [])) {
    const written = localActivityResult(event, 'recordChanges');
    if (written) recorded(written as RecordedChanges);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.activityType?.name) continue;
    const [argument] = (scheduled.input?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload(payload));
    if (scheduled.activityType.name === 'recordChanges') {
      // The write after a failed local attempt: its input is in history.
      recorded(argument as RecordedChanges);
    } else if (scheduled.activityType.name === 'recordAuditEvents') {
      // Runs from before one write per change: two activities, the events and the snapshot.
      for (const audit of argument as AuditEventInput[]) events.set(audit.eventId, audit);
    } else if (scheduled.activityType.name === 'indexDeployment') {
      indexed(argument as DeploymentView);
    }
  }
  let unread: string | undefined;
  if (open) {
    const pending = await pendingWrites(temporal, deploymentId);
    unread = pending.unread;
    for (const audit of pending.writes?.events ?? []) events.set(audit.eventId, audit);
    const candidate = pending.writes?.view;
    if (candidate && (!view || candidate.version > view.version)) view = candidate;
  }
  // Events are numbered per deployment; append them in that order so the chain reads naturally.
  const ordered = [...events.values()].sort((a, b) => sequenceOf(a) - sequenceOf(b));
  return { events: ordered, view, runs: histories.length, unread };
}

type HistoryEvent = NonNullable<WorkflowHistory['events']>[number];

/**
 * What a completed local activity of this type answered, from its marker: Temporal keeps a
 * local activity's answer (`details.result`) and its type (`details.data`), not its input.
 * `recordChanges` answers the changes it wrote, so they are in history all the same.
 */
function localActivityResult(event: HistoryEvent, activityType: string): unknown {
  const marker = event.markerRecordedEventAttributes;
  if (marker?.markerName !== 'core_local_activity' || marker.failure) return undefined;
  const [data] = marker.details?.data?.payloads ?? [];
  const [result] = marker.details?.result?.payloads ?? [];
  if (!data || !result) return undefined;
  const described = defaultPayloadConverter.fromPayload<{ activity_type?: string }>(data);
  return described?.activity_type === activityType ? defaultPayloadConverter.fromPayload(result) : undefined;
}

function sequenceOf(event: AuditEventInput): number {
  return Number(event.eventId.split(':').pop());
}

export async function reconcileDeployment(db: DataSource, temporal: Client, deploymentId: string): Promise<ReconcileResult> {
  const { events, view, runs, unread } = await writesInHistory(temporal, deploymentId);
  const eventsAdded = await appendAuditEvents(db, events);
  const indexUpdated = view ? await writeDeploymentView(db, view) : false;
  return { deploymentId, runs, eventsInHistory: events.length, eventsAdded, indexUpdated, ...(unread ? { error: unread } : {}) };
}

/**
 * Reconciles every deployment the index knows, or those requested since a time. A deployment
 * without a history is reported and skipped; an unreachable database or Temporal stops it all.
 */
export async function reconcileAll(db: DataSource, temporal: Client, options: { since?: Date } = {}): Promise<ReconcileResult[]> {
  const ids = await new DeploymentIndex(db).ids(options);
  const results: ReconcileResult[] = [];
  for (const id of ids) {
    try {
      results.push(await reconcileDeployment(db, temporal, id));
    } catch (err) {
      if (!(err instanceof NoWorkflowHistory)) throw err;
      // A history past its retention is gone; what the database has is then all there is.
      results.push({ deploymentId: id, eventsInHistory: 0, eventsAdded: 0, indexUpdated: false, error: err.message });
    }
  }
  return results;
}
