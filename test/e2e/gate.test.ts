// The gate end to end: HTTP API, real Temporal, real PostgreSQL, real worker.

import { type Cast, createPrincipal, deploymentBody, digestOf, eventually, useStandardCast, waitForStatus } from '../support/fixtures';

let cast: Cast;
useStandardCast((_, people) => (cast = people));

describe('a production deployment on the high tier', () => {
  let deployment: any;
  const body = deploymentBody();

  it('is created PENDING, with the tier and count from the policy', async () => {
    const response = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(response.status).toBe(201);
    deployment = response.body;
    expect(deployment).toMatchObject({
      status: 'PENDING',
      tier: 'high',
      requiredApprovals: 2,
      workflowId: `deployment-${deployment.id}`,
      artifact: body.artifact,
    });
    expect(Date.parse(deployment.expiresAt) - Date.parse(deployment.requestedAt)).toBe(24 * 3_600_000);
    expect(response.headers.get('location')).toBe(`/v1/deployments/${deployment.id}`);
  });

  it('refuses the author, with a problem document that says why', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.alice.token, { digest: body.artifact.digest });
    expect(response.status).toBe(403);
    expect(response.contentType).toContain('application/problem+json');
    expect(response.body).toMatchObject({ status: 403, reason: 'AUTHOR' });
    expect(response.body.detail).toContain('author');
  });

  it('refuses a pipeline on the approval route', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.ci.token, { digest: body.artifact.digest });
    expect(response.status).toBe(403);
    expect(response.body.detail).toMatch(/needs approver/);
  });

  it('refuses the requesting principal even when it also holds the approver role', async () => {
    const bot = await createPrincipal(cast.http, cast.admin, { id: 'release-bot', roles: ['pipeline', 'approver'] });
    const own = deploymentBody();
    const { body: created } = await cast.http.post('/v1/deployments', bot.token, own);
    const response = await cast.http.post(`/v1/deployments/${created.id}/approvals`, bot.token, { digest: own.artifact.digest });
    expect(response.status).toBe(403);
    expect(response.body.reason).toBe('REQUESTER');
  });

  it('refuses an approval of another digest', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.bob.token, { digest: digestOf('something else') });
    expect(response.status).toBe(409);
    expect(response.body.reason).toBe('DIGEST_MISMATCH');
  });

  it('counts a good approval and answers the deployment as it stands', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.bob.token, { digest: body.artifact.digest, comment: 'looks good' });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('PENDING');
    expect(response.body.approvals).toEqual([
      expect.objectContaining({ approver: 'bob', digest: body.artifact.digest, comment: 'looks good' }),
    ]);
  });

  it('counts one person once', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
    expect(response.status).toBe(409);
    expect(response.body.reason).toBe('DUPLICATE');
    expect(response.body.deployment.approvals).toHaveLength(1);
  });

  it('is approved by the second person, then deployed with exactly the approved digest', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.erin.token, { digest: body.artifact.digest });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('APPROVED');
    const done = await waitForStatus(cast.http, cast.ci.token, deployment.id, ['DEPLOYED', 'FAILED']);
    expect(done.status).toBe('DEPLOYED');
    expect(done.deploy).toMatchObject({ ok: true, deployer: 'log', digest: body.artifact.digest });
    expect(done.approvals.map((a: any) => a.approver)).toEqual(['bob', 'erin']);
  });

  it('refuses answers once the request is decided', async () => {
    const response = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.carol.token, { digest: body.artifact.digest });
    expect(response.status).toBe(409);
    expect(response.body.reason).toBe('NOT_PENDING');
  });

  it('keeps every attempt, refused ones included, in the audit trail', async () => {
    const events = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${deployment.id}`, cast.admin)).body.events as any[],
      (list) => list.some((event) => event.type === 'approval.refused' && event.actor === 'carol'),
    );
    const summary = events.map((event) => `${event.type}:${event.actor}:${event.outcome ?? ''}${event.reason && event.outcome === 'refused' ? `:${event.reason}` : ''}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        'deployment.requested:ci:PENDING',
        'approval.refused:alice:refused:AUTHOR',
        'approval.refused:bob:refused:DIGEST_MISMATCH',
        'approval.accepted:bob:accepted',
        'approval.refused:bob:refused:DUPLICATE',
        'approval.accepted:erin:accepted',
        'deployment.decided:countersign:APPROVED',
        'deploy.started:countersign:',
        'deploy.succeeded:countersign:DEPLOYED',
        'deployment.decided:countersign:DEPLOYED',
        'approval.refused:carol:refused:NOT_PENDING',
      ]),
    );
    const verify = await cast.http.get('/v1/audit/verify', cast.admin);
    expect(verify.body).toMatchObject({ ok: true });
  });

  it('lists it, newest first, filtered by service, environment and status', async () => {
    // The listing index follows the workflow just behind the gate.
    const response = await eventually(
      () => cast.http.get('/v1/deployments?service=web&environment=production&status=DEPLOYED', cast.admin),
      (r) => r.body.deployments.some((d: any) => d.id === deployment.id),
    );
    expect(response.status).toBe(200);
    expect(response.body.deployments.map((d: any) => d.id)).toContain(deployment.id);
    expect(response.body.deployments.every((d: any) => d.status === 'DEPLOYED')).toBe(true);
  });
});

