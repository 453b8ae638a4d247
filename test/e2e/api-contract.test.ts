// The rest of the HTTP contract: identity and tokens, errors as problem documents, the audit
// trail's routes, the policy reload, health and docs.

import { DEFAULT_POLICY, type Harness, startCountersign } from '../support/harness';
import { type Cast, deploymentBody, eventually, useStandardCast } from '../support/fixtures';
import { writeFileSync, readFileSync } from 'node:fs';

let harness: Harness;
let cast: Cast;
useStandardCast((started, people) => ((harness = started), (cast = people)));

function expectProblem(response: { status: number; contentType: string; body: any }, status: number) {
  expect(response.status).toBe(status);
  expect(response.contentType).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  expect(response.body.detail.length).toBeGreaterThan(10);
}

describe('authentication and roles', () => {
  it('answers 401 without a token, and with an unknown one', async () => {
    expectProblem(await cast.http.get('/v1/deployments'), 401);
    const unknown = await cast.http.get('/v1/deployments', 'cs_not-a-real-token');
    expectProblem(unknown, 401);
    expect(unknown.headers.get('www-authenticate')).toContain('Bearer');
    expectProblem(await cast.http.request('GET', '/v1/deployments', { headers: { authorization: 'Basic abc' } }), 401);
  });

  it('answers 403 to a principal without the route\'s role', async () => {
    const response = await cast.http.post('/v1/deployments', cast.bob.token, deploymentBody());
    expectProblem(response, 403);
    expect(response.body.detail).toContain('pipeline');
    expectProblem(await cast.http.get('/v1/audit', cast.ci.token), 403);
    expectProblem(await cast.http.post('/v1/principals', cast.bob.token, { id: 'x', roles: ['admin'] }), 403);
  });

  it('keeps health, readiness, metrics and docs public', async () => {
    expect((await cast.http.get('/healthz')).status).toBe(200);
    expect((await cast.http.get('/readyz')).body).toMatchObject({ ok: true, checks: { database: 'ok', temporal: 'ok' } });
    const metrics = await cast.http.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('countersign_http_requests_total');
    expect((await cast.http.get('/docs')).status).toBe(200);
    const spec = await cast.http.get('/docs/openapi.json');
    expect(spec.body.openapi).toMatch(/^3\./);
    for (const route of ['/v1/deployments', '/v1/deployments/{id}/approvals', '/v1/deployments/{id}/rejections', '/v1/deployments/{id}/cancel', '/v1/principals', '/v1/principals/{id}/tokens/{tokenId}', '/v1/audit', '/v1/audit/verify']) {
      expect(Object.keys(spec.body.paths)).toContain(route);
    }
  });

  it('identity comes from the token, never from the body', async () => {
    const body = deploymentBody();
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
    // The author tries to pass as bob through the body: the field is refused outright.
    const forged = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.alice.token, { digest: body.artifact.digest, approver: 'bob' });
    expectProblem(forged, 422);
    expect(forged.body.detail).toContain('approver is not a known field');
  });
});

