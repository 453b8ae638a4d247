// What the gate keeps of refused attempts: bounded whatever callers do.

import { RECENT_REFUSALS_KEPT, REFUSALS_PER_ACTOR, RefusalLog, tooManyRefusalsDetail } from '../../policy/refusals';
import type { RefusedAttempt } from '../../policy/types';

const attempt = (actor: string, n: number): RefusedAttempt => ({
  kind: 'approval', actor, at: new Date(1_700_000_000_000 + n).toISOString(), reason: 'DIGEST_MISMATCH', detail: `attempt ${n}`,
});

describe('the refusal log', () => {
  it('keeps a count of every refused attempt but only the latest few whole', () => {
    const log = new RefusalLog();
    for (let n = 0; n < 1000; n += 1) log.record(attempt(`p${n % 100}`, n));
    expect(log.count).toBe(1000);
    expect(log.recent).toHaveLength(RECENT_REFUSALS_KEPT);
    expect(log.recent.map((a) => a.detail)).toEqual(Array.from({ length: RECENT_REFUSALS_KEPT }, (_, i) => `attempt ${1000 - RECENT_REFUSALS_KEPT + i}`));
  });

  it('says when one principal has used up their refused attempts, and only theirs', () => {
    const log = new RefusalLog();
    for (let n = 0; n < REFUSALS_PER_ACTOR - 1; n += 1) log.record(attempt('bob', n));
    expect(log.limitReached('bob')).toBe(false);
    log.record(attempt('bob', 99));
    expect(log.limitReached('bob')).toBe(true);
    expect(log.refusedTimes('bob')).toBe(REFUSALS_PER_ACTOR);
    expect(log.limitReached('carol')).toBe(false);
  });

  it('hands everything it counts to the next run', () => {
    const log = new RefusalLog();
    for (let n = 0; n < 25; n += 1) log.record(attempt(n < 12 ? 'bob' : 'carol', n));
    const next = new RefusalLog(JSON.parse(JSON.stringify(log.carry())));
    expect(next.count).toBe(25);
    expect(next.recent).toEqual(log.recent);
    expect(next.refusedTimes('bob')).toBe(12);
    expect(next.limitReached('bob')).toBe(true);
    expect(next.refusedTimes('carol')).toBe(13);
  });

  it('tells the principal how often they were refused and what to check', () => {
    const detail = tooManyRefusalsDetail('bob', 10, 'd-1');
    expect(detail).toContain('bob has been refused 10 times on deployment d-1');
    expect(detail).toContain('GET /v1/deployments/d-1');
  });
});