describe('idempotent requests', () => {
  it('answers the same deployment (200) for the same requestId', async () => {
    const body = deploymentBody({ requestId: 'build-1234' });
    const first = await cast.http.post('/v1/deployments', cast.ci.token, body);
    const second = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
  });

  it('refuses the same requestId for a different deployment', async () => {
    await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ requestId: 'build-5678' }));
    const reuse = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ requestId: 'build-5678' }));
    expect(reuse.status).toBe(409);
    expect(reuse.body.detail).toContain('requestId');
  });

  it('keeps two pipelines\' equal requestIds apart', async () => {
    const a = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ requestId: 'shared' }));
    const b = await cast.http.post('/v1/deployments', cast.otherCi.token, deploymentBody({ requestId: 'shared' }));
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.id).not.toBe(b.body.id);
  });
});

describe('tiers from the policy', () => {
  it('puts pay-* in production on the critical tier, which needs a security approver', async () => {
    const body = deploymentBody({ service: 'pay-api' });
    const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(created.body).toMatchObject({ tier: 'critical', requiredApprovals: 2, requiredGroups: ['security'] });
    const id = created.body.id;
    await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
    const second = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.erin.token, { digest: body.artifact.digest });
    expect(second.status).toBe(200);
    expect(second.body.status).toBe('PENDING'); // two people, but nobody from security
    const third = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.carol.token, { digest: body.artifact.digest });
    expect(third.body.status).toBe('APPROVED');
    await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED']);
  });

  it('lets only eligible groups answer on a tier with eligibleGroups', async () => {
    const body = deploymentBody({ service: 'ops-tool', environment: 'staging' });
    const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(created.body.tier).toBe('ops');
    const bob = await cast.http.post(`/v1/deployments/${created.body.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
    expect(bob.status).toBe(403);
    expect(bob.body.reason).toBe('NOT_ELIGIBLE');
    const dave = await cast.http.post(`/v1/deployments/${created.body.id}/approvals`, cast.dave.token, { digest: body.artifact.digest });
    expect(dave.body.status).toBe('APPROVED');
  });

  it('takes a stricter minimumTier, never a laxer one', async () => {
    const stricter = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging', minimumTier: 'high' }));
    expect(stricter.body).toMatchObject({ tier: 'high', requiredApprovals: 2 });
    const laxer = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ minimumTier: 'low' }));
    expect(laxer.body).toMatchObject({ tier: 'high', requiredApprovals: 2 });
  });
});

describe('endings other than DEPLOYED', () => {
  it('ends REJECTED on one eligible rejection, and deploys nothing', async () => {
    const body = deploymentBody();
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
    const rejection = await cast.http.post(`/v1/deployments/${created.id}/rejections`, cast.bob.token, { comment: 'not today' });
    expect(rejection.status).toBe(200);
    expect(rejection.body.status).toBe('REJECTED');
    expect(rejection.body.decision).toMatchObject({ status: 'REJECTED', by: 'bob' });
    const final = await waitForStatus(cast.http, cast.admin, created.id, ['REJECTED']);
    expect(final.deploy).toBeUndefined();
  });

  it('refuses a rejection by the author', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    const rejection = await cast.http.post(`/v1/deployments/${created.id}/rejections`, cast.alice.token, {});
    expect(rejection.status).toBe(403);
    expect(rejection.body.reason).toBe('AUTHOR');
  });

  it('ends CANCELLED when the requesting pipeline cancels; another pipeline may not', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    // Another pipeline may not even see the request: 404, as for GET, and nothing of it shown.
    const other = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.otherCi.token, {});
    expect(other.status).toBe(404);
    expect(other.body.deployment).toBeUndefined();
    expect(JSON.stringify(other.body)).not.toContain(created.artifact.digest);
    const cancel = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.ci.token, { reason: 'superseded' });
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('CANCELLED');
    const approve = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: created.artifact.digest });
    expect(approve.status).toBe(409);
  });

  it('lets an admin cancel', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    const cancel = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.admin, {});
    expect(cancel.body.status).toBe('CANCELLED');
  });
});

describe('who sees what', () => {
  it('shows a pipeline its own requests only', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    expect((await cast.http.get(`/v1/deployments/${created.id}`, cast.otherCi.token)).status).toBe(404);
    const list = await cast.http.get('/v1/deployments', cast.otherCi.token);
    expect(list.body.deployments.every((d: any) => d.requestedBy === 'other-ci')).toBe(true);
    expect((await cast.http.get(`/v1/deployments/${created.id}`, cast.bob.token)).status).toBe(200);
  });
});