describe('principals and tokens', () => {
  it('creates a principal and answers its token once', async () => {
    const response = await cast.http.post('/v1/principals', cast.admin, {
      id: 'frank', displayName: 'Frank', emails: ['frank@example.com'], roles: ['approver'], groups: ['sre'],
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ id: 'frank', token: expect.stringMatching(/^cs_/) });
    const shown = await cast.http.get('/v1/principals/frank', cast.admin);
    expect(shown.body).toMatchObject({ id: 'frank', displayName: 'Frank', emails: ['frank@example.com'], groups: ['sre'] });
    expect(JSON.stringify(shown.body)).not.toContain(response.body.token);
    expect((await cast.http.get('/v1/deployments', response.body.token)).status).toBe(200);
  });

  it('refuses a duplicate id, and an identity that already belongs to someone else', async () => {
    expectProblem(await cast.http.post('/v1/principals', cast.admin, { id: 'frank', roles: ['approver'] }), 409);
    const taken = await cast.http.post('/v1/principals', cast.admin, { id: 'frank2', roles: ['approver'], emails: ['Frank@Example.com'] });
    expectProblem(taken, 409);
    expect(taken.body.detail).toContain('frank');
  });

  it('issues, lists (without secrets) and revokes tokens; a revoked token is refused at once', async () => {
    const issued = await cast.http.post('/v1/principals/bob/tokens', cast.admin, { expiresIn: '30d' });
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({ id: expect.stringMatching(/^tok_/), token: expect.stringMatching(/^cs_/) });
    expect(Date.parse(issued.body.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await cast.http.get('/v1/deployments', issued.body.token)).status).toBe(200);

    const listed = await cast.http.get('/v1/principals/bob/tokens', cast.admin);
    expect(listed.body.tokens.map((t: any) => t.id)).toContain(issued.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(issued.body.token);

    const revoke = await cast.http.request('DELETE', `/v1/principals/bob/tokens/${issued.body.id}`, { token: cast.admin });
    expect(revoke.status).toBe(204);
    expectProblem(await cast.http.get('/v1/deployments', issued.body.token), 401);
    expectProblem(await cast.http.request('DELETE', '/v1/principals/bob/tokens/tok_nope', { token: cast.admin }), 404);
  });

  it('refuses an expired token', async () => {
    const issued = await cast.http.post('/v1/principals/erin/tokens', cast.admin, { expiresIn: '1s' });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const response = await cast.http.get('/v1/deployments', issued.body.token);
    expectProblem(response, 401);
    expect(response.body.detail).toContain('expired');
  });

  it('updates a principal\'s identities and groups', async () => {
    const patched = await cast.http.request('PATCH', '/v1/principals/erin', { token: cast.admin, body: { groups: ['security'], logins: ['erin-gh'] } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ groups: ['security'], logins: ['erin-gh'] });
    expectProblem(await cast.http.request('PATCH', '/v1/principals/nobody', { token: cast.admin, body: { groups: [] } }), 404);
    expectProblem(await cast.http.request('PATCH', '/v1/principals/erin', { token: cast.admin, body: { roles: ['superuser'] } }), 422);
  });
});

describe('bad input never yields a 5xx', () => {
  const cases: Array<[string, string, string | undefined, Record<string, string>, number]> = [
    ['invalid JSON', '{"service": ', undefined, {}, 400],
    ['a JSON array', '[1,2]', undefined, {}, 422],
    ['a JSON string', '"hello"', undefined, {}, 400],
    ['an empty object', '{}', undefined, {}, 422],
    ['text/plain', 'service=web', undefined, { 'content-type': 'text/plain' }, 415],
    ['a bad digest', JSON.stringify(deploymentBody({ artifact: { name: 'x', digest: 'md5:abc' } })), undefined, {}, 422],
    ['a short commit', JSON.stringify(deploymentBody({ change: { commit: 'abc', authors: ['a@example.com'] } })), undefined, {}, 422],
    ['no authors', JSON.stringify(deploymentBody({ change: { commit: 'a'.repeat(40), authors: [] } })), undefined, {}, 422],
    ['an unknown field', JSON.stringify({ ...deploymentBody(), tier: 'low' }), undefined, {}, 422],
    ['an unknown minimumTier', JSON.stringify(deploymentBody({ minimumTier: 'nonexistent' })), undefined, {}, 422],
    ['minimumTier __proto__', JSON.stringify(deploymentBody({ minimumTier: '__proto__' })), undefined, {}, 422],
  ];

  it.each(cases)('POST /v1/deployments with %s', async (_, raw, __, headers, status) => {
    const response = await cast.http.request('POST', '/v1/deployments', { token: cast.ci.token, raw, headers });
    expectProblem(response, status);
  });

  it('names every field at fault', async () => {
    const response = await cast.http.post('/v1/deployments', cast.ci.token, { service: 'web', artifact: { digest: 'nope' } });
    expectProblem(response, 422);
    expect(response.body.detail).toContain('environment is required');
    expect(response.body.detail).toContain('artifact.name is required');
    expect(response.body.detail).toContain('artifact.digest must be `sha256:` followed by 64 lowercase hex characters');
  });

  it('answers 404 for an unknown deployment and an unknown route', async () => {
    expectProblem(await cast.http.get('/v1/deployments/does-not-exist', cast.admin), 404);
    expectProblem(await cast.http.post('/v1/deployments/does-not-exist/approvals', cast.bob.token, { digest: `sha256:${'a'.repeat(64)}` }), 404);
    expectProblem(await cast.http.get('/v1/nothing-here', cast.admin), 404);
  });

  it('answers malformed approvals with 422 and keeps them in the audit trail', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    expectProblem(await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: 'sha256:short' }), 422);
    expectProblem(await cast.http.request('POST', `/v1/deployments/${created.id}/approvals`, { token: cast.bob.token, raw: '{' }), 400);
    const events = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${created.id}&type=approval.refused`, cast.admin)).body.events,
      (list: any[]) => list.length >= 1,
    );
    expect(events[0]).toMatchObject({ actor: 'bob', reason: 'MALFORMED' });
  });

  it('rejects bad filters with 400', async () => {
    expectProblem(await cast.http.get('/v1/deployments?status=DONE', cast.admin), 400);
    expectProblem(await cast.http.get('/v1/deployments?limit=0', cast.admin), 400);
    expectProblem(await cast.http.get('/v1/deployments?before=garbage', cast.admin), 422);
    expectProblem(await cast.http.get('/v1/audit?since=yesterday', cast.admin), 400);
  });
});

describe('the audit trail', () => {
  it('records refused authentication without the presented secret', async () => {
    await cast.http.get('/v1/deployments', 'cs_secret-that-must-not-be-stored');
    const events = await eventually(
      async () => (await cast.http.get('/v1/audit?type=auth.refused', cast.admin)).body.events as any[],
      (list) => list.length > 0,
    );
    expect(JSON.stringify(events)).not.toContain('cs_secret-that-must-not-be-stored');
    expect(events).toContainEqual(expect.objectContaining({ outcome: 'refused', reason: 'unknown token', data: { method: 'GET', path: '/v1/deployments' } }));
    expect(events).toContainEqual(expect.objectContaining({ reason: 'no Authorization header' }));
  });

  it('pages, filters by actor and time, and verifies its hash chain', async () => {
    const first = await cast.http.get('/v1/audit?limit=2', cast.admin);
    expect(first.body.events).toHaveLength(2);
    expect(first.body.next).toBe(String(first.body.events[1].seq));
    const second = await cast.http.get(`/v1/audit?limit=2&after=${first.body.next}`, cast.admin);
    expect(second.body.events[0].seq).toBe(first.body.events[1].seq + 1);
    expect(second.body.events[0].prevHash).toBe(first.body.events[1].hash);
    const byCi = await cast.http.get('/v1/audit?actor=ci', cast.admin);
    expect(byCi.body.events.every((e: any) => e.actor === 'ci')).toBe(true);
    const future = await cast.http.get(`/v1/audit?since=${new Date(Date.now() + 3_600_000).toISOString()}`, cast.admin);
    expect(future.body.events).toEqual([]);
    expect((await cast.http.get('/v1/audit/verify', cast.admin)).body).toMatchObject({ ok: true });
  });

  it('is append-only in the database itself', async () => {
    await expect(harness.dataSource.query(`UPDATE audit_events SET actor = 'mallory'`)).rejects.toThrow(/append-only/);
    await expect(harness.dataSource.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    await expect(harness.dataSource.query('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
  });

  it('names the first broken link when an event is altered behind its back', async () => {
    // Only a superuser disabling the trigger can do this; the chain still gives it away.
    const [{ seq }] = await harness.dataSource.query('SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 3');
    await harness.dataSource.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
    await harness.dataSource.query(`UPDATE audit_events SET actor = 'mallory' WHERE seq = $1`, [seq]);
    await harness.dataSource.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete');
    const verdict = await cast.http.get('/v1/audit/verify', cast.admin);
    expect(verdict.body).toMatchObject({ ok: false, brokenAt: { seq: String(seq) } });
    expect(verdict.body.reason).toContain('altered');
  });
});

describe('the policy', () => {
  it('reloads a valid file for new requests only, and refuses an invalid one naming the key', async () => {
    const { body: before } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }));
    expect(before.tier).toBe('low');
    const original = readFileSync(harness.policyFile, 'utf8');
    writeFileSync(harness.policyFile, original.replace('- { tier: low }', '- { tier: high }'));
    const reload = await cast.http.post('/v1/policy/reload', cast.admin);
    expect(reload.body).toMatchObject({ changed: true });
    const { body: after } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }));
    expect(after.tier).toBe('high');
    expect((await cast.http.get(`/v1/deployments/${before.id}`, cast.admin)).body.tier).toBe('low');

    writeFileSync(harness.policyFile, original.replace('approvals: 2, expiresAfter: 24h', 'approvals: 0, expiresAfter: 24h'));
    const refused = await cast.http.post('/v1/policy/reload', cast.admin);
    expectProblem(refused, 422);
    expect(refused.body.detail).toContain('tiers.high.approvals');
    const { body: still } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }));
    expect(still.tier).toBe('high');
    writeFileSync(harness.policyFile, original);
    await cast.http.post('/v1/policy/reload', cast.admin);
  });
});

describe('rate limiting', () => {
  it('answers 429 after repeated failed authentication from one client', async () => {
    const limited = await startCountersign({ worker: false, authFailuresPerMinute: 20 });
    try {
      const http = new (await import('../support/http')).Http(limited.url);
      let last = 0;
      for (let i = 0; i < 25 && last !== 429; i += 1) last = (await http.get('/v1/deployments', `cs_guess-${i}`)).status;
      expect(last).toBe(429);
      const blocked = await http.get('/v1/deployments', limited.adminToken);
      expectProblem(blocked, 429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });

  it('counts guessed webhook secrets too, against the same budget as tokens', async () => {
    const limited = await startCountersign({
      worker: false,
      authFailuresPerMinute: 5,
      policy: `${DEFAULT_POLICY}git:\n  webhookSecret: the-real-secret\n`,
    });
    try {
      const http = new (await import('../support/http')).Http(limited.url);
      const guess = (i: number) =>
        http.request('POST', '/v1/webhooks/git', { body: { object_kind: 'tag_push' }, headers: { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': `guess-${i}` } });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i += 1) statuses.push((await guess(i)).status);
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      const blocked = await guess(99);
      expectProblem(blocked, 429);
      expect(blocked.body.detail).toContain('webhook secret');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // The right secret waits too, and so does a token from the same client: one budget.
      const right = await http.request('POST', '/v1/webhooks/git', { body: {}, headers: { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': 'the-real-secret' } });
      expect(right.status).toBe(429);
      expect((await http.get('/v1/deployments', limited.adminToken)).status).toBe(429);
    } finally {
      await limited.close();
    }
  });
});

