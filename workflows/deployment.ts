// One deployment request: wait for the gate, then deploy exactly the approved digest.
//
// In order: a request whose rule supersedes first cancels older PENDING ones for its service and
// environment; approvers are told, reminded and escalated to on durable timers (notifications.ts)
// while the gate waits for a quorum, a rejection, a cancel or the expiry; an approved deploy
// waits out any freeze the change calendar has at that moment; then the deployer runs.
//
// Every answer an approver gives arrives as an update and is recorded in this workflow's
// history, accepted or refused, so the history alone explains the decision. Writes to the
// audit table and the listing index run from a background loop, never inside an update: each
// change is written once, in the same workflow task (a local activity, so an answer waits for
// it, at most a second), and a database that does not take it at once hands the write to an
// ordinary activity retried until it does, while the gate goes on answering.
//
// Nothing a caller does can grow this workflow without bound: it keeps a count of refused
// attempts and the latest few whole (the audit trail has every one), a principal refused too
// often is no longer heard (an update validator turns the attempt away before it reaches
// history), and a long wait hands the gate over to a fresh run (continue-as-new) well before
// Temporal's history limits.

import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AuditEventInput, CalendarActivities, DeployActivities, GateActivities, GitActivities, RecordedChanges } from '../activities/types';
import type { FreezeCheck } from '../policy/freezes';
import {
  approvedDigest,
  checkApproval,
  checkCancel,
  checkFreezeOverride,
  checkOverride,
  checkRejection,
  checkReview,
  isExpired,
  missingGroups,
  quorumMet,
  type Verdict,
} from '../policy/gate';
import {
  CALENDAR_CLEAR_MS,
  type Approval,
  type CarriedState,
  type Decision,
  type DeploymentRequest,
  type DeploymentStatus,
  type DeploymentView,
  type DeployResult,
  type FreezeHold,
  type GateAnswer,
  type GitTagResult,
  type Override,
  type OverrideInput,
  type RefusedAttempt,
} from '../policy/types';
import { RefusalLog, TOO_MANY_REFUSALS, tooManyRefusalsDetail } from '../policy/refusals';
import { deploymentView } from '../policy/view';
import {
  approveUpdate,
  cancelUpdate,
  deploymentQuery,
  overrideUpdate,
  pendingWritesQuery,
  rejectUpdate,
  requestedEvent,
  reviewUpdate,
  SearchKeys,
  supersedeUpdate,
} from './definitions';
import { notifyApprovers, type NotifyCarried } from './notifications';

const RECORD_OPTIONS = {
  startToCloseTimeout: '30 seconds',
  // The trail must be complete: keep trying through a database outage, and catch up within
  // seconds of its end.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const;
const records = proxyActivities<GateActivities>(RECORD_OPTIONS);

/**
 * A change is first written by a local activity: in the worker, in the workflow task that made
 * the change, with no round trip through Temporal. One attempt, briefly bounded, since the
 * task (and any answer it carries) is not completed while it runs; if the database does not
 * take it at once, the same write goes to an ordinary activity, retried by Temporal for as long
 * as it takes, while the gate goes on answering.
 */
const WRITE_NOW_OPTIONS = {
  startToCloseTimeout: '1 second',
  retry: { maximumAttempts: 1 },
} as const;
const writeNow = proxyLocalActivities<GateActivities>(WRITE_NOW_OPTIONS);

// At least once: a run interrupted by a crash is found by the heartbeat timeout and runs again
// within about 15 s. The activity waits out database outages itself and ends the retries with a
// non-retryable DeployFailed once the deployer has failed three runs; anything else (a lost
// worker, a timeout) is retried without limit.
const DEPLOY_OPTIONS = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const;
const deployer = proxyActivities<DeployActivities>(DEPLOY_OPTIONS);

const GIT_OPTIONS = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 5 },
} as const;
const git = proxyActivities<GitActivities>(GIT_OPTIONS);

// The change calendar and stale requests: reads of the configuration and the listing index,
// retried until they answer.
const CALENDAR_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const;
// The supersede step waits for each older request's gate to answer: heartbeats, and time for many.
const SUPERSEDE_OPTIONS = { ...CALENDAR_OPTIONS, startToCloseTimeout: '10 minutes', heartbeatTimeout: '30 seconds' } as const;
const calendar = proxyActivities<CalendarActivities>(SUPERSEDE_OPTIONS);
// Reading the calendar is a look at the worker's configuration in memory: a local activity, in
// the workflow task that needs it, with nothing through Temporal's activity queue.
const CALENDAR_NOW_OPTIONS = {
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
} as const;
const calendarNow = proxyLocalActivities<CalendarActivities>(CALENDAR_NOW_OPTIONS);
/** A held deploy reads the calendar again at least this often: a freeze shortened or lifted releases it promptly. */
const FREEZE_RECHECK_MS = 60_000;

