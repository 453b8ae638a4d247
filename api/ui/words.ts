// What the gate says, in words a person reads: refusals, statuses, audit events, time left.

import type { DeploymentStatus, DeploymentView, RefusalReason } from '../../policy/types';

/** Each refusal of the gate, as the person who was refused reads it. */
export const REFUSAL_WORDS: Record<RefusalReason | 'TOO_MANY_REFUSALS' | 'MALFORMED', string> = {
  AUTHOR: 'You are an author of this change, so you cannot answer for it: segregation of duties needs someone who did not write it.',
  REQUESTER: 'You asked for this deployment (or triggered its pipeline), so you cannot approve it: someone else must.',
  NOT_ELIGIBLE: 'You are not eligible to answer at this tier: only members of the groups it names may.',
  DIGEST_MISMATCH: 'The digest you entered is not the digest of this artifact. Nothing was counted: check that you reviewed this exact artifact, and enter its digest.',
  NOT_PENDING: 'This request has already been decided, so it takes no more answers.',
  DUPLICATE: 'You have already approved this request: one person counts once.',
  EXPIRED: 'This request expired before it gathered its approvals, so it takes no more answers.',
  NOT_PERMITTED: 'You are not permitted to give this answer.',
  NOT_OVERRIDDEN: 'This deployment was not overridden, so there is nothing to review.',
  ALREADY_REVIEWED: 'This override has already been reviewed.',
  OVERRIDER: 'You broke the glass on this deployment, so someone else must review it.',
  TOO_MANY_REFUSALS: 'You have been refused too many times on this request, so further attempts are turned away. Ask another approver.',
  MALFORMED: 'What you sent could not be read as an answer.',
};

const STATUS_WORDS: Record<DeploymentStatus, string> = {
  PENDING: 'waiting for approval',
  APPROVED: 'approved, about to deploy',
  DEPLOYING: 'deploying',
  DEPLOYED: 'deployed',
  REJECTED: 'rejected',
  EXPIRED: 'expired',
  CANCELLED: 'cancelled',
  FAILED: 'failed to deploy',
};

export function statusWords(status: DeploymentStatus): string {
  return STATUS_WORDS[status] ?? status.toLowerCase();
}

export function statusTone(status: DeploymentStatus): 'wait' | 'ok' | 'bad' {
  if (status === 'PENDING' || status === 'APPROVED' || status === 'DEPLOYING') return 'wait';
  if (status === 'DEPLOYED') return 'ok';
  return 'bad';
}

const EVENT_WORDS: Record<string, string> = {
  'deployment.requested': 'requested the deployment',
  'approval.accepted': 'approved',
  'approval.refused': 'tried to approve, refused',
  'rejection.accepted': 'rejected',
  'rejection.refused': 'tried to reject, refused',
  'cancel.accepted': 'cancelled',
  'cancel.refused': 'tried to cancel, refused',
  'override.accepted': 'broke the glass (override)',
  'override.refused': 'tried to override, refused',
  'review.accepted': 'reviewed the override',
  'review.refused': 'tried to review, refused',
  'deployment.overridden': 'overrode the gate',
  'deployment.decided': 'decision',
  'deploy.started': 'deploy started',
  'deploy.succeeded': 'deploy succeeded',
  'deploy.failed': 'deploy failed',
  'git.tagged': 'tagged in git',
  'git.tag.failed': 'git tag failed',
  'override.reviewed': 'override reviewed',
  'override.review.overdue': 'override review overdue',
};

export function eventWords(type: string): string {
  return EVENT_WORDS[type] ?? type;
}

/** "3 h 12 min", "45 min", "less than a minute"; for a time in the past, how long ago. */
export function timeLeft(until: string | Date, now = Date.now()): string {
  const ms = new Date(until).getTime() - now;
  const words = spell(Math.abs(ms));
  return ms >= 0 ? `${words} left` : `${words} ago`;
}

function spell(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'less than a minute';
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${mins} min`;
  return `${mins} min`;
}

/** What the request still needs: how many more approvals, and from which groups. */
export function missing(view: DeploymentView): { approvals: number; groups: string[] } {
  const groups = view.requiredGroups.filter((group) => !view.approvals.some((approval) => approval.groups?.includes(group)));
  return { approvals: Math.max(0, view.requiredApprovals - view.approvals.length), groups };
}

export function missingWords(view: DeploymentView): string {
  const { approvals, groups } = missing(view);
  if (approvals === 0 && groups.length === 0) return 'nothing: the quorum is met';
  const parts: string[] = [];
  if (approvals > 0) parts.push(`${approvals} more approval${approvals === 1 ? '' : 's'}`);
  if (groups.length > 0) parts.push(`one from ${groups.join(' and one from ')}`);
  return parts.join(', including ');
}

/** A UTC time as people read it: 2026-12-01 14:05 UTC. */
export function utc(at: string | Date): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? String(at) : `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
