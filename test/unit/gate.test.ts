import {
  approvedDigest,
  checkApproval,
  checkCancel,
  checkRejection,
  eligibility,
  GateState,
  isExpired,
  missingGroups,
  quorumMet,
  segregationOfDuties,
  Verdict,
} from '../../policy/gate';
import type { Approval, DeploymentRequest, DeploymentStatus, Person, TierRule } from '../../policy/types';
import { approval, DIGEST, EXPIRES_AT, NOW, OTHER_DIGEST, person, request, REQUESTED_AT, tier } from './gate-fixtures';

const AT_EXPIRY = Date.parse(EXPIRES_AT);

const pending = (approvals: Approval[] = []): GateState => ({ status: 'PENDING', approvals });
const reason = (verdict: Verdict) => (verdict.ok ? 'OK' : verdict.reason);

const bob = person('bob', ['dev']);
// Bob's account carries no principal id of the exclusion list, but an identity of the author.
const aliceAlias = person('alice-2', ['dev'], ['login:someone-else', 'email:alice@example.com']);

describe('isExpired', () => {
  it.each([
    ['well before expiry', NOW, false],
    ['one millisecond before expiry', AT_EXPIRY - 1, false],
    ['exactly at expiresAt', AT_EXPIRY, true],
    ['after expiry', AT_EXPIRY + 1, true],
  ])('%s → %s', (_label, now, expected) => {
    expect(isExpired(EXPIRES_AT, now)).toBe(expected);
  });
});

describe('checkApproval', () => {
  const NON_PENDING: DeploymentStatus[] = ['APPROVED', 'DEPLOYING', 'DEPLOYED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'FAILED'];

  it.each(NON_PENDING)('refuses NOT_PENDING when the deployment is %s', (status) => {
    const verdict = checkApproval(request(), { status, approvals: [] }, bob, DIGEST, NOW);
    expect(verdict).toEqual({ ok: false, reason: 'NOT_PENDING', detail: expect.stringContaining(status) });
  });

  it.each<[string, DeploymentRequest, GateState, Person, string, number, string]>([
    ['an eligible non-author with the right digest', request(), pending(), bob, DIGEST, NOW, 'OK'],
    ['a second distinct approver', request(), pending([approval('carol')]), bob, DIGEST, NOW, 'OK'],
    ['at the expiry instant', request(), pending(), bob, DIGEST, AT_EXPIRY, 'EXPIRED'],
    ['after expiry', request(), pending(), bob, DIGEST, AT_EXPIRY + 60_000, 'EXPIRED'],
    ['the requesting pipeline', request(), pending(), person('pipeline-ci'), DIGEST, NOW, 'REQUESTER'],
    ['the author by principal id', request(), pending(), person('alice', [], []), DIGEST, NOW, 'AUTHOR'],
    ['the author by a shared identity', request(), pending(), aliceAlias, DIGEST, NOW, 'AUTHOR'],
    ['the author by login identity', request(), pending(), person('al', [], ['login:alice']), DIGEST, NOW, 'AUTHOR'],
    ['a non-member of eligibleGroups', request({ eligibleGroups: ['sre'] }), pending(), bob, DIGEST, NOW, 'NOT_ELIGIBLE'],
    ['a member of one eligible group', request({ eligibleGroups: ['sre', 'dev'] }), pending(), bob, DIGEST, NOW, 'OK'],
    ['a person in no group when groups are required', request({ eligibleGroups: ['sre'] }), pending(), person('dan'), DIGEST, NOW, 'NOT_ELIGIBLE'],
    ['the wrong digest', request(), pending(), bob, OTHER_DIGEST, NOW, 'DIGEST_MISMATCH'],
    ['a digest differing only in case', request(), pending(), bob, DIGEST.toUpperCase(), NOW, 'DIGEST_MISMATCH'],
    ['an empty digest', request(), pending(), bob, '', NOW, 'DIGEST_MISMATCH'],
    ['someone who already approved', request(), pending([approval('bob')]), bob, DIGEST, NOW, 'DUPLICATE'],
  ])('%s → %s', (_label, req, state, who, digest, now, expected) => {
    expect(reason(checkApproval(req, state, who, digest, now))).toBe(expected);
  });

  // Each row breaks every check from its position onwards; the first broken one must answer.
  it.each<[string, DeploymentStatus, number, Person, string, string]>([
    ['NOT_PENDING before EXPIRED and everything else', 'APPROVED', AT_EXPIRY, person('pipeline-ci'), OTHER_DIGEST, 'NOT_PENDING'],
    ['EXPIRED before REQUESTER', 'PENDING', AT_EXPIRY, person('pipeline-ci'), OTHER_DIGEST, 'EXPIRED'],
    ['REQUESTER before AUTHOR', 'PENDING', NOW, person('pipeline-ci', [], ['login:alice']), OTHER_DIGEST, 'REQUESTER'],
    ['AUTHOR before NOT_ELIGIBLE', 'PENDING', NOW, person('alice', [], []), OTHER_DIGEST, 'AUTHOR'],
    ['NOT_ELIGIBLE before DIGEST_MISMATCH', 'PENDING', NOW, person('bob', ['dev']), OTHER_DIGEST, 'NOT_ELIGIBLE'],
    ['DIGEST_MISMATCH before DUPLICATE', 'PENDING', NOW, person('bob', ['sre']), OTHER_DIGEST, 'DIGEST_MISMATCH'],
    ['DUPLICATE last', 'PENDING', NOW, person('bob', ['sre']), DIGEST, 'DUPLICATE'],
  ])('precedence: %s', (_label, status, now, who, digest, expected) => {
    const req = request({ eligibleGroups: ['sre'] });
    const state: GateState = { status, approvals: [approval(who.id, who.groups)] };
    expect(reason(checkApproval(req, state, who, digest, now))).toBe(expected);
  });

  it('names the principal and the commit in an AUTHOR refusal', () => {
    const verdict = checkApproval(request(), pending(), aliceAlias, DIGEST, NOW);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.detail).toContain('alice-2 is an author of change c0ffee');
  });

  it('names both digests in a DIGEST_MISMATCH refusal', () => {
    const verdict = checkApproval(request(), pending(), bob, OTHER_DIGEST, NOW);
    if (verdict.ok) throw new Error('expected a refusal');
    expect(verdict.detail).toContain(OTHER_DIGEST);
    expect(verdict.detail).toContain(DIGEST);
  });
});