/**
 * A waiting run hands over to a fresh one when Temporal suggests it, or at the latest past these
 * (Temporal terminates a workflow at 51,200 events or 50 MB of history).
 */
const HAND_OVER_AT_EVENTS = 10_000;
const HAND_OVER_AT_BYTES = 10 * 1024 * 1024;
/**
 * A run hands over once the trail has caught up; if answers keep arriving so that it never
 * does, it hands over anyway when its history has doubled since the hand-over came due, taking
 * the events not yet written with it, as long as they are few enough to carry.
 */
const CARRY_UNWRITTEN_UP_TO_BYTES = 512 * 1024;
/** Audit events written per activity call: a backlog after an outage goes in bounded batches. */
const AUDIT_BATCH = 100;

/** What a run hands to the next: the gate's state, and what the trail and the index still lack. */
export interface HandOver extends CarriedState {
  unwritten?: AuditEventInput[];
  indexStale?: boolean;
  /** What the notification schedule has sent (workflows/notifications.ts); absent when it notifies nobody. */
  notify?: NotifyCarried;
}

/**
 * `carried` is absent when a deployment is requested; a run that continues as new passes the
 * gate's state to the next run in it.
 */
export async function deploymentWorkflow(request: DeploymentRequest, carried?: HandOver): Promise<DeploymentView> {
  let status = (carried?.status ?? 'PENDING') as DeploymentStatus;
  const approvals: Approval[] = [...(carried?.approvals ?? [])];
  const refusals = new RefusalLog(carried?.refusals);
  let decision: Decision | undefined = carried?.decision;
  let deploy: DeployResult | undefined = carried?.deploy;
  let override: Override | undefined = carried?.override;
  let gitTag: GitTagResult | undefined = carried?.gitTag;
  let freeze: FreezeHold | undefined = carried?.freeze;
  let supersededBy: string | undefined = carried?.supersededBy;
  let supersedeChecked = carried?.supersedeChecked ?? false;
  let version = carried?.version ?? 0;
  const run = carried?.run ?? 1;
  // Every patch a run checks costs its history a marker: a run started since `calendar-with-answer`
  // checks that one alone, and has every change patched in before it. Older runs replay as they
  // were recorded, each earlier patch checked where it always was.
  const calendarWithAnswer = patched('calendar-with-answer');
  const requestRecordedPatch = calendarWithAnswer || patched('request-recorded');
  const fewerEvents = requestRecordedPatch || patched('fewer-history-events');
  // Runs started before the hand-over existed replay without it (their histories have no marker).
  const mayHandOver = carried !== undefined || fewerEvents || patched('hand-over-before-history-limit');
  // Runs started before one write per change replay with their two activities per change.
  const oneWritePerChange = fewerEvents || patched('one-write-per-change');

  const now = () => new Date(Date.now()).toISOString();
  const view = (): DeploymentView =>
    deploymentView(request, workflowInfo().workflowId, {
      status, approvals, refused: refusals.recent, refusedCount: refusals.count, decision, deploy, override, gitTag, freeze, supersededBy, version,
    });

  // --- the audit trail and the listing index, written behind the gate ---
  const unwritten: AuditEventInput[] = [...(carried?.unwritten ?? [])];
  // A request the API recorded (its event 1 and its index row) starts with nothing to write. Not
  // on a run from before the patch: a worker that did not know the flag wrote the event itself.
  const recordedByApi = carried === undefined && request.requestRecorded === true && requestRecordedPatch;
  let sequence = carried?.auditSequence ?? (recordedByApi ? 1 : 0);
  let indexStale = carried === undefined ? !recordedByApi : carried.indexStale === true;
  let writing = false;
  const allWritten = () => unwritten.length === 0 && !indexStale && !writing;
  let handOverForced = false;
  /**
   * From the quorum to the deploy's start (or the freeze that holds it): the approval, the
   * decision and `deploy.started` are written in one write, and the search attributes upserted
   * once, instead of each on its own (runs since `fewer-history-events`, and every later patch).
   */
  let settling = false;
  /** A quorum reached during the supersede step is written at once: the deploy waits for that step. */
  let superseding = false;
  /**
   * The calendar as the API read it with the approval that met the quorum: no freeze anywhere
   * until this instant (ApprovalInput.calendarClearUntil). Before then the deploy needs no
   * reading of its own, and the approver's answer waits on one local activity fewer (runs since
   * `calendar-with-answer`).
   */
  let calendarClearUntil: string | undefined;

  function audit(event: Omit<AuditEventInput, 'eventId' | 'deploymentId' | 'at'>): void {
    sequence += 1;
    unwritten.push({ eventId: `${request.id}:${sequence}`, deploymentId: request.id, at: now(), ...event });
  }

  function changed(): void {
    version += 1;
    indexStale = true;
    publish();
  }

  /** The search attributes and the UI's summary of the gate, for the Temporal UI's live view. */
  function publish(): void {
    setCurrentDetails(describeGate());
    if (settling) return;
    const approvers = approvals.map((approval) => approval.approver);
    // Each upsert is an event, and a write to Temporal's visibility store: none that changes nothing.
    if (fewerEvents && searchAttributesSay(status, approvers)) return;
    upsertSearchAttributes([
      { key: SearchKeys.status, value: status },
      { key: SearchKeys.approvers, value: approvers },
    ]);
  }

  function searchAttributesSay(wantedStatus: string, approvers: string[]): boolean {
    const attributes = workflowInfo().typedSearchAttributes;
    const upserted = attributes.get(SearchKeys.approvers) ?? [];
    return attributes.get(SearchKeys.status) === wantedStatus && upserted.length === approvers.length && upserted.every((id, i) => id === approvers[i]);
  }

  /** The quorum's consequences are settled (deploying, held by a freeze, or ended): write and publish them. */
  function settled(): void {
    if (!settling) return;
    settling = false;
    publish();
  }

  function describeGate(): string {
    const needed = request.rule.approvals - approvals.length;
    const groups = missingGroups(request.rule, approvals);
    const lines = [
      `**${status}**: ${request.service} to ${request.environment}, ${request.artifact.name}@${request.artifact.digest}`,
      `Tier ${request.rule.tier}: ${approvals.length} of ${request.rule.approvals} approvals` +
        (status === 'PENDING' && needed > 0 ? `, ${needed} more needed` : '') +
        (groups.length ? `; still needs a member of ${groups.join(', ')}` : ''),
      `Approved by: ${approvals.map((approval) => approval.approver).join(', ') || 'nobody yet'}`,
      `Expires: ${request.expiresAt}`,
    ];
    if (decision) lines.push(`Decision: ${decision.reason}`);
    if (freeze) lines.push(describeFreeze(freeze, request.expiresAt));
    if (supersededBy) lines.push(`**Superseded** by newer deployment ${supersededBy} of ${request.service} to ${request.environment}`);
    if (override) {
      lines.push(
        `**Overridden** by ${override.by}: ${override.reason}. Review ` +
          (override.review ? `done by ${override.review.by}` : override.reviewOverdue ? `OVERDUE since ${override.reviewDueBy}` : `due by ${override.reviewDueBy}`),
      );
    }
    return lines.join('\n\n');
  }

  async function writeBehind(): Promise<void> {
    for (;;) {
      // (No new write once a hand-over is forced: the next run takes what is unwritten.)
      await condition(() => (unwritten.length > 0 || indexStale) && !handOverForced && !settling);
      writing = true;
      if (oneWritePerChange) {
        const batch = unwritten.slice(0, AUDIT_BATCH);
        const changes: RecordedChanges = indexStale ? { events: batch, view: view() } : { events: batch };
        indexStale = false;
        await recordChanges(changes);
        unwritten.splice(0, batch.length);
        writing = false;
        continue;
      }
      if (unwritten.length > 0) {
        const batch = unwritten.length > AUDIT_BATCH && patched('bounded-audit-batches') ? unwritten.slice(0, AUDIT_BATCH) : unwritten.slice();
        await records.recordAuditEvents.executeWithOptions(
          { ...RECORD_OPTIONS, summary: `audit: ${batch.map((event) => `${event.type} by ${event.actor}`).join(', ')}`.slice(0, 200) },
          [batch],
        );
        unwritten.splice(0, batch.length);
      }
      if (indexStale) {
        indexStale = false;
        const snapshot = view();
        await records.indexDeployment.executeWithOptions(
          { ...RECORD_OPTIONS, summary: `index: ${snapshot.status}, ${snapshot.approvals.length} of ${snapshot.requiredApprovals} approvals` },
          [snapshot],
        );
      }
      writing = false;
    }
  }

  /**
   * The events and the index row in one transaction: at once, as a local activity whose answer
   * (the changes) is its marker in history; else as an activity, whose input is in history.
   */
  async function recordChanges(changes: RecordedChanges): Promise<void> {
    try {
      await writeNow.recordChanges(changes);
    } catch {
      const what = [
        ...changes.events.map((event) => `${event.type} by ${event.actor}`),
        ...(changes.view ? [`index ${changes.view.status}`] : []),
      ];
      await records.recordChanges.executeWithOptions({ ...RECORD_OPTIONS, summary: `record: ${what.join(', ')}`.slice(0, 200) }, [changes]);
    }
  }

  function decide(next: DeploymentStatus, reason: string, by?: string): void {
    // An approval is written together with what it leads to: the deploy's start, or the freeze's hold.
    if (next === 'APPROVED' && fewerEvents && !superseding) settling = true;
    status = next;
    decision = { status: next, at: now(), by, reason };
    audit({ type: 'deployment.decided', actor: by ?? 'countersign', outcome: next, reason, data: { decision } });
    changed();
  }

  function refusal(kind: RefusedAttempt['kind'], actor: string, verdict: Verdict & { ok: false }, digest?: string): GateAnswer {
    refusals.record({ kind, actor, at: now(), reason: verdict.reason, detail: verdict.detail, digest });
    audit({ type: `${kind}.refused`, actor, outcome: 'refused', reason: verdict.reason, data: { detail: verdict.detail, digest } });
    version += 1;
    indexStale = true;
    return { outcome: 'refused', reason: verdict.reason, detail: verdict.detail, deployment: view() };
  }

  /**
   * An update validator: a principal refused too often on this deployment is not heard again
   * unless the gate would accept the answer. The attempt is turned away before it is accepted
   * into history; the API answers it 429 and records it in the audit trail.
   */
  function heard(actor: string, verdict: Verdict): void {
    if (verdict.ok || !refusals.limitReached(actor)) return;
    throw ApplicationFailure.create({
      type: TOO_MANY_REFUSALS,
      message: tooManyRefusalsDetail(actor, refusals.refusedTimes(actor), request.id),
      details: [{ actor, refused: refusals.refusedTimes(actor), reason: verdict.reason }],
      nonRetryable: true,
    });
  }

  /** The request's event, where the API did not write it: as the API's, numbered and timed here. */
  function requested(): void {
    const { type, actor, outcome, data } = requestedEvent(request);
    audit({ type, actor, outcome, data });
    changed();
  }

  // The request is the trail's first event of a deployment, before any answer: an answer sent
  // as the workflow starts is handled as its handler is set, just below. The API has written it
  // already, where it says so; runs started before one write per change record it after them.
  const requestRecordedFirst = carried === undefined && oneWritePerChange;
  if (requestRecordedFirst && !recordedByApi) requested();
  else if (recordedByApi) publish();

  // --- the approvers' answers ---
  setHandler(deploymentQuery, view);
  setHandler(pendingWritesQuery, () => ({ events: unwritten.slice(), view: view() }));

  setHandler(approveUpdate, ({ approver, digest, comment, calendarClearUntil: clearUntil }): GateAnswer => {
    const verdict = checkApproval(request, { status, approvals }, approver, digest, Date.now());
    if (!verdict.ok) return refusal('approval', approver.id, verdict, digest);
    const approval: Approval = { approver: approver.id, at: now(), digest, comment, groups: approver.groups };
    approvals.push(approval);
    audit({ type: 'approval.accepted', actor: approver.id, outcome: 'accepted', data: { approval } });
    if (quorumMet(request.rule, approvals)) {
      if (calendarWithAnswer && typeof clearUntil === 'string') calendarClearUntil = clearUntil;
      decide('APPROVED', `approved by ${approvals.map((a) => a.approver).join(', ')} under tier ${request.rule.tier}`);
    } else {
      changed();
    }
    return { outcome: 'accepted', deployment: view() };
  }, {
    validator: ({ approver, digest }) => heard(approver.id, checkApproval(request, { status, approvals }, approver, digest, Date.now())),
  });

  setHandler(rejectUpdate, ({ approver, comment }): GateAnswer => {
    const verdict = checkRejection(request, { status, approvals }, approver, Date.now());
    if (!verdict.ok) return refusal('rejection', approver.id, verdict);
    decide('REJECTED', `rejected by ${approver.id}${comment ? `: ${comment}` : ''}`, approver.id);
    return { outcome: 'accepted', deployment: view() };
  }, {
    validator: ({ approver }) => heard(approver.id, checkRejection(request, { status, approvals }, approver, Date.now())),
  });

  setHandler(cancelUpdate, ({ actor, reason }): GateAnswer => {
    const held = heldByFreeze();
    const verdict = checkCancel(request, { status, approvals }, actor, held);
    if (!verdict.ok) return refusal('cancel', actor.id, verdict);
    if (held) releaseFreeze('cancelled', actor.id);
    decide('CANCELLED', `cancelled by ${actor.id}${reason ? `: ${reason}` : ''}${held ? ' (while held by a freeze)' : ''}`, actor.id);
    return { outcome: 'accepted', deployment: view() };
  }, {
    validator: ({ actor }) => heard(actor.id, checkCancel(request, { status, approvals }, actor, heldByFreeze())),
  });

  // Countersign's own answer: a newer request for the same service and environment made this one
  // stale. Turned away before it reaches history unless this request is still PENDING.
  setHandler(supersedeUpdate, ({ by }): GateAnswer => {
    supersede(by);
    return { outcome: 'accepted', deployment: view() };
  }, {
    validator: ({ by }) => {
      if (status !== 'PENDING' || typeof by !== 'string' || by === request.id || by.length > 200) {
        throw ApplicationFailure.create({ type: 'NOT_PENDING', message: `deployment ${request.id} is ${status}; only a PENDING request is superseded`, nonRetryable: true });
      }
    },
  });

  setHandler(overrideUpdate, ({ actor, reason, passFreeze }): GateAnswer => {
    if (heldByFreeze()) return overrideFreeze(actor, reason);
    const verdict = checkOverride(request, { status, approvals }, actor, Date.now());
    if (!verdict.ok) return refusal('override', actor.id, verdict);
    override = {
      by: actor.id,
      at: now(),
      reason,
      approvalsAtOverride: approvals.length,
      reviewDueBy: new Date(Date.now() + request.rule.expiresAfterMs).toISOString(),
      reviewOverdue: false,
      ...(passFreeze === true ? { passFreeze: true } : {}),
    };
    audit({ type: 'deployment.overridden', actor: actor.id, outcome: 'APPROVED', reason, data: { override } });
    decide(
      'APPROVED',
      `OVERRIDDEN by ${actor.id} with ${approvals.length} of ${request.rule.approvals} approvals: ${reason}`,
      actor.id,
    );
    return { outcome: 'accepted', deployment: view() };
  }, {
    validator: ({ actor }) =>
      heard(actor.id, heldByFreeze() ? checkFreezeOverride(request, actor) : checkOverride(request, { status, approvals }, actor, Date.now())),
  });

  setHandler(reviewUpdate, ({ approver, comment }): GateAnswer => {
    const verdict = checkReview(request, override, approver);
    if (!verdict.ok || !override) return refusal('review', approver.id, verdict as Verdict & { ok: false });
    const late = Date.now() > Date.parse(override.reviewDueBy);
    override = { ...override, review: { by: approver.id, at: now(), comment, late } };
    audit({ type: 'override.reviewed', actor: approver.id, outcome: late ? 'late' : 'in-time', data: { review: override.review } });
    changed();
    return { outcome: 'accepted', deployment: view() };
  }, {
    validator: ({ approver }) => heard(approver.id, checkReview(request, override, approver)),
  });

  // --- stale requests and the change calendar ---
  async function supersedeOlder(): Promise<void> {
    const found = await calendar.supersedeOlder.executeWithOptions(
      { ...SUPERSEDE_OPTIONS, summary: `supersede older PENDING requests of ${request.service} to ${request.environment}`.slice(0, 200) },
      [{ id: request.id, service: request.service, environment: request.environment, requestedAt: request.requestedAt }],
    );
    supersedeChecked = true;
    // A newer request already exists (its own step ran before this one's row was there): this one is stale.
    if (found.newer !== undefined && status === 'PENDING') supersede(found.newer);
  }

  function supersede(by: string): void {
    supersededBy = by;
    audit({ type: 'deployment.superseded', actor: 'countersign', outcome: 'CANCELLED', reason: `superseded by deployment ${by}`, data: { supersededBy: by } });
    decide('CANCELLED', `superseded by newer deployment ${by} of ${request.service} to ${request.environment}`);
  }

  function heldByFreeze(): boolean {
    return status === 'APPROVED' && freeze?.frozen === true;
  }

  /**
   * Holds an approved deploy while the change calendar freezes its service and environment:
   * until the freeze ends (read again at its end, and at least every FREEZE_RECHECK_MS, so a
   * freeze added, lengthened or shortened meanwhile counts), the request expires (EXPIRED,
   * nothing deployed), it is cancelled, or an admin's break-glass override passes the freeze.
   */
  async function waitOutFreezes(): Promise<void> {
    for (;;) {
      const check = await readCalendar();
      if (status !== 'APPROVED') return;
      if (!check.frozen) {
        if (freeze?.frozen) releaseFreeze('ended', 'countersign');
        return;
      }
      if (override?.passFreeze) {
        passFreeze(check, { by: override.by, at: override.at, reason: override.reason });
        return;
      }
      holdForFreeze(check);
      settled();
      if (isExpired(request.expiresAt, Date.now())) return expireWhileHeld();
      const wake = Math.min(Date.parse(check.until), Date.parse(request.expiresAt), Date.now() + FREEZE_RECHECK_MS);
      const woken = await condition(() => !heldByFreeze() || readyToHandOver(), Math.max(1, wake - Date.now()));
      if (!heldByFreeze()) return; // passed by an override, or cancelled
      if (woken) await handOver();
      if (isExpired(request.expiresAt, Date.now())) return expireWhileHeld();
    }
  }

  /**
   * The calendar for this request's service and environment now: as the API read it, while that
   * holds (and no further ahead than a reading can hold); else read here.
   */
  async function readCalendar(): Promise<FreezeCheck> {
    const clearUntil = Date.parse(calendarClearUntil ?? '');
    calendarClearUntil = undefined;
    if (Date.now() < clearUntil && clearUntil <= Date.now() + CALENDAR_CLEAR_MS) return { frozen: false };
    return calendarNow.checkFreeze({ service: request.service, environment: request.environment });
  }

  function holdForFreeze(check: FreezeCheck & { frozen: true }): void {
    const same = freeze?.frozen && freeze.until === check.until && freeze.reason === check.reason && freeze.windows.join() === check.windows.join();
    if (same) return;
    const first = !freeze?.frozen;
    freeze = { frozen: true, reason: check.reason, until: check.until, windows: check.windows, heldSince: first ? now() : freeze!.heldSince };
    audit({
      type: first ? 'deploy.held' : 'deploy.hold.changed',
      actor: 'countersign',
      outcome: 'held',
      reason: `frozen by ${check.windows.join(', ')} until ${check.until}: ${check.reason}`,
      data: { freeze },
    });
    changed();
  }

  function releaseFreeze(released: NonNullable<FreezeHold['released']>, actor: string, passedBy?: FreezeHold['passedBy']): void {
    if (!freeze) return;
    freeze = { ...freeze, frozen: false, releasedAt: now(), released, ...(passedBy ? { passedBy } : {}) };
    audit({ type: 'deploy.released', actor, outcome: released, reason: passedBy ? `freeze passed by ${passedBy.by}: ${passedBy.reason}` : `freeze ${released}`, data: { freeze } });
    changed();
  }

  /** An override given with `passFreeze` meets a freeze: the deploy goes ahead, on record as such. */
  function passFreeze(check: FreezeCheck & { frozen: true }, passedBy: NonNullable<FreezeHold['passedBy']>): void {
    freeze = { frozen: true, reason: check.reason, until: check.until, windows: check.windows, heldSince: now() };
    releaseFreeze('overridden', 'countersign', passedBy);
  }

  /** Break-glass while held: an admin lets the approved deploy through the freeze. */
  function overrideFreeze(actor: OverrideInput['actor'], reason: string): GateAnswer {
    const verdict = checkFreezeOverride(request, actor);
    if (!verdict.ok) return refusal('override', actor.id, verdict);
    const at = now();
    override = override
      ? { ...override, passFreeze: true }
      : {
          by: actor.id,
          at,
          reason,
          approvalsAtOverride: approvals.length,
          reviewDueBy: new Date(Date.now() + request.rule.expiresAfterMs).toISOString(),
          reviewOverdue: false,
          passFreeze: true,
        };
    audit({ type: 'deployment.overridden', actor: actor.id, outcome: 'freeze-passed', reason, data: { override, freeze } });
    releaseFreeze('overridden', actor.id, { by: actor.id, at, reason });
    return { outcome: 'accepted', deployment: view() };
  }

  function expireWhileHeld(): void {
    const held = freeze!;
    releaseFreeze('expired', 'countersign');
    decide('EXPIRED',
      `held by freeze ${held.windows.join(', ')} (${held.reason}) until ${held.until}; the request expired at ${request.expiresAt} ` +
        'before the freeze ended, and nothing was deployed');
  }

  // --- the hand-over to a fresh run, before the history grows near Temporal's limits ---
  /**
   * Due when Temporal suggests it or the history passes our own marks; ready once no answer is
   * mid-way and the trail and the index have caught up, or, if answers keep them from it, once
   * the history has doubled (see CARRY_UNWRITTEN_UP_TO_BYTES). Nothing is lost between runs.
   */
  let dueAtLength: number | undefined;
  function readyToHandOver(): boolean {
    if (!mayHandOver || !allHandlersFinished() || !notifier.idle()) return false;
    const info = workflowInfo();
    const due = info.continueAsNewSuggested || info.historyLength > HAND_OVER_AT_EVENTS || info.historySize > HAND_OVER_AT_BYTES;
    if (!due) return false;
    dueAtLength ??= info.historyLength; // the same on every evaluation of one workflow task
    if (allWritten()) return true;
    if (info.historyLength >= 2 * dueAtLength && JSON.stringify(unwritten).length <= CARRY_UNWRITTEN_UP_TO_BYTES) handOverForced = true;
    // Never with a write in flight: its completion, arriving as the run closes, would fail the
    // hand-over's workflow task, and with it every answer that task was handling.
    return handOverForced && !writing;
  }

  /**
   * Continues as new with everything the gate has decided and counted. Answers are handled
   * synchronously, so none is half-done here; one that arrives while the run closes is turned
   * back by Temporal as retryable and lands on the new run. Events still unwritten go along
   * and are written by the next run.
   */
  async function handOver(): Promise<never> {
    // Readiness is judged as Temporal's jobs are applied, before the code they wake has run: a
    // reminder whose timer just fired starts its send after it. Handing over then would carry
    // the reminder as sent while its send is dropped with this run; wait until it has been.
    // (Runs since `fewer-history-events` and later patches; older ones replay as they were recorded.)
    while (fewerEvents && !(notifier.idle() && !writing)) await condition(() => notifier.idle() && !writing);
    // Countersign's search attributes as they stand (the API set some at the start, the gate
    // upserts others); Temporal's own (such as BuildIds) are the server's to set.
    const ours = new Set<string>(Object.values(SearchKeys).map((key) => key.name));
    const typedSearchAttributes = workflowInfo().typedSearchAttributes.getAll().filter((pair) => ours.has(pair.key.name));
    const next = makeContinueAsNewFunc<typeof deploymentWorkflow>({ typedSearchAttributes });
    return next(request, {
      status, approvals, refusals: refusals.carry(), decision, deploy, override, gitTag, version, auditSequence: sequence, run: run + 1,
      notify: notifier.carry(),
      freeze, supersededBy, supersedeChecked,
      ...(allWritten() ? {} : { unwritten: unwritten.slice(), indexStale }),
    });
  }

  // --- the gate ---
  void writeBehind();
  if (carried === undefined && !requestRecordedFirst) {
    requested();
  } else if (carried !== undefined) {
    // A continued run: what the last run had not yet written is in `unwritten` again.
    publish();
  }
  // Approvers are told, reminded and escalated to on durable timers (workflows/notifications.ts).
  const notifier = notifyApprovers({ request, carried: carried?.notify, continued: carried !== undefined, patchedIn: fewerEvents, status: () => status, view, audit });

  // A newer request for the same service and environment cancels older PENDING ones, where the
  // rule says so: this request's first step, durable whatever becomes of the API that started it.
  if (request.rule.supersede && !supersedeChecked && status === 'PENDING' && (fewerEvents || patched('supersede-older'))) {
    superseding = true;
    await supersedeOlder();
    superseding = false;
  }

  // (A continued run past the gate passes straight through: its status is no longer PENDING.)
  const untilExpiry = Math.max(1, Date.parse(request.expiresAt) - Date.now());
  const answered = await condition(() => status !== 'PENDING' || readyToHandOver(), untilExpiry);
  if (answered && status === 'PENDING') await handOver();
  if (!answered && status === 'PENDING' && isExpired(request.expiresAt, Date.now())) {
    decide('EXPIRED', `no quorum of ${request.rule.approvals} before ${request.expiresAt}`);
  }

  // The change calendar, read right before the deploy: a freeze holds an approved deploy.
  if (status === 'APPROVED' && (fewerEvents || patched('deploy-freeze-check'))) await waitOutFreezes();

  if (status === 'APPROVED') {
    // An override lets the request through on fewer approvals, possibly none: then the digest
    // let through is the request's own, never another.
    const digest = override && approvals.length === 0 ? request.artifact.digest : approvedDigest(approvals);
    if (digest !== request.artifact.digest) {
      // Unreachable while checkApproval refuses other digests; kept as the last line of defence.
      throw ApplicationFailure.nonRetryable(`approvals name ${digest ?? 'several digests'}, not ${request.artifact.digest}`);
    }
    status = 'DEPLOYING';
    audit({ type: 'deploy.started', actor: 'countersign', data: { deployer: request.rule.deployer, digest } });
    changed();
    settled();
    try {
      deploy = await deployer.deploy.executeWithOptions(
        { ...DEPLOY_OPTIONS, summary: `deploy ${request.service} to ${request.environment}: ${request.artifact.name}@${digest} with ${request.rule.deployer}` },
        [{ request, digest }],
      );
      audit({ type: 'deploy.succeeded', actor: 'countersign', outcome: 'DEPLOYED', data: { deploy } });
      decide('DEPLOYED', `deployed ${request.artifact.name}@${digest} with ${request.rule.deployer}`);
    } catch (err) {
      const message = failureMessage(err);
      deploy = { ok: false, deployer: request.rule.deployer, digest, at: now(), error: message };
      audit({ type: 'deploy.failed', actor: 'countersign', outcome: 'FAILED', reason: message, data: { deploy } });
      decide('FAILED', `deploy failed: ${message}`);
    }
  }

  settled(); // the gate ended without a deploy (cancelled or expired while it settled)

  if (status === 'DEPLOYED' && request.rule.git && !gitTag) {
    try {
      gitTag = await git.recordDeploymentTag.executeWithOptions(
        { ...GIT_OPTIONS, summary: `tag ${request.change.commit.slice(0, 12)} in ${request.rule.git.repo}` },
        [{ request, deployment: view() }],
      );
      audit({ type: 'git.tagged', actor: 'countersign', outcome: gitTag.pushed ? 'pushed' : 'tagged', data: { gitTag } });
    } catch (err) {
      // The deployment stands; the missing tag is on record and visible.
      gitTag = { tag: '', commit: request.change.commit, pushed: false, detail: failureMessage(err) };
      audit({ type: 'git.tag.failed', actor: 'countersign', outcome: 'failed', reason: gitTag.detail, data: { gitTag } });
    }
    changed();
  }

  if (override) {
    // Break-glass demands a retrospective review within the tier's window; past it, the
    // override is reported overdue until someone eligible reviews it.
    const reviewed = () => override?.review !== undefined;
    if (!override.reviewOverdue) {
      const inTime = await condition(() => reviewed() || readyToHandOver(), Math.max(1, Date.parse(override.reviewDueBy) - Date.now()));
      if (inTime && !reviewed()) await handOver();
      if (!inTime) {
        override = { ...override, reviewOverdue: true };
        audit({ type: 'override.review.overdue', actor: 'countersign', outcome: 'overdue', reason: `no review by ${override.reviewDueBy}`, data: { override } });
        changed();
      }
    }
    if (!reviewed()) {
      await condition(() => reviewed() || readyToHandOver());
      if (!reviewed()) await handOver();
    }
  }

  await condition(() => unwritten.length === 0 && !indexStale && !writing && notifier.idle());
  return view();
}

