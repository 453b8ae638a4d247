// Who may do what: pipelines within their scopes, tiers only made stricter by a request, and
// break-glass overrides that are recorded and demand a retrospective review.
// HTTP API, real Temporal, real PostgreSQL, real worker.
//
// A revoked token is refused at once: see test/e2e/api-contract.test.ts, "issues, lists
// (without secrets) and revokes tokens; a revoked token is refused at once".

import { DEFAULT_POLICY, type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, eventually, type Person, waitForStatus } from '../support/fixtures';
import { Http } from '../support/http';

// The default policy, plus a tier whose window is short enough to watch a review fall overdue.
const POLICY = DEFAULT_POLICY.replace(
  'tiers:\n',
  'tiers:\n  flash:    { approvals: 2, expiresAfter: 2s }\n',
).replace('rules:\n', 'rules:\n  - { service: "flash-*", tier: flash }\n');

let harness: Harness;
let http: Http;
let admin: string;
let ci: Person;
let alice: Person;
let bob: Person;
let erin: Person;
let olivia: Person;
let mallory: Person;

beforeAll(async () => {
  harness = await startCountersign({ policy: POLICY });
  http = new Http(harness.url);
  admin = harness.adminToken;
  [ci, alice, bob, erin, olivia, mallory] = await Promise.all([
    createPrincipal(http, admin, { id: 'ci', roles: ['pipeline'] }),
    createPrincipal(http, admin, { id: 'alice', roles: ['approver'], emails: ['alice@example.com'] }),
    createPrincipal(http, admin, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'] }),
    createPrincipal(http, admin, { id: 'erin', roles: ['approver'], emails: ['erin@example.com'] }),
    // An admin who is also an approver: may override, may never review her own override.
    createPrincipal(http, admin, { id: 'olivia', roles: ['admin', 'approver'], emails: ['olivia@example.com'] }),
    // An admin who writes code too.
    createPrincipal(http, admin, { id: 'mallory', roles: ['admin'], emails: ['mallory@example.com'] }),
  ]);
});

afterAll(async () => {
  await harness?.close();
});

async function create(token: string, overrides: Record<string, unknown> = {}) {
  const body = deploymentBody(overrides);
  const response = await http.post('/v1/deployments', token, body);
  return { response, body };
}

async function auditTypes(id: string): Promise<any[]> {
  return (await http.get(`/v1/audit?deployment=${id}`, admin)).body.events as any[];
}

describe('a scoped pipeline', () => {
  let scoped: Person;

  beforeAll(async () => {
    const response = await http.post('/v1/principals', admin, {
      id: 'web-staging-ci',
      roles: ['pipeline'],
      scopes: [{ service: 'web-*', environment: 'staging' }],
    });
    expect(response.status).toBe(201);
    expect(response.body.scopes).toEqual([{ service: 'web-*', environment: 'staging' }]);
    scoped = { id: 'web-staging-ci', token: response.body.token };
  });

  it.each<[string, string, string]>([
    ['its services in another environment', 'web-api', 'production'],
    ['another service in its environment', 'payments', 'staging'],
    ['a service that only contains the prefix', 'old-web-api', 'staging'],
    ['another service elsewhere', 'pay-api', 'production'],
  ])('is refused 403 for %s (%s in %s)', async (_label, service, environment) => {
    const { response } = await create(scoped.token, { service, environment });
    expect(response.status).toBe(403);
    expect(response.contentType).toContain('application/problem+json');
    expect(response.body.detail).toContain('web-* in staging');
    expect(response.body.detail).toContain(`not ${service} in ${environment}`);
  });

  it('is refused outside its scope even with a requestId that names an existing request', async () => {
    const inside = await create(scoped.token, { service: 'web-api', environment: 'staging', requestId: 'scoped-1' });
    expect(inside.response.status).toBe(201);
    const { response } = await create(scoped.token, { service: 'web-api', environment: 'production', requestId: 'scoped-1' });
    expect(response.status).toBe(403);
  });

  it('is answered 201 inside its scope', async () => {
    const { response } = await create(scoped.token, { service: 'web-frontend', environment: 'staging' });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ status: 'PENDING', service: 'web-frontend', environment: 'staging', requestedBy: 'web-staging-ci' });
  });

  it('an unscoped pipeline may request anywhere', async () => {
    expect((await create(ci.token, { service: 'payments', environment: 'production' })).response.status).toBe(201);
  });
});

