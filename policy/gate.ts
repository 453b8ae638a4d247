// The gate's decisions, as pure functions of the request, what has happened so far and the
// time. The workflow calls them; so can anyone who wants to explain a decision from history.

import { sharesIdentity } from './identity';
import type {
  Approval,
  DeploymentRequest,
  DeploymentStatus,
  Override,
  Person,
  RefusalReason,
  TierRule,
} from './types';

export type Verdict = { ok: true } | { ok: false; reason: RefusalReason; detail: string };

const OK: Verdict = { ok: true };
const refuse = (reason: RefusalReason, detail: string): Verdict => ({ ok: false, reason, detail });

export function isExpired(expiresAt: string, now: number): boolean {
  return now >= Date.parse(expiresAt);
}

/** Authors, the person who triggered the pipeline and the requesting principal never approve. */
export function segregationOfDuties(request: DeploymentRequest, person: Person): Verdict {
  if (person.id === request.requester.id) {
    return refuse('REQUESTER', `${person.id} requested this deployment and may not approve it`);
  }
  if (
    request.excluded.principalIds.includes(person.id) ||
    sharesIdentity(person.identities, request.excluded.identities)
  ) {
    return refuse(
      'AUTHOR',
      `${person.id} is an author of change ${request.change.commit} (or triggered it) and may not approve it`,
    );
  }
  return OK;
}

/** `eligibleGroups` limits who may answer at all; empty means every approver. */
export function eligibility(rule: TierRule, person: Person): Verdict {
  if (rule.eligibleGroups.length === 0) return OK;
  if (person.groups.some((group) => rule.eligibleGroups.includes(group))) return OK;
  return refuse(
    'NOT_ELIGIBLE',
    `tier ${rule.tier} accepts answers only from members of ${rule.eligibleGroups.join(', ')}; ` +
      `${person.id} is in ${person.groups.length ? person.groups.join(', ') : 'no group'}`,
  );
}

export interface GateState {
  status: DeploymentStatus;
  approvals: Approval[];
}

function stillOpen(state: GateState, request: DeploymentRequest, now: number): Verdict {
  if (state.status !== 'PENDING') {
    return refuse('NOT_PENDING', `deployment ${request.id} is ${state.status}, no longer PENDING`);
  }
  if (isExpired(request.expiresAt, now)) {
    return refuse('EXPIRED', `deployment ${request.id} expired at ${request.expiresAt}`);
  }
  return OK;
}

function firstRefusal(...checks: Array<() => Verdict>): Verdict {
  for (const check of checks) {
    const verdict = check();
    if (!verdict.ok) return verdict;
  }
  return OK;
}

export function checkApproval(
  request: DeploymentRequest,
  state: GateState,
  person: Person,
  digest: string,
  now: number,
): Verdict {
  return firstRefusal(
    () => stillOpen(state, request, now),
    () => segregationOfDuties(request, person),
    () => eligibility(request.rule, person),
    () =>
      digest === request.artifact.digest
        ? OK
        : refuse(
            'DIGEST_MISMATCH',
            `approved digest ${digest} is not the artifact's digest ${request.artifact.digest}: ` +
              'check which artifact you reviewed',
          ),
    () =>
      state.approvals.some((approval) => approval.approver === person.id)
        ? refuse('DUPLICATE', `${person.id} has already approved deployment ${request.id}`)
        : OK,
  );
}

export function checkRejection(
  request: DeploymentRequest,
  state: GateState,
  person: Person,
  now: number,
): Verdict {
  return firstRefusal(
    () => stillOpen(state, request, now),
    () => segregationOfDuties(request, person),
    () => eligibility(request.rule, person),
  );
}

/** `heldByFreeze`: the approved deploy waits for a freeze to end, and may still be cancelled. */
export function checkCancel(
  request: DeploymentRequest,
  state: GateState,
  actor: { id: string; roles: string[] },
  heldByFreeze = false,
): Verdict {
  if (actor.id !== request.requester.id && !actor.roles.includes('admin')) {
    return refuse(
      'NOT_PERMITTED',
      `only the requesting pipeline (${request.requester.id}) or an admin may cancel deployment ${request.id}`,
    );
  }
  if (state.status !== 'PENDING' && !heldByFreeze) {
    return refuse('NOT_PENDING', `deployment ${request.id} is ${state.status}, no longer PENDING`);
  }
  return OK;
}

/** Groups of `requiredGroups` that no approval so far covers. */
export function missingGroups(rule: TierRule, approvals: readonly Approval[]): string[] {
  return rule.requiredGroups.filter(
    (group) => !approvals.some((approval) => approval.groups.includes(group)),
  );
}

/** Enough distinct people, and every required group represented. */
export function quorumMet(rule: TierRule, approvals: readonly Approval[]): boolean {
  const people = new Set(approvals.map((approval) => approval.approver));
  return people.size >= rule.approvals && missingGroups(rule, approvals).length === 0;
}

/** Only digests that every counted approval named may be deployed. */
export function approvedDigest(approvals: readonly Approval[]): string | undefined {
  const digests = new Set(approvals.map((approval) => approval.digest));
  return digests.size === 1 ? [...digests][0] : undefined;
}

/** Break-glass: only while pending, and never by someone the change excludes from approving. */
export function checkOverride(
  request: DeploymentRequest,
  state: GateState,
  person: Person & { roles: string[] },
  now: number,
): Verdict {
  return firstRefusal(
    () =>
      person.roles.includes('admin')
        ? OK
        : refuse('NOT_PERMITTED', `only an admin may override the gate; ${person.id} is not one`),
    () => stillOpen(state, request, now),
    () => segregationOfDuties(request, person),
  );
}

/** The retrospective review of an override: an eligible approver other than the overrider. */
export function checkReview(request: DeploymentRequest, override: Override | undefined, person: Person): Verdict {
  return firstRefusal(
    () => (override ? OK : refuse('NOT_OVERRIDDEN', `deployment ${request.id} was not overridden; there is nothing to review`)),
    () =>
      override?.review
        ? refuse('ALREADY_REVIEWED', `the override of deployment ${request.id} was already reviewed by ${override.review.by}`)
        : OK,
    () =>
      person.id === override?.by
        ? refuse('OVERRIDER', `${person.id} made the override and may not review it`)
        : OK,
    () => segregationOfDuties(request, person),
    () => eligibility(request.rule, person),
  );
}

/**
 * Break-glass through the change calendar: an admin, never someone the change excludes, lets
 * an approved deploy that a freeze holds go ahead.
 */
export function checkFreezeOverride(request: DeploymentRequest, person: Person & { roles: string[] }): Verdict {
  return firstRefusal(
    () =>
      person.roles.includes('admin')
        ? OK
        : refuse('NOT_PERMITTED', `only an admin may override the gate; ${person.id} is not one`),
    () => segregationOfDuties(request, person),
  );
}