describe('checkRejection', () => {
  it.each<[string, DeploymentRequest, GateState, Person, number, string]>([
    ['an eligible non-author', request(), pending(), bob, NOW, 'OK'],
    ['someone who already approved (may still reject)', request(), pending([approval('bob')]), bob, NOW, 'OK'],
    ['a decided deployment', request(), { status: 'REJECTED', approvals: [] }, bob, NOW, 'NOT_PENDING'],
    ['at the expiry instant', request(), pending(), bob, AT_EXPIRY, 'EXPIRED'],
    ['the requesting pipeline', request(), pending(), person('pipeline-ci'), NOW, 'REQUESTER'],
    ['the author by principal id', request(), pending(), person('alice', [], []), NOW, 'AUTHOR'],
    ['the author by shared identity', request(), pending(), aliceAlias, NOW, 'AUTHOR'],
    ['a non-member of eligibleGroups', request({ eligibleGroups: ['sre'] }), pending(), bob, NOW, 'NOT_ELIGIBLE'],
    ['NOT_PENDING before EXPIRED', request(), { status: 'DEPLOYED', approvals: [] }, bob, AT_EXPIRY, 'NOT_PENDING'],
    ['EXPIRED before AUTHOR', request(), pending(), person('alice', [], []), AT_EXPIRY, 'EXPIRED'],
    ['AUTHOR before NOT_ELIGIBLE', request({ eligibleGroups: ['sre'] }), pending(), person('alice', [], []), NOW, 'AUTHOR'],
  ])('%s → %s', (_label, req, state, who, now, expected) => {
    expect(reason(checkRejection(req, state, who, now))).toBe(expected);
  });
});

describe('checkCancel', () => {
  it.each<[string, { id: string; roles: string[] }, DeploymentStatus, string]>([
    ['the requesting pipeline', { id: 'pipeline-ci', roles: ['pipeline'] }, 'PENDING', 'OK'],
    ['an admin', { id: 'root', roles: ['approver', 'admin'] }, 'PENDING', 'OK'],
    ['another pipeline', { id: 'pipeline-other', roles: ['pipeline'] }, 'PENDING', 'NOT_PERMITTED'],
    ['an approver who is not admin', { id: 'bob', roles: ['approver'] }, 'PENDING', 'NOT_PERMITTED'],
    ['the requester, once decided', { id: 'pipeline-ci', roles: ['pipeline'] }, 'APPROVED', 'NOT_PENDING'],
    ['an admin, once deployed', { id: 'root', roles: ['admin'] }, 'DEPLOYED', 'NOT_PENDING'],
    ['another pipeline, once decided (permission first)', { id: 'pipeline-other', roles: ['pipeline'] }, 'CANCELLED', 'NOT_PERMITTED'],
  ])('%s → %s', (_label, actor, status, expected) => {
    expect(reason(checkCancel(request(), { status, approvals: [] }, actor))).toBe(expected);
  });

  it('takes no clock: a PENDING deployment can be cancelled whatever its expiresAt', () => {
    expect(checkCancel(request(), pending(), { id: 'pipeline-ci', roles: [] })).toEqual({ ok: true });
  });
});

