// GET /v1/deployments?waitingFor=me: what each approver may approve now. HTTP API, real
// Temporal, real PostgreSQL, real worker.

import { type Cast, createPrincipal, deploymentBody, eventually, useStandardCast } from '../support/fixtures';

let cast: Cast;
useStandardCast((_, people) => (cast = people));

const ids = (body: any) => (body.deployments as Array<{ id: string }>).map((d) => d.id);
const waiting = async (token: string, query = '') => {
  const response = await cast.http.get(`/v1/deployments?waitingFor=me${query}`, token);
  expect(response.status).toBe(200);
  return response.body;
};

async function request(overrides: Record<string, unknown> = {}, token = cast.ci.token) {
  const body = deploymentBody(overrides);
  const response = await cast.http.post('/v1/deployments', token, body);
  expect(response.status).toBe(201);
  return { id: response.body.id as string, body };
}

describe('waitingFor=me', () => {
  let web: { id: string; body: any };
  let pay: { id: string; body: any };
  let ops: { id: string; body: any };

  beforeAll(async () => {
    web = await request(); // high: 2 approvals, alice is the author
    pay = await request({ service: 'pay-api', change: { commit: 'a'.repeat(40), authors: ['erin@example.com'] } }); // critical: 2 + security
    ops = await request({ service: 'ops-tool', change: { commit: 'b'.repeat(40), authors: ['bob@example.com'] } }); // ops: sre only
  });

  it('lists, newest first, what an eligible approver may approve', async () => {
    const page = await waiting(cast.bob.token);
    // ops is for sre only, and bob wrote it.
    expect(ids(page)).toEqual([pay.id, web.id]);
    expect(page.next).toBeNull();
  });

  it('never lists a deployment to its author, under another spelling of her identity too', async () => {
    expect(ids(await waiting(cast.alice.token))).toEqual(expect.not.arrayContaining([web.id]));
    const spelled = await request({ change: { commit: 'c'.repeat(40), authors: ['Co-authored-by: A. <ALICE+work@Example.com>'] } });
    expect(ids(await waiting(cast.alice.token))).not.toContain(spelled.id);
    expect(ids(await waiting(cast.bob.token))).toContain(spelled.id);
  });

  it('lists an eligibleGroups tier only to its members', async () => {
    expect(ids(await waiting(cast.dave.token))).toContain(ops.id);
    expect(ids(await waiting(cast.carol.token))).not.toContain(ops.id);
  });

  it('answers a principal that is not an approver an empty page, and never lists to the requester', async () => {
    expect(await waiting(cast.ci.token)).toEqual({ deployments: [], next: null });
    const bot = await createPrincipal(cast.http, cast.admin, { id: 'bot', roles: ['pipeline', 'approver'] });
    const own = await request({}, bot.token);
    expect(ids(await waiting(bot.token))).not.toContain(own.id);
    expect(ids(await waiting(cast.bob.token))).toContain(own.id);
  });

  it('drops a deployment once the person approved it, and offers a full count only to a missing required group', async () => {
    const digest = pay.body.artifact.digest;
    expect((await cast.http.post(`/v1/deployments/${pay.id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    await eventually(() => waiting(cast.bob.token), (page) => !ids(page).includes(pay.id));
    // One more is needed and it must come from security: erin (no group) is no longer waited for.
    expect(ids(await waiting(cast.erin.token))).not.toContain(pay.id);
    expect((await cast.http.post(`/v1/deployments/${pay.id}/approvals`, cast.dave.token, { digest })).status).toBe(200);
    // Two people approved, security is still missing: only a security member is waited for.
    await eventually(() => waiting(cast.alice.token), (page) => !ids(page).includes(pay.id));
    expect(ids(await waiting(cast.carol.token))).toContain(pay.id);
  });

  it('pages with the cursor and combines with service', async () => {
    const more = [await request(), await request(), await request()];
    const first = await waiting(cast.erin.token, '&limit=2');
    expect(ids(first)).toEqual([more[2].id, more[1].id]);
    expect(first.next).toEqual(expect.any(String));
    const second = await waiting(cast.erin.token, `&limit=2&before=${first.next}`);
    expect(ids(second)[0]).toBe(more[0].id);
    expect(ids(await waiting(cast.erin.token, '&service=ops-tool'))).toEqual([]);
    expect(ids(await waiting(cast.dave.token, '&service=ops-tool'))).toEqual([ops.id]);
  });

  it('refuses other values and filters it cannot combine with, with a problem document', async () => {
    const you = await cast.http.get('/v1/deployments?waitingFor=you', cast.bob.token);
    expect(you.status).toBe(400);
    expect(you.contentType).toContain('application/problem+json');
    const mixed = await cast.http.get('/v1/deployments?waitingFor=me&status=DEPLOYED', cast.bob.token);
    expect(mixed.status).toBe(400);
    expect(mixed.body.detail).toContain('waitingFor');
    expect((await cast.http.get('/v1/deployments?waitingFor=me&before=garbage', cast.bob.token)).status).toBe(422);
    expect((await cast.http.get('/v1/deployments?waitingFor=me')).status).toBe(401);
  });
});
