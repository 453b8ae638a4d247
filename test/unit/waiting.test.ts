import { waitingFor, type WaitingState } from '../../policy/waiting';
import type { Approval, DeploymentRequest, Person } from '../../policy/types';
import { approval, EXPIRES_AT, NOW, person, request } from './gate-fixtures';

const state = (approvals: Approval[] = [], status: WaitingState['status'] = 'PENDING'): WaitingState => ({ status, approvals });
const APPROVER = ['approver'];

const bob = person('bob', ['dev']);
const carol = person('carol', ['security']);
const dave = person('dave', ['sre']);

describe('waitingFor: is this deployment waiting for this person?', () => {
  it.each<[string, DeploymentRequest, WaitingState, Person, string[], number, string]>([
    ['an approver, nothing approved yet', request(), state(), bob, APPROVER, NOW, 'WAITING'],
    ['one of two approvals given by someone else', request(), state([approval('erin')]), bob, APPROVER, NOW, 'WAITING'],
    ['a principal without the approver role (a pipeline)', request(), state(), bob, ['pipeline'], NOW, 'NOT_APPROVER'],
    ['an admin who is not an approver', request(), state(), bob, ['admin'], NOW, 'NOT_APPROVER'],
    ['an approver who is also admin', request(), state(), bob, ['admin', 'approver'], NOW, 'WAITING'],
    ['APPROVED already', request(), state([], 'APPROVED'), bob, APPROVER, NOW, 'NOT_PENDING'],
    ['DEPLOYED', request(), state([], 'DEPLOYED'), bob, APPROVER, NOW, 'NOT_PENDING'],
    ['REJECTED', request(), state([], 'REJECTED'), bob, APPROVER, NOW, 'NOT_PENDING'],
    ['past expiresAt though still PENDING in the index', request(), state(), bob, APPROVER, Date.parse(EXPIRES_AT), 'EXPIRED'],
    ['the author by principal id', request(), state(), person('alice'), APPROVER, NOW, 'AUTHOR'],
    ['the author under another account with her email', request(), state(), person('alice-2', [], ['email:alice@example.com']), APPROVER, NOW, 'AUTHOR'],
    ['the author by login', request(), state(), person('al', [], ['login:alice']), APPROVER, NOW, 'AUTHOR'],
    ['the requesting principal', request(), state(), person('pipeline-ci'), APPROVER, NOW, 'REQUESTER'],
    ['not in eligibleGroups', request({ eligibleGroups: ['sre'] }), state(), bob, APPROVER, NOW, 'NOT_ELIGIBLE'],
    ['in eligibleGroups', request({ eligibleGroups: ['sre'] }), state(), dave, APPROVER, NOW, 'WAITING'],
    ['no group at all, eligibleGroups set', request({ eligibleGroups: ['sre'] }), state(), person('x'), APPROVER, NOW, 'NOT_ELIGIBLE'],
    ['already approved by them', request(), state([approval('bob', ['dev'])]), bob, APPROVER, NOW, 'ALREADY_APPROVED'],
    ['requiredGroups missing, two more needed: anyone counts', request({ requiredGroups: ['security'] }), state(), bob, APPROVER, NOW, 'WAITING'],
    ['one more needed and it must be security: a non-member is not needed', request({ requiredGroups: ['security'] }), state([approval('erin')]), bob, APPROVER, NOW, 'NOT_NEEDED'],
    ['one more needed and it must be security: a member is', request({ requiredGroups: ['security'] }), state([approval('erin')]), carol, APPROVER, NOW, 'WAITING'],
    ['three needed, two groups missing: anyone counts', request({ approvals: 3, requiredGroups: ['security', 'sre'] }), state(), bob, APPROVER, NOW, 'WAITING'],
    ['two needed, two groups missing: only members', request({ approvals: 2, requiredGroups: ['security', 'sre'] }), state(), bob, APPROVER, NOW, 'NOT_NEEDED'],
    ['two needed, two groups missing: a member of one', request({ approvals: 2, requiredGroups: ['security', 'sre'] }), state(), dave, APPROVER, NOW, 'WAITING'],
    ['count met, security missing: a non-member is not needed', request({ requiredGroups: ['security'] }), state([approval('erin'), approval('frank')]), bob, APPROVER, NOW, 'NOT_NEEDED'],
    ['count met, security missing: a security member is', request({ requiredGroups: ['security'] }), state([approval('erin'), approval('frank')]), carol, APPROVER, NOW, 'WAITING'],
    ['count met, security covered: nothing more needed (quorum reached)', request({ requiredGroups: ['security'] }), state([approval('erin'), approval('carol2', ['security'])]), carol, APPROVER, NOW, 'NOT_NEEDED'],
    ['two required groups, one covered, member of the other', request({ approvals: 1, requiredGroups: ['security', 'sre'] }), state([approval('carol2', ['security'])]), dave, APPROVER, NOW, 'WAITING'],
    ['two required groups, one covered, member of the covered one only', request({ approvals: 1, requiredGroups: ['security', 'sre'] }), state([approval('carol2', ['security'])]), carol, APPROVER, NOW, 'NOT_NEEDED'],
  ])('%s', (_title, req, gateState, who, roles, now, expected) => {
    const verdict = waitingFor(req, gateState, who, roles, now);
    expect(verdict.waiting ? 'WAITING' : verdict.why).toBe(expected);
  });
});
