// Who is told what, and when: the notification schedule of one deployment, run inside its
// workflow on durable timers. It survives worker restarts (timers are Temporal's), hands its
// counters over on continue-as-new, and stops when the gate decides.
//
//   requested   once, when the request arrives
//   reminder    at requestedAt + n × remindEvery while PENDING (never at or past expiry; after
//               an outage, one for the latest slot missed, not a burst)
//   escalated   once, at requestedAt + escalateAfter while PENDING, to the escalateTo groups
//   decided     once, when the gate decides (approved, rejected, cancelled), with who and why
//   expired     once, when the request expires unanswered
//
// Each message is one activity per channel (activities/notify), idempotent by its key; a channel
// that keeps failing is recorded as failed and never holds up the gate.

import { condition, patched, proxyActivities } from '@temporalio/workflow';
import type { AuditEventInput, NotifyActivities, NotifyOutcome } from '../activities/types';
import { NOTIFY_ATTEMPTS, type NotifyEvent } from '../policy/notify';
import type { DeploymentRequest, DeploymentStatus, DeploymentView } from '../policy/types';

const NOTIFY_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: NOTIFY_ATTEMPTS },
} as const;
const activities = proxyActivities<NotifyActivities>(NOTIFY_OPTIONS);

/** What one run hands the next: which messages were sent. */
export interface NotifyCarried {
  requested: boolean;
  /** The last reminder slot sent (or passed over). */
  reminders: number;
  escalated: boolean;
  /** decided or expired has been sent: nothing more to say. */
  closed: boolean;
}

export interface Notifier {
  /** No message in flight: the run may hand over or end. */
  idle(): boolean;
  /** For the hand-over; undefined when this deployment notifies nobody. */
  carry(): NotifyCarried | undefined;
}

export interface NotifierDependencies {
  request: DeploymentRequest;
  carried?: NotifyCarried;
  /** Whether the run is continued from an earlier one (`carried` is then that run's state, if any). */
  continued: boolean;
  /** The run started since a later patch that implies this one (workflows/deployment.ts: `fewer-history-events` and each patch after it). */
  patchedIn: boolean;
  status(): DeploymentStatus;
  view(): DeploymentView;
  audit(event: Omit<AuditEventInput, 'eventId' | 'deploymentId' | 'at'>): void;
}

const QUIET: Notifier = { idle: () => true, carry: () => undefined };

/**
 * Starts the schedule when the tier notifies anyone. Runs started before notifications existed
 * replay without it (no `notify-approvers` marker in their history); a continued run notifies
 * exactly when the run before it did.
 */
export function notifyApprovers(deps: NotifierDependencies): Notifier {
  const rule = deps.request.rule.notify;
  if (!rule || rule.channels.length === 0) return QUIET;
  const on = deps.continued ? deps.carried !== undefined : deps.patchedIn || patched('notify-approvers');
  if (!on) return QUIET;

  const state: NotifyCarried = { requested: false, reminders: 0, escalated: false, closed: false, ...deps.carried };
  let sending = 0;
  const requestedAt = Date.parse(deps.request.requestedAt);
  const expiresAt = Date.parse(deps.request.expiresAt);
  const pending = () => deps.status() === 'PENDING';

  async function send(event: NotifyEvent, sequence: number): Promise<void> {
    sending += 1;
    try {
      const deployment = deps.view();
      const outcomes = await Promise.all(
        rule!.channels.map((channel) =>
          activities.notify
            .executeWithOptions(
              { ...NOTIFY_OPTIONS, summary: `notify ${event}${sequence ? ` #${sequence}` : ''} via ${channel}` },
              [{ event, sequence, channel, request: deps.request, deployment }],
            )
            .catch((err: unknown): NotifyOutcome => ({ key: `${deps.request.id}.${event}.${sequence}.${channel}`, status: 'failed', error: failureText(err) })),
        ),
      );
      outcomes.forEach((outcome, i) => {
        if (outcome.status !== 'failed') return;
        deps.audit({
          type: 'notification.failed',
          actor: 'countersign',
          outcome: 'failed',
          reason: (outcome.error ?? 'not delivered').slice(0, 500),
          data: { event, sequence, channel: rule!.channels[i], key: outcome.key },
        });
      });
    } finally {
      sending -= 1;
    }
  }

  /** The next moment something is due while PENDING, or undefined when nothing more is. */
  function nextDue(): number | undefined {
    const times: number[] = [];
    if (rule!.remindEveryMs) {
      const at = requestedAt + (state.reminders + 1) * rule!.remindEveryMs;
      if (at < expiresAt) times.push(at);
    }
    if (rule!.escalateAfterMs && !state.escalated) times.push(requestedAt + rule!.escalateAfterMs);
    return times.length ? Math.min(...times) : undefined;
  }

  async function schedule(): Promise<void> {
    if (!state.requested) {
      state.requested = true;
      await send('requested', 0);
    }
    while (pending()) {
      const due = nextDue();
      if (due === undefined) {
        await condition(() => !pending());
        break;
      }
      const decided = await condition(() => !pending(), Math.max(1, due - Date.now()));
      if (decided) break;
      const now = Date.now();
      // Past expiry (after a long outage the gate may not have said so yet): nothing more to ask.
      if (now >= expiresAt) {
        await condition(() => !pending());
        break;
      }
      if (rule!.escalateAfterMs && !state.escalated && now >= requestedAt + rule!.escalateAfterMs) {
        state.escalated = true;
        await send('escalated', 1);
      }
      if (rule!.remindEveryMs && pending()) {
        const slot = Math.floor((now - requestedAt) / rule!.remindEveryMs);
        if (slot > state.reminders) {
          state.reminders = slot;
          if (requestedAt + slot * rule!.remindEveryMs < expiresAt) await send('reminder', slot);
        }
      }
    }
    if (!state.closed) {
      state.closed = true;
      await send(deps.status() === 'EXPIRED' ? 'expired' : 'decided', 0);
    }
  }

  void schedule();
  return {
    idle: () => sending === 0,
    carry: () => ({ ...state }),
  };
}

function failureText(err: unknown): string {
  let current: unknown = err;
  while (current instanceof Error && (current as { cause?: unknown }).cause instanceof Error) current = (current as { cause?: unknown }).cause;
  return current instanceof Error ? current.message : String(current);
}
