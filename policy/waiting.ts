// "Waiting for me": which deployments a person may approve now, and would move by approving.
// A pure function of the request (who is excluded, the tier's rule), what the gate has seen so
// far and the time, built from the gate's own checks (gate.ts), so the list never offers a
// deployment whose approval the gate would refuse.

import { eligibility, isExpired, missingGroups, segregationOfDuties } from './gate';
import type { Approval, DeploymentRequest, DeploymentStatus, Person } from './types';

export type WaitingVerdict =
  | { waiting: true }
  | {
      waiting: false;
      why: 'NOT_APPROVER' | 'NOT_PENDING' | 'EXPIRED' | 'AUTHOR' | 'REQUESTER' | 'NOT_ELIGIBLE' | 'ALREADY_APPROVED' | 'NOT_NEEDED';
    };

export interface WaitingState {
  status: DeploymentStatus;
  approvals: readonly Approval[];
}

/**
 * Is this deployment waiting for `person`? Yes when all of these hold:
 * - the person has the approver role (only approvers may answer the gate);
 * - it is PENDING and not past `expiresAt`;
 * - the person is neither its requester nor an author, nor triggered it, under the identity
 *   comparison of identity.ts (segregationOfDuties, exactly as the gate applies it);
 * - the tier's `eligibleGroups`, when it names any, include one of the person's groups;
 * - the person has not approved it already;
 * - their approval would bring the quorum closer: they are in a `requiredGroups` group that no
 *   approval covers yet, or more approvals are missing than there are such groups (so an
 *   approval from anyone still counts). When every approval still missing must come from a
 *   missing group (e.g. 1 more, and security not yet covered), only members are waited for.
 */
export function waitingFor(
  request: DeploymentRequest,
  state: WaitingState,
  person: Person,
  roles: readonly string[],
  now: number,
): WaitingVerdict {
  const no = (why: Extract<WaitingVerdict, { waiting: false }>['why']): WaitingVerdict => ({ waiting: false, why });
  if (!roles.includes('approver')) return no('NOT_APPROVER');
  if (state.status !== 'PENDING') return no('NOT_PENDING');
  if (isExpired(request.expiresAt, now)) return no('EXPIRED');
  const duties = segregationOfDuties(request, person);
  if (!duties.ok) return no(duties.reason === 'REQUESTER' ? 'REQUESTER' : 'AUTHOR');
  if (!eligibility(request.rule, person).ok) return no('NOT_ELIGIBLE');
  if (state.approvals.some((approval) => approval.approver === person.id)) return no('ALREADY_APPROVED');
  const people = new Set(state.approvals.map((approval) => approval.approver)).size;
  const remaining = request.rule.approvals - people;
  const missing = missingGroups(request.rule, state.approvals);
  if (missing.some((group) => person.groups.includes(group))) return { waiting: true };
  if (remaining > missing.length) return { waiting: true };
  return no('NOT_NEEDED');
}
