// What the gate keeps of refused attempts: a count, the latest few whole, and how often each
// principal was refused. Every refused attempt is also in the audit trail, whole; the workflow
// keeps only this much, so that no caller can grow its state (and its history) without bound.

import type { RefusalsCarried, RefusedAttempt } from './types';

/** How many refused attempts the gate keeps whole: the latest ones. */
export const RECENT_REFUSALS_KEPT = 10;

/**
 * How many refused attempts one principal may make on one deployment. Past it the gate does not
 * hear further attempts that it would refuse (they are answered 429 and audited by the API, and
 * leave nothing in the workflow's history); an answer it would accept still counts.
 */
export const REFUSALS_PER_ACTOR = 10;

export class RefusalLog {
  private readonly recentAttempts: RefusedAttempt[];
  private total: number;
  private readonly perActor: Map<string, number>;

  constructor(carried?: RefusalsCarried) {
    this.recentAttempts = [...(carried?.recent ?? [])].slice(-RECENT_REFUSALS_KEPT);
    this.total = carried?.count ?? this.recentAttempts.length;
    this.perActor = new Map(Object.entries(carried?.byActor ?? {}));
  }

  record(attempt: RefusedAttempt): void {
    this.recentAttempts.push(attempt);
    if (this.recentAttempts.length > RECENT_REFUSALS_KEPT) this.recentAttempts.splice(0, this.recentAttempts.length - RECENT_REFUSALS_KEPT);
    this.total += 1;
    this.perActor.set(attempt.actor, this.refusedTimes(attempt.actor) + 1);
  }

  /** The latest refused attempts, oldest first. */
  get recent(): RefusedAttempt[] {
    return [...this.recentAttempts];
  }

  /** Every refused attempt the gate has counted on this deployment. */
  get count(): number {
    return this.total;
  }

  refusedTimes(actor: string): number {
    return this.perActor.get(actor) ?? 0;
  }

  /** True once `actor` has used up the refused attempts one principal may make. */
  limitReached(actor: string): boolean {
    return this.refusedTimes(actor) >= REFUSALS_PER_ACTOR;
  }

  carry(): RefusalsCarried {
    return { recent: this.recent, count: this.total, byActor: Object.fromEntries(this.perActor) };
  }
}

/** The failure type an update validator rejects with once a principal's refusals are used up. */
export const TOO_MANY_REFUSALS = 'TooManyRefusals';

export function tooManyRefusalsDetail(actor: string, times: number, deploymentId: string): string {
  return (
    `${actor} has been refused ${times} times on deployment ${deploymentId}; further attempts that the gate would refuse ` +
    `are not heard. Check the deployment (GET /v1/deployments/${deploymentId}): the artifact's digest, its status and ` +
    'who may answer it. An answer the gate would accept still counts; every attempt is kept in the audit trail'
  );
}