function failureMessage(err: unknown): string {
  let current: unknown = err;
  // ActivityFailure wraps the ApplicationFailure that carries the deployer's own message.
  while (current instanceof Error && (current as { cause?: unknown }).cause instanceof Error) {
    current = (current as { cause?: unknown }).cause;
  }
  return current instanceof Error ? current.message : String(current);
}

/** The change calendar's hold, for the Temporal UI's details. */
function describeFreeze(freeze: FreezeHold, expiresAt: string): string {
  if (freeze.frozen) {
    return `**Held by a freeze** (${freeze.windows.join(', ')}): ${freeze.reason}. Deploys after ${freeze.until} ` +
      `(the calendar is read again then), unless the request expires first (${expiresAt}); an admin's override passes the freeze.`;
  }
  const how = freeze.released === 'overridden' && freeze.passedBy
    ? `passed by ${freeze.passedBy.by}'s override: ${freeze.passedBy.reason}`
    : freeze.released === 'ended' ? 'the freeze ended' : `the request ${freeze.released === 'expired' ? 'expired' : 'was cancelled'} while held`;
  return `Freeze (${freeze.windows.join(', ')}: ${freeze.reason}): held since ${freeze.heldSince}, released ${freeze.releasedAt ?? ''}; ${how}`;
}