describe('an admin managing people', () => {
  it('leaves every principal and token change on the record, naming the admin and never a secret', async () => {
    const created = await http.post('/v1/principals', mallory.token, { id: 'sock-puppet', roles: ['approver'], emails: ['puppet@example.com'] });
    expect(created.status).toBe(201);
    const issued = await http.post('/v1/principals/bob/tokens', mallory.token, { expiresIn: '1h' });
    expect(issued.status).toBe(201);
    const patched = await http.request('PATCH', '/v1/principals/sock-puppet', { token: mallory.token, body: { groups: ['security'] } });
    expect(patched.status).toBe(200);
    const revoked = await http.request('DELETE', `/v1/principals/bob/tokens/${issued.body.id}`, { token: mallory.token });
    expect(revoked.status).toBe(204);

    const events = await eventually(
      async () => (await http.get('/v1/audit?actor=mallory', admin)).body.events as any[],
      (list) => list.some((e) => e.type === 'token.revoked'),
    );
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['principal.created', 'token.issued', 'principal.updated', 'token.revoked']));
    expect(events).toContainEqual(expect.objectContaining({ type: 'token.issued', data: expect.objectContaining({ principal: 'bob', tokenId: issued.body.id }) }));
    expect(events).toContainEqual(expect.objectContaining({ type: 'principal.updated', data: expect.objectContaining({ id: 'sock-puppet', patch: { groups: ['security'] } }) }));
    const text = JSON.stringify(events);
    expect(text).not.toContain(created.body.token);
    expect(text).not.toContain(issued.body.token);
  });
});

describe('the gate, not the database or the admin role, decides', () => {
  it('refuses an approval from an admin without the approver role', async () => {
    const { response, body } = await create(ci.token);
    const approval = await http.post(`/v1/deployments/${response.body.id}/approvals`, admin, { digest: body.artifact.digest });
    expect(approval.status).toBe(403);
    expect(approval.body.detail).toContain('needs approver');
  });

  it('deploys nothing on approvals forged into the database index', async () => {
    const { response, body } = await create(ci.token);
    const id = response.body.id;
    const forged = [{ approver: 'bob', at: new Date().toISOString(), digest: body.artifact.digest, groups: [] },
      { approver: 'erin', at: new Date().toISOString(), digest: body.artifact.digest, groups: [] }];
    await harness.dataSource.query(
      `UPDATE deployments SET status = 'APPROVED', view = jsonb_set(jsonb_set(view, '{status}', '"APPROVED"'), '{approvals}', $2::jsonb) WHERE id = $1`,
      [id, JSON.stringify(forged)],
    );
    // The workflow holds the gate's state: it answers, and it has seen no approval.
    const view = (await http.get(`/v1/deployments/${id}`, admin)).body;
    expect(view).toMatchObject({ status: 'PENDING', approvals: [] });
    const bobApproves = await http.post(`/v1/deployments/${id}/approvals`, bob.token, { digest: body.artifact.digest });
    expect(bobApproves.status).toBe(200);
    expect(bobApproves.body).toMatchObject({ status: 'PENDING', approvals: [expect.objectContaining({ approver: 'bob' })] });
    expect(bobApproves.body.deploy).toBeUndefined();
  });
});

describe('minimumTier', () => {
  it('ignores a laxer tier: the policy\'s tier stays', async () => {
    const { response } = await create(ci.token, { service: 'pay-api', environment: 'production', minimumTier: 'low' });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ tier: 'critical', requiredApprovals: 2, requiredGroups: ['security'] });
    expect(Date.parse(response.body.expiresAt) - Date.parse(response.body.requestedAt)).toBe(8 * 3_600_000);
  });

  it('takes a stricter tier', async () => {
    const { response } = await create(ci.token, { environment: 'staging', minimumTier: 'critical' });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ tier: 'critical', requiredApprovals: 2, requiredGroups: ['security'] });
  });

  it('takes the stricter of the two on every axis when neither covers the other', async () => {
    // ops: 1 approval from sre within 2h; high: 2 approvals within 24h.
    const { response } = await create(ci.token, { service: 'ops-tool', environment: 'staging', minimumTier: 'high' });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ tier: 'ops+high', requiredApprovals: 2, eligibleGroups: ['sre'] });
    expect(Date.parse(response.body.expiresAt) - Date.parse(response.body.requestedAt)).toBe(2 * 3_600_000);
  });
});