describe('eligibility', () => {
  it.each<[string, string[], string[], string]>([
    ['no eligibleGroups: anyone', [], [], 'OK'],
    ['no eligibleGroups: a grouped person', [], ['dev'], 'OK'],
    ['member of the only eligible group', ['sre'], ['sre'], 'OK'],
    ['member of one of several', ['sre', 'security'], ['dev', 'security'], 'OK'],
    ['member of other groups only', ['sre'], ['dev', 'qa'], 'NOT_ELIGIBLE'],
    ['member of no group', ['sre'], [], 'NOT_ELIGIBLE'],
    ['group names are exact (case)', ['sre'], ['SRE'], 'NOT_ELIGIBLE'],
  ])('%s → %s', (_label, eligibleGroups, groups, expected) => {
    expect(reason(eligibility(tier({ eligibleGroups }), person('bob', groups)))).toBe(expected);
  });

  it('explains who may answer and where the person is', () => {
    const verdict = eligibility(tier({ tier: 'ops', eligibleGroups: ['sre'] }), person('bob'));
    expect(verdict).toEqual({
      ok: false,
      reason: 'NOT_ELIGIBLE',
      detail: 'tier ops accepts answers only from members of sre; bob is in no group',
    });
  });
});

describe('segregationOfDuties', () => {
  it.each<[string, Person, string]>([
    ['an unrelated person', bob, 'OK'],
    ['the requester', person('pipeline-ci'), 'REQUESTER'],
    ['an excluded principal id', person('alice', [], []), 'AUTHOR'],
    ['an excluded identity under another id', aliceAlias, 'AUTHOR'],
    ['an identity that only resembles an excluded one', person('x', [], ['email:alice@example.org']), 'OK'],
  ])('%s → %s', (_label, who, expected) => {
    expect(reason(segregationOfDuties(request(), who))).toBe(expected);
  });
});

describe('missingGroups', () => {
  it.each<[string, string[], Approval[], string[]]>([
    ['no required groups', [], [approval('bob')], []],
    ['no approvals yet', ['security', 'sre'], [], ['security', 'sre']],
    ['one group covered', ['security', 'sre'], [approval('bob', ['sre'])], ['security']],
    ['all covered by different people', ['security', 'sre'], [approval('bob', ['sre']), approval('carol', ['security'])], []],
    ['all covered by one person in both', ['security', 'sre'], [approval('bob', ['sre', 'security'])], []],
    ['unrelated groups do not count', ['security'], [approval('bob', ['dev', 'secops'])], ['security']],
  ])('%s → %j', (_label, requiredGroups, approvals, expected) => {
    expect(missingGroups(tier({ requiredGroups }), approvals)).toEqual(expected);
  });
});

describe('quorumMet', () => {
  it.each<[string, Partial<TierRule>, Approval[], boolean]>([
    ['no approvals', { approvals: 1 }, [], false],
    ['one of one', { approvals: 1 }, [approval('bob')], true],
    ['one of two', { approvals: 2 }, [approval('bob')], false],
    ['two distinct of two', { approvals: 2 }, [approval('bob'), approval('carol')], true],
    ['the same person twice is one person', { approvals: 2 }, [approval('bob'), approval('bob')], false],
    ['extra approvals beyond the quorum', { approvals: 2 }, [approval('bob'), approval('carol'), approval('dan')], true],
    ['enough people but a required group missing', { approvals: 2, requiredGroups: ['security'] }, [approval('bob', ['dev']), approval('carol', ['dev'])], false],
    ['enough people and the required group', { approvals: 2, requiredGroups: ['security'] }, [approval('bob', ['dev']), approval('carol', ['security'])], true],
    ['required group covered but too few people', { approvals: 2, requiredGroups: ['security'] }, [approval('carol', ['security'])], false],
    ['two required groups, one person in both, quorum of two', { approvals: 2, requiredGroups: ['security', 'sre'] }, [approval('bob', ['security', 'sre']), approval('carol')], true],
    ['two required groups, one uncovered', { approvals: 2, requiredGroups: ['security', 'sre'] }, [approval('bob', ['security']), approval('carol', ['dev'])], false],
    ['extra approval supplies the missing group', { approvals: 2, requiredGroups: ['security'] }, [approval('bob'), approval('carol'), approval('erin', ['security'])], true],
  ])('%s → %s', (_label, rule, approvals, expected) => {
    expect(quorumMet(tier(rule), approvals)).toBe(expected);
  });
});

describe('approvedDigest', () => {
  it.each<[string, Approval[], string | undefined]>([
    ['no approvals', [], undefined],
    ['one approval', [approval('bob')], DIGEST],
    ['all approvals name the same digest', [approval('bob'), approval('carol')], DIGEST],
    ['approvals disagree', [approval('bob'), approval('carol', [], OTHER_DIGEST)], undefined],
  ])('%s → %s', (_label, approvals, expected) => {
    expect(approvedDigest(approvals)).toBe(expected);
  });
});
