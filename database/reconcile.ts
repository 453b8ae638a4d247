// Temporal's history is the source of truth for what the gate saw. If the database missed
// writes (an outage, a restore from an older backup), the events are re-derived from each
// workflow's history and appended where missing; event ids make it safe to run any time.

import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { DataSource } from 'typeorm';
import type { AuditEventInput } from '../activities/types';
import type { DeploymentView } from '../policy/types';
import { workflowIdFor } from '../policy/types';
import { appendAuditEvents } from './audit-trail';

export interface ReconcileResult {
  deploymentId: string;
  eventsInHistory: number;
  eventsAdded: number;
  indexUpdated: boolean;
  error?: string;
}

/** Every audit event and the newest index snapshot the workflow asked to write, from its history. */
export async function writesInHistory(temporal: Client, deploymentId: string): Promise<{ events: AuditEventInput[]; view?: DeploymentView }> {
  const history = await temporal.workflow.getHandle(workflowIdFor(deploymentId)).fetchHistory();
  const events = new Map<string, AuditEventInput>();
  let view: DeploymentView | undefined;
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.activityType?.name) continue;
    const [argument] = (scheduled.input?.payloads ?? []).map((payload) => defaultPayloadConverter.fromPayload(payload));
    if (scheduled.activityType.name === 'recordAuditEvents') {
      for (const audit of argument as AuditEventInput[]) events.set(audit.eventId, audit);
    } else if (scheduled.activityType.name === 'indexDeployment') {
      const candidate = argument as DeploymentView;
      if (!view || candidate.version > view.version) view = candidate;
    }
  }
  // Events are numbered per deployment; append them in that order so the chain reads naturally.
  const ordered = [...events.values()].sort((a, b) => sequenceOf(a) - sequenceOf(b));
  return { events: ordered, view };
}

function sequenceOf(event: AuditEventInput): number {
  return Number(event.eventId.split(':').pop());
}

export async function reconcileDeployment(db: DataSource, temporal: Client, deploymentId: string): Promise<ReconcileResult> {
  const { events, view } = await writesInHistory(temporal, deploymentId);
  const eventsAdded = await appendAuditEvents(db, events);
  let indexUpdated = false;
  if (view) {
    const [, affected] = (await db.query(
      `UPDATE deployments SET status = $2, version = $3, view = $4 WHERE id = $1 AND version < $3`,
      [view.id, view.status, view.version, JSON.stringify(view)],
    )) as [unknown[], number];
    indexUpdated = affected > 0;
  }
  return { deploymentId, eventsInHistory: events.length, eventsAdded, indexUpdated };
}

/** Reconciles every deployment the index knows, or those requested since a time. */
export async function reconcileAll(db: DataSource, temporal: Client, options: { since?: Date } = {}): Promise<ReconcileResult[]> {
  const rows = (await db.query(
    `SELECT id FROM deployments ${options.since ? 'WHERE requested_at >= $1' : ''} ORDER BY requested_at`,
    options.since ? [options.since.toISOString()] : [],
  )) as Array<{ id: string }>;
  const results: ReconcileResult[] = [];
  for (const { id } of rows) {
    try {
      results.push(await reconcileDeployment(db, temporal, id));
    } catch (err) {
      // A history past its retention is gone; what the database has is then all there is.
      results.push({ deploymentId: id, eventsInHistory: 0, eventsAdded: 0, indexUpdated: false, error: (err as Error).message });
    }
  }
  return results;
}