describe('break-glass override', () => {
  let deployment: any;
  const reason = 'INC-4242: payments down, hotfix cannot wait for a second approver';

  beforeAll(async () => {
    const { response } = await create(ci.token);
    expect(response.body).toMatchObject({ status: 'PENDING', tier: 'high', requiredApprovals: 2 });
    deployment = response.body;
  });

  it('is refused to a non-admin', async () => {
    const response = await http.post(`/v1/deployments/${deployment.id}/override`, bob.token, { reason });
    expect(response.status).toBe(403);
    expect(response.body.detail).toContain('admin');
  });

  it('is refused without a reason (422)', async () => {
    const none = await http.post(`/v1/deployments/${deployment.id}/override`, admin, {});
    expect(none.status).toBe(422);
    expect(none.body.detail).toContain('reason is required');
    const short = await http.post(`/v1/deployments/${deployment.id}/override`, admin, { reason: 'because' });
    expect(short.status).toBe(422);
  });

  it('is refused to an admin who is an author of the change', async () => {
    const { response } = await create(ci.token, {
      change: { commit: 'c'.repeat(40), authors: ['bob@example.com', 'Co-authored-by: M <Mallory+hotfix@example.com>'] },
    });
    const refused = await http.post(`/v1/deployments/${response.body.id}/override`, mallory.token, { reason });
    expect(refused.status).toBe(403);
    expect(refused.body.reason).toBe('AUTHOR');
    expect(refused.body.deployment.status).toBe('PENDING');
    expect(refused.body.deployment.override).toBeUndefined();
  });

  it('lets an admin approve a PENDING request with no approvals, recording who and why', async () => {
    const response = await http.post(`/v1/deployments/${deployment.id}/override`, olivia.token, { reason });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('APPROVED');
    expect(response.body.approvals).toEqual([]);
    expect(response.body.override).toMatchObject({ by: 'olivia', reason, approvalsAtOverride: 0, reviewOverdue: false });
    expect(Date.parse(response.body.override.reviewDueBy)).toBeGreaterThan(Date.now());
    expect(response.body.decision.reason).toContain('OVERRIDDEN');
    expect(response.body.decision.by).toBe('olivia');
  });

  it('then deploys exactly the requested digest', async () => {
    const done = await waitForStatus(http, admin, deployment.id, ['DEPLOYED', 'FAILED']);
    expect(done.status).toBe('DEPLOYED');
    expect(done.deploy).toMatchObject({ ok: true, digest: deployment.artifact.digest });
    expect(done.override).toMatchObject({ by: 'olivia', reason, reviewDueBy: expect.any(String) });
    expect(done.decision.status).toBe('DEPLOYED');
  });

  it('is in the audit trail and the listing', async () => {
    const events = await eventually(() => auditTypes(deployment.id), (list) => list.some((e) => e.type === 'deployment.overridden'));
    expect(events).toContainEqual(expect.objectContaining({ type: 'deployment.overridden', actor: 'olivia', reason }));
    const listed = await eventually(
      () => http.get('/v1/deployments?overridden=true', admin),
      (r) => r.body.deployments.some((d: any) => d.id === deployment.id),
    );
    expect(listed.body.deployments.every((d: any) => d.override)).toBe(true);
  });

  it('cannot be repeated once the request is decided', async () => {
    const again = await http.post(`/v1/deployments/${deployment.id}/override`, admin, { reason });
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe('NOT_PENDING');
  });

  describe('its retrospective review', () => {
    it('is refused to the overrider', async () => {
      const response = await http.post(`/v1/deployments/${deployment.id}/review`, olivia.token, { comment: 'fine by me' });
      expect(response.status).toBe(403);
      expect(response.body.reason).toBe('OVERRIDER');
    });

    it('is refused to the author', async () => {
      const response = await http.post(`/v1/deployments/${deployment.id}/review`, alice.token, {});
      expect(response.status).toBe(403);
      expect(response.body.reason).toBe('AUTHOR');
    });

    it('is refused to a pipeline', async () => {
      expect((await http.post(`/v1/deployments/${deployment.id}/review`, ci.token, {})).status).toBe(403);
    });

    it('is accepted from an eligible approver, and recorded', async () => {
      const response = await http.post(`/v1/deployments/${deployment.id}/review`, bob.token, { comment: 'hotfix was right' });
      expect(response.status).toBe(200);
      expect(response.body.override.review).toMatchObject({ by: 'bob', comment: 'hotfix was right', late: false });
      const events = await eventually(() => auditTypes(deployment.id), (list) => list.some((e) => e.type === 'override.reviewed'));
      expect(events).toContainEqual(expect.objectContaining({ type: 'override.reviewed', actor: 'bob', outcome: 'in-time' }));
      const view = await eventually(
        async () => (await http.get(`/v1/deployments/${deployment.id}`, admin)).body,
        (d) => d.override?.review?.by === 'bob',
      );
      expect(view.override.reviewOverdue).toBe(false);
    });

    it('is refused a second time (409 ALREADY_REVIEWED)', async () => {
      const response = await http.post(`/v1/deployments/${deployment.id}/review`, erin.token, {});
      expect(response.status).toBe(409);
      expect(response.body.reason).toBe('ALREADY_REVIEWED');
      expect(response.body.detail).toContain('bob');
    });
  });

  it('a review of a deployment that was not overridden is refused (409 NOT_OVERRIDDEN)', async () => {
    const { response: pending } = await create(ci.token);
    const onPending = await http.post(`/v1/deployments/${pending.body.id}/review`, bob.token, {});
    expect(onPending.status).toBe(409);
    expect(onPending.body.reason).toBe('NOT_OVERRIDDEN');

    const { response: normal, body } = await create(ci.token, { environment: 'staging' });
    const approved = await http.post(`/v1/deployments/${normal.body.id}/approvals`, bob.token, { digest: body.artifact.digest });
    expect(approved.body.status).toBe('APPROVED');
    await waitForStatus(http, admin, normal.body.id, ['DEPLOYED']);
    const onDeployed = await http.post(`/v1/deployments/${normal.body.id}/review`, erin.token, {});
    expect(onDeployed.status).toBe(409);
    expect(onDeployed.body.reason).toBe('NOT_OVERRIDDEN');
  });

  it('falls overdue when nobody reviews it in the tier\'s window; a late review is still taken, and marked late', async () => {
    const { response } = await create(ci.token, { service: 'flash-api' });
    expect(response.body).toMatchObject({ tier: 'flash', requiredApprovals: 2 });
    const id = response.body.id;
    const overridden = await http.post(`/v1/deployments/${id}/override`, olivia.token, { reason });
    expect(overridden.status).toBe(200);
    expect(Date.parse(overridden.body.override.reviewDueBy) - Date.parse(overridden.body.override.at)).toBe(2_000);
    await waitForStatus(http, admin, id, ['DEPLOYED']);

    const overdue = await eventually(
      () => http.get('/v1/deployments?reviewOverdue=true', admin),
      (r) => r.body.deployments.some((d: any) => d.id === id),
    );
    expect(overdue.body.deployments.every((d: any) => d.override?.reviewOverdue === true && !d.override.review)).toBe(true);
    const view = (await http.get(`/v1/deployments/${id}`, admin)).body;
    expect(view.override).toMatchObject({ by: 'olivia', reviewOverdue: true });
    expect(view.override.review).toBeUndefined();
    const events = await eventually(() => auditTypes(id), (list) => list.some((e) => e.type === 'override.review.overdue'));
    expect(events).toContainEqual(expect.objectContaining({ type: 'override.review.overdue', outcome: 'overdue' }));

    const late = await http.post(`/v1/deployments/${id}/review`, erin.token, { comment: 'reviewed after the fact' });
    expect(late.status).toBe(200);
    expect(late.body.override.review).toMatchObject({ by: 'erin', late: true });
    const reviewed = await eventually(() => auditTypes(id), (list) => list.some((e) => e.type === 'override.reviewed'));
    expect(reviewed).toContainEqual(expect.objectContaining({ type: 'override.reviewed', actor: 'erin', outcome: 'late' }));
    await eventually(
      () => http.get('/v1/deployments?reviewOverdue=true', admin),
      (r) => !r.body.deployments.some((d: any) => d.id === id),
    );
  });
});
