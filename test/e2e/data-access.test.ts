// What the data layer (database/, through TypeORM's entities and query builder) answers over
// HTTP: a token's last use, the listing's pages and visibility, the audit trail's time window.

import { type Cast, createPrincipal, deploymentBody, eventually, useStandardCast } from '../support/fixtures';
import type { Harness } from '../support/harness';

let harness: Harness;
let cast: Cast;
useStandardCast((started, people) => ((harness = started), (cast = people)));

describe('tokens', () => {
  const lastUsed = async (principal: string, tokenId: string): Promise<string | null> => {
    const listed = await cast.http.get(`/v1/principals/${principal}/tokens`, cast.admin);
    return listed.body.tokens.find((token: any) => token.id === tokenId).lastUsedAt;
  };

  it('records when a token was last used, at most once a minute', async () => {
    await createPrincipal(cast.http, cast.admin, { id: 'last-used', roles: ['pipeline'] });
    const issued = await cast.http.post('/v1/principals/last-used/tokens', cast.admin, {});
    expect(issued.status).toBe(201);
    expect(await lastUsed('last-used', issued.body.id)).toBeNull();

    const before = Date.now();
    expect((await cast.http.get('/v1/deployments', issued.body.token)).status).toBe(200);
    const first = await eventually(() => lastUsed('last-used', issued.body.id), (value) => value !== null);
    expect(Date.parse(first!)).toBeGreaterThanOrEqual(before - 1_000);

    // Within the minute, further use writes nothing.
    for (let i = 0; i < 3; i += 1) expect((await cast.http.get('/v1/deployments', issued.body.token)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await lastUsed('last-used', issued.body.id)).toBe(first);

    // A minute on, the next use is recorded again.
    const earlier = new Date(Date.now() - 120_000);
    await harness.dataSource.query('UPDATE tokens SET last_used_at = $2 WHERE id = $1', [issued.body.id, earlier]);
    expect((await cast.http.get('/v1/deployments', issued.body.token)).status).toBe(200);
    const again = await eventually(() => lastUsed('last-used', issued.body.id), (value) => value !== null && Date.parse(value) > earlier.getTime());
    expect(Date.parse(again!)).toBeGreaterThan(Date.parse(first!) - 1);
  });
});

describe('the deployments listing', () => {
  it('pages through a pipeline\'s own requests newest first with the next cursor, none twice, none skipped', async () => {
    const pager = await createPrincipal(cast.http, cast.admin, { id: 'pager', roles: ['pipeline'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const created = await cast.http.post('/v1/deployments', pager.token, deploymentBody({ environment: 'staging' }));
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    // Another pipeline's request is not in the pager's listing.
    expect((await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }))).status).toBe(201);

    const first = await cast.http.get('/v1/deployments?limit=2', pager.token);
    expect(first.status).toBe(200);
    expect(first.body.deployments).toHaveLength(2);
    expect(first.body.next).toEqual(expect.any(String));
    const second = await cast.http.get(`/v1/deployments?limit=2&before=${encodeURIComponent(first.body.next)}`, pager.token);
    expect(second.status).toBe(200);
    expect(second.body.next).toBeNull();
    const listed = [...first.body.deployments, ...second.body.deployments].map((d: any) => d.id);
    expect(listed).toEqual([...ids].reverse());
  });
});

describe('the audit trail listing', () => {
  it('holds a request\'s event as the API answers 201, written with its index row, the workflow writing none again', async () => {
    const created = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }));
    expect(created.status).toBe(201);
    const id = created.body.id;
    // No wait: the API wrote it before answering.
    const trail = await cast.http.get(`/v1/audit?deployment=${id}`, cast.admin);
    expect(trail.body.events.map((event: any) => [event.id, event.type, event.actor, event.outcome])).toEqual([[`${id}:1`, 'deployment.requested', 'ci', 'PENDING']]);
    expect(trail.body.events[0].at).toBe(created.body.requestedAt);
    expect(trail.body.events[0].data.request).toMatchObject({ id, requestRecorded: true, artifact: created.body.artifact });

    // The workflow counts it as its first: the next change is event 2, and no event is written twice.
    await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: created.body.artifact.digest });
    const after = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${id}`, cast.admin)).body.events as any[],
      (events) => events.some((event) => event.type === 'approval.accepted'),
    );
    expect(after.slice(0, 2).map((event) => [event.id, event.type])).toEqual([[`${id}:1`, 'deployment.requested'], [`${id}:2`, 'approval.accepted']]);
    expect(after.map((event) => event.id)).toEqual(after.map((_, i) => `${id}:${i + 1}`));
  });

  it('answers the events of a time window, since inclusive and until exclusive', async () => {
    const created = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }));
    const id = created.body.id;
    await cast.http.post(`/v1/deployments/${id}/approvals`, cast.alice.token, { digest: created.body.artifact.digest }); // refused: the author
    const all = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${id}`, cast.admin)).body.events as any[],
      (events) => events.some((event) => event.type === 'approval.refused'),
    );
    const requested = all.find((event) => event.type === 'deployment.requested');
    const refused = all.find((event) => event.type === 'approval.refused');
    expect(Date.parse(refused.at)).toBeGreaterThan(Date.parse(requested.at));

    const since = requested.at;
    const until = refused.at;
    const window = await cast.http.get(`/v1/audit?deployment=${id}&since=${since}&until=${until}`, cast.admin);
    expect(window.status).toBe(200);
    const types = window.body.events.map((event: any) => event.type);
    expect(types).toContain('deployment.requested');
    expect(types).not.toContain('approval.refused');
    for (const event of window.body.events) {
      expect(Date.parse(event.at)).toBeGreaterThanOrEqual(Date.parse(since));
      expect(Date.parse(event.at)).toBeLessThan(Date.parse(until));
    }
  });
});
