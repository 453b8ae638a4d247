// What the table tests of the gate's pure decisions share: a request for a two-person tier
// whose change alice wrote, people by login, and approvals of its digest.

import type { Approval, DeploymentRequest, Person, TierRule } from '../../policy/types';

export const DIGEST = `sha256:${'a'.repeat(64)}`;
export const OTHER_DIGEST = `sha256:${'b'.repeat(64)}`;
export const REQUESTED_AT = '2030-01-01T00:00:00.000Z';
export const EXPIRES_AT = '2030-01-02T00:00:00.000Z';
export const NOW = Date.parse('2030-01-01T12:00:00.000Z');

export function tier(overrides: Partial<TierRule> = {}): TierRule {
  return { tier: 'high', approvals: 2, requiredGroups: [], eligibleGroups: [], expiresAfterMs: 86_400_000, ...overrides };
}

export function person(id: string, groups: string[] = [], identities: string[] = [`login:${id}`]): Person {
  return { id, identities, groups };
}

export function request(rule: Partial<TierRule> = {}): DeploymentRequest {
  return {
    id: 'dep-1',
    service: 'pay-api',
    environment: 'production',
    artifact: { name: 'pay-api', digest: DIGEST },
    change: { commit: 'c0ffee', authors: ['alice@example.com'] },
    requester: person('pipeline-ci', [], ['subject:ci']),
    excluded: { principalIds: ['alice'], identities: ['email:alice@example.com', 'login:alice'] },
    rule: { ...tier(rule), deployer: 'log', policyHash: 'hash', ruleIndex: 0 },
    requestedAt: REQUESTED_AT,
    expiresAt: EXPIRES_AT,
  };
}

export function approval(approver: string, groups: string[] = [], digest = DIGEST): Approval {
  return { approver, at: REQUESTED_AT, digest, groups };
}
