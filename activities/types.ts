// What the workflow asks of the outside world. The workflow imports these as types only.

import type { NotifyEvent } from '../policy/notify';
import type { FreezeCheck } from '../policy/freezes';
import type { DeploymentRequest, DeploymentView, DeployResult, GitTagResult } from '../policy/types';

export interface AuditEventInput {
  /** Unique and stable across retries: `<deployment id>:<sequence>`. */
  eventId: string;
  deploymentId: string;
  type: string;
  actor: string;
  at: string;
  outcome?: string;
  reason?: string;
  data: Record<string, unknown>;
}

/** One write of what changed in a deployment: audit events to append, and its index row when it changed. */
export interface RecordedChanges {
  /** In order; an event already in the trail is left as it is. */
  events: AuditEventInput[];
  /** The deployment's new snapshot for the listing index; absent when the row has not changed. */
  view?: DeploymentView;
}

export interface GateActivities {
  /**
   * Appends the events to the audit trail and upserts the index row, in one transaction, and
   * answers the changes it was given: run as a local activity, whose input Temporal does not
   * keep, the answer is what puts them in the workflow's history (database/reconcile.ts reads it).
   */
  recordChanges(changes: RecordedChanges): Promise<RecordedChanges>;
  /** Runs started before `recordChanges` existed: appends the events to the audit trail; an event already there is left as it is. */
  recordAuditEvents(events: AuditEventInput[]): Promise<void>;
  /** Runs started before `recordChanges` existed: upserts the deployment's row of the listing index; an older version never overwrites a newer one. */
  indexDeployment(view: DeploymentView): Promise<void>;
}

export interface DeployActivities {
  /**
   * Runs the rule's deployer for exactly `digest`, at least once: a run interrupted by a crash
   * runs again with the same idempotency key (the deployment id) and the next attempt number;
   * once a run is recorded as succeeded, none starts again.
   */
  deploy(input: { request: DeploymentRequest; digest: string }): Promise<DeployResult>;
}

export interface GitActivities {
  /**
   * Records a DEPLOYED request as an annotated tag on its commit in the rule's repository and
   * pushes it; an existing identical tag counts as done.
   */
  recordDeploymentTag(input: { request: DeploymentRequest; deployment: DeploymentView }): Promise<GitTagResult>;
}

/** One message: one event of one deployment on one channel. */
export interface NotifyInput {
  event: NotifyEvent;
  /** 0, or the reminder's number: with the event and the channel, it names the message. */
  sequence: number;
  channel: string;
  request: DeploymentRequest;
  /** The deployment as the gate saw it when the event happened. */
  deployment: DeploymentView;
}

export interface NotifyOutcome {
  key: string;
  /** `skipped`: nobody to send to, or the channel is gone from the configuration. */
  status: 'sent' | 'failed' | 'skipped';
  recipients?: number;
  error?: string;
}

export interface NotifyActivities {
  /**
   * Sends one message, at most once per key (`<deployment>.<event>.<sequence>.<channel>`): a
   * retry finds it sent and sends nothing. A channel that keeps failing is recorded as failed
   * and answered as `failed`, never thrown past the last attempt: the gate never waits on it.
   */
  notify(input: NotifyInput): Promise<NotifyOutcome>;
}

export interface CalendarActivities {
  /**
   * Is a deploy of the service to the environment frozen now, by the change calendar as the
   * configuration has it now (a freeze added after the request was made counts), until when and why.
   */
  checkFreeze(input: { service: string; environment: string }): Promise<FreezeCheck>;
  /**
   * For a request whose rule supersedes: sends every older PENDING request for the same service
   * and environment (names compared canonically) the `supersede` update, and names the newest
   * newer request whose rule supersedes, if one exists (then this one is stale itself).
   * Idempotent: an older request no longer PENDING turns the update away.
   */
  supersedeOlder(input: { id: string; service: string; environment: string; requestedAt: string }): Promise<{ cancelled: string[]; newer?: string }>;
}
