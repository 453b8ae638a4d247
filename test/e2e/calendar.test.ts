// The change calendar and stale requests end to end: HTTP API, real Temporal, real PostgreSQL,
// real worker. Freeze windows are seconds long, computed from now, and the configuration is
// rewritten and reloaded (POST /v1/policy/reload) as an operator would.

import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { DeploymentIndex } from '../../database/deployment-index';
import { type DeploymentRequest, workflowIdFor } from '../../policy/types';
import { pendingView } from '../../policy/view';
import { type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { startWorkerProcess } from '../support/worker-process';

jest.setTimeout(180_000);

const BASE = `
tiers:
  low:   { approvals: 1, expiresAfter: 24h }
  quick: { approvals: 1, expiresAfter: 15s }
  stale: { approvals: 1, expiresAfter: 24h, supersede: true }
environments: [production, staging]
rules:
  - { service: expiring, tier: quick }
  - { service: "rolling-*", tier: stale }
  - { tier: low }
`;

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;

const iso = (ms: number) => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes the policy with these freeze windows (YAML list items) and reloads it; 200 expected. */
async function setFreezes(...windows: string[]) {
  writeFileSync(harness.policyFile, `${BASE}${windows.length ? `freezes:\n${windows.map((w) => `  - ${w}`).join('\n')}\n` : ''}`);
  const reloaded = await cast.http.post('/v1/policy/reload', cast.admin, {});
  expect(reloaded.status).toBe(200);
}

/** A one-off window for a service in production, from `fromMs` to `untilMs` (epoch ms). */
const window = (name: string, service: string, fromMs: number, untilMs: number, reason = `${name} freeze`) =>
  `{ name: ${name}, environment: production, service: ${service}, from: "${iso(fromMs)}", until: "${iso(untilMs)}", reason: "${reason}" }`;

async function request(service: string, token = cast.ci.token) {
  const body = deploymentBody({ service });
  const created = await cast.http.post('/v1/deployments', token, body);
  expect(created.status).toBe(201);
  return { id: created.body.id as string, digest: body.artifact.digest as string, body };
}

async function approve(id: string, digest: string) {
  const answer = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest });
  expect(answer.status).toBe(200);
  return answer.body;
}

const get = async (id: string) => (await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body;

async function auditOf(id: string): Promise<Array<{ type: string; actor: string; outcome: string | null; reason: string | null; data: any }>> {
  return (await cast.http.get(`/v1/audit?deployment=${id}&limit=1000`, cast.admin)).body.events;
}

async function evidenceOf(id: string) {
  const envelope = await cast.http.get(`/v1/deployments/${id}/evidence`, cast.admin);
  expect(envelope.status).toBe(200);
  return JSON.parse(Buffer.from(envelope.body.payload, 'base64').toString('utf8')).predicate;
}

async function currentDetails(id: string): Promise<string> {
  const metadata = await harness.temporal.workflow.getHandle(`deployment-${id}`).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

const held = (id: string, timeoutMs = 30_000) => eventually(() => get(id), (view) => view.freeze?.frozen === true, timeoutMs);

beforeAll(async () => {
  harness = await startCountersign({ policy: BASE });
  cast = await standardCast(harness);
});

afterAll(async () => {
  await harness?.close();
});

describe('a deploy held by a freeze', () => {
  it('is approved, held while the window lasts (APPROVED, with the freeze in the view, the Temporal UI and the calendar), and deployed when it ends', async () => {
    const now = Date.now();
    await setFreezes(window('short', 'frozen-web', now - 1_000, now + 20_000, 'release train'));
    const { id, digest } = await request('frozen-web');
    expect((await approve(id, digest)).status).toBe('APPROVED');

    const view = await held(id);
    expect(view.status).toBe('APPROVED');
    expect(view.freeze).toMatchObject({ frozen: true, reason: 'release train', windows: ['short'], until: iso(now + 20_000) });
    expect(view.deploy).toBeUndefined();
    expect(await currentDetails(id)).toMatch(/\*\*Held by a freeze\*\* \(short\): release train\. Deploys after/);
    const calendar = (await cast.http.get('/v1/freezes?service=frozen-web&environment=production', cast.ci.token)).body;
    expect(calendar.target).toMatchObject({ frozen: true, reason: 'release train', windows: ['short'] });
    expect(calendar.windows).toEqual([expect.objectContaining({ name: 'short', active: true })]);

    const deployed = await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 60_000);
    expect(deployed.freeze).toMatchObject({ frozen: false, released: 'ended', reason: 'release train' });
    expect(Date.parse(deployed.deploy.at)).toBeGreaterThanOrEqual(now + 20_000);

    const trail = await eventually(() => auditOf(id), (events) => events.some((event) => event.type === 'deployment.decided' && event.outcome === 'DEPLOYED'));
    const types = trail.map((event) => event.type);
    expect(types.indexOf('deploy.held')).toBeGreaterThan(types.indexOf('approval.accepted'));
    expect(types.indexOf('deploy.released')).toBeGreaterThan(types.indexOf('deploy.held'));
    expect(types.indexOf('deploy.started')).toBeGreaterThan(types.indexOf('deploy.released'));
    expect(trail.find((event) => event.type === 'deploy.held')).toMatchObject({ actor: 'countersign', outcome: 'held' });
    expect(trail.find((event) => event.type === 'deploy.released')).toMatchObject({ actor: 'countersign', outcome: 'ended' });

    const predicate = await evidenceOf(id);
    expect(predicate.freeze).toMatchObject({ frozen: false, released: 'ended', windows: ['short'], reason: 'release train' });
  });

  it('a freeze added to the configuration while a request waits for approval holds it', async () => {
    await setFreezes();
    const { id, digest } = await request('late-freeze');
    const now = Date.now();
    await setFreezes(window('added', 'late-freeze', now - 1_000, now + 15_000));
    await approve(id, digest);
    expect((await held(id)).freeze).toMatchObject({ frozen: true, windows: ['added'] });
    const deployed = await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 60_000);
    expect(deployed.freeze.released).toBe('ended');
  });

  it('a freeze lifted from the configuration releases a held deploy at the next reading of the calendar (within a minute)', async () => {
    const now = Date.now();
    await setFreezes(window('long', 'lifted', now - 1_000, now + 3_600_000));
    const { id, digest } = await request('lifted');
    await approve(id, digest);
    expect((await held(id)).freeze.until).toBe(iso(now + 3_600_000));
    await setFreezes();
    const deployed = await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 120_000);
    expect(deployed.freeze).toMatchObject({ frozen: false, released: 'ended' });
  });

  it('ends EXPIRED, naming the freeze, when the request expires inside it; nothing is deployed', async () => {
    const now = Date.now();
    await setFreezes(window('quarter-close', 'expiring', now - 1_000, now + 3_600_000, 'quarter close'));
    const { id, digest } = await request('expiring');
    await approve(id, digest);
    await held(id);
    const expired = await waitForStatus(cast.http, cast.admin, id, ['EXPIRED', 'DEPLOYED'], 60_000);
    expect(expired.status).toBe('EXPIRED');
    expect(expired.decision.reason).toMatch(/held by freeze quarter-close \(quarter close\) until .*expired at .*nothing was deployed/);
    expect(expired.deploy).toBeUndefined();
    expect(expired.freeze).toMatchObject({ frozen: false, released: 'expired' });
    const [run] = await harness.dataSource.query('SELECT 1 FROM deploy_runs WHERE deployment_id = $1', [id]);
    expect(run).toBeUndefined();
  });

  it('an admin\'s override through a freeze is recorded as such in the view, the audit trail and the evidence', async () => {
    const now = Date.now();
    await setFreezes(window('incident', 'glass', now - 1_000, now + 3_600_000, 'incident freeze'));
    const { id, digest } = await request('glass');
    await approve(id, digest);
    await held(id);
    // An approver is no admin: refused, and still held.
    const refused = await cast.http.post(`/v1/deployments/${id}/override`, cast.erin.token, { reason: 'please let it through' });
    expect(refused.status).toBe(403);
    const overridden = await cast.http.post(`/v1/deployments/${id}/override`, cast.admin, { reason: 'hotfix for the incident itself' });
    expect(overridden.status).toBe(200);
    expect(overridden.body.freeze).toMatchObject({ frozen: false, released: 'overridden', passedBy: { by: 'admin', reason: 'hotfix for the incident itself' } });
    expect(overridden.body.override).toMatchObject({ by: 'admin', passFreeze: true, approvalsAtOverride: 1 });
    const deployed = await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 60_000);
    expect(deployed.freeze.passedBy.by).toBe('admin');

    const trail = await eventually(() => auditOf(id), (events) => events.some((event) => event.type === 'deploy.succeeded'));
    expect(trail.find((event) => event.type === 'deployment.overridden')).toMatchObject({ actor: 'admin', outcome: 'freeze-passed', reason: 'hotfix for the incident itself' });
    expect(trail.find((event) => event.type === 'deploy.released')).toMatchObject({ actor: 'admin', outcome: 'overridden' });
    const predicate = await evidenceOf(id);
    expect(predicate.freeze).toMatchObject({ released: 'overridden', passedBy: { by: 'admin' } });
    expect(predicate.override).toMatchObject({ by: 'admin', passFreeze: true });
    await eventually(
      async () => (await cast.http.get('/v1/deployments?overridden=true&service=glass', cast.admin)).body.deployments.map((d: any) => d.id),
      (listed: string[]) => listed.includes(id),
    );
  });

  it('an override given with passFreeze deploys through a freeze without waiting', async () => {
    const now = Date.now();
    await setFreezes(window('pass', 'passing', now - 1_000, now + 3_600_000));
    const { id } = await request('passing');
    const overridden = await cast.http.post(`/v1/deployments/${id}/override`, cast.admin, { reason: 'outage: roll forward now', passFreeze: true });
    expect(overridden.status).toBe(200);
    const deployed = await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 60_000);
    expect(deployed.freeze).toMatchObject({ frozen: false, released: 'overridden', passedBy: { by: 'admin', reason: 'outage: roll forward now' } });
    const trail = await eventually(() => auditOf(id), (events) => events.some((event) => event.type === 'deploy.succeeded'));
    expect(trail.map((event) => event.type)).not.toContain('deploy.held');
  });

  it('refuses passFreeze that is not true or false (422), changing nothing', async () => {
    const { id } = await request('web');
    const bad = await cast.http.post(`/v1/deployments/${id}/override`, cast.admin, { reason: 'a reason long enough', passFreeze: 'yes' });
    expect([400, 422]).toContain(bad.status);
    expect((await get(id)).status).toBe('PENDING');
  });

  it('a held deploy may be cancelled by its pipeline', async () => {
    const now = Date.now();
    await setFreezes(window('cancel', 'cancel-held', now - 1_000, now + 3_600_000));
    const { id, digest } = await request('cancel-held');
    await approve(id, digest);
    await held(id);
    const cancelled = await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, { reason: 'not needed any more' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED', freeze: { frozen: false, released: 'cancelled' } });
  });
});

describe('the calendar read with an approval', () => {
  const historyOf = async (id: string) => (await harness.temporal.workflow.getHandle(workflowIdFor(id)).fetchHistory()).events ?? [];
  const decoded = (payloads: Array<{ data?: Uint8Array | null }> | null | undefined) =>
    (payloads ?? []).map((payload) => Buffer.from(payload.data ?? []).toString('utf8')).join('\n');
  /** What the API sent with each approval: the calendar's claim, if any. */
  const claims = async (id: string) =>
    (await historyOf(id))
      .flatMap((event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'approve'
        ? [JSON.parse(decoded(event.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest.input.args?.payloads)).calendarClearUntil]
        : []);
  /** The worker's own readings of the calendar: local activity markers of checkFreeze. */
  const workerReadings = async (id: string) =>
    (await historyOf(id)).filter((event) =>
      event.markerRecordedEventAttributes?.markerName === 'core_local_activity' &&
      decoded(event.markerRecordedEventAttributes.details?.data?.payloads).includes('checkFreeze')).length;

  it('with no freeze near anywhere, the approval carries the reading and its quorum deploys without another', async () => {
    await setFreezes();
    const { id, digest } = await request('clear-web');
    const sent = Date.now();
    await approve(id, digest);
    await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 60_000);
    const [claim] = await claims(id);
    expect(Date.parse(claim)).toBeGreaterThan(sent);
    expect(Date.parse(claim)).toBeLessThanOrEqual(Date.now() + 2_000);
    expect(await workerReadings(id)).toBe(0);
  });

  it('with a freeze in force anywhere, even for another service, the approval claims nothing and the worker reads the calendar for its own target', async () => {
    const now = Date.now();
    await setFreezes(window('elsewhere', 'other-web', now - 1_000, now + 3_600_000));
    const { id, digest } = await request('near-freeze-web');
    await approve(id, digest);
    await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 60_000);
    expect(await claims(id)).toEqual([undefined]);
    expect(await workerReadings(id)).toBe(1);
  });

  it('is the API\'s alone: an approval whose body claims a reading is refused (422), and nothing reaches the gate', async () => {
    const now = Date.now();
    await setFreezes(window('claimed', 'claimed-web', now - 1_000, now + 3_600_000));
    const { id, digest } = await request('claimed-web');
    const answer = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest, calendarClearUntil: iso(Date.now() + 1_000) });
    expect(answer.status).toBe(422);
    expect(answer.body.detail).toMatch(/calendarClearUntil/);
    expect((await get(id)).status).toBe('PENDING');
    expect(await claims(id)).toEqual([]);
    expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, {})).status).toBe(200);
  });

  it('a freeze that starts within seconds is near: the approval claims nothing, and the deploy is held once it begins', async () => {
    const now = Date.now();
    await setFreezes(window('soon', 'soon-web', now + 1_500, now + 3_600_000));
    const { id, digest } = await request('soon-web');
    await approve(id, digest);
    expect(await claims(id)).toEqual([undefined]);
    const view = await get(id);
    if (view.freeze?.frozen !== true) expect(['DEPLOYING', 'DEPLOYED']).toContain(view.status); // approved before the freeze began
    else expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, {})).status).toBe(200);
  });
});

describe('stale requests (supersede)', () => {
  it('a newer request cancels an older PENDING one, naming the newer id, by countersign; approving it afterwards is 409', async () => {
    await setFreezes();
    const older = await request('rolling-api');
    const newer = await request('rolling-api');
    const cancelled = await waitForStatus(cast.http, cast.admin, older.id, ['CANCELLED']);
    expect(cancelled.supersededBy).toBe(newer.id);
    expect(cancelled.decision.reason).toContain(newer.id);
    expect((await get(newer.id)).status).toBe('PENDING');

    const late = await cast.http.post(`/v1/deployments/${older.id}/approvals`, cast.bob.token, { digest: older.digest });
    expect(late.status).toBe(409);
    expect(late.body.reason).toBe('NOT_PENDING');

    const trail = await eventually(() => auditOf(older.id), (events) => events.some((event) => event.type === 'deployment.superseded'));
    expect(trail.find((event) => event.type === 'deployment.superseded')).toMatchObject({ actor: 'countersign', outcome: 'CANCELLED', data: { supersededBy: newer.id } });
    expect(trail.find((event) => event.type === 'deployment.decided')).toMatchObject({ actor: 'countersign', outcome: 'CANCELLED' });
    expect((await evidenceOf(older.id)).supersededBy).toBe(newer.id);
  });

  it('is the newer request\'s own first step: it happens with the API out of the picture once the workflow started', async () => {
    const older = await request('rolling-direct');
    // What the API does before it answers, and nothing after: the index row, then the workflow.
    // (An API that crashed right after starting the workflow never answered; the workflow does the rest.)
    const [row] = await harness.dataSource.query('SELECT request FROM deployments WHERE id = $1', [older.id]);
    const requestedAt = Date.now();
    const newer: DeploymentRequest & { requestRecorded: true } = {
      ...(row.request as DeploymentRequest),
      requestRecorded: true,
      id: randomUUID(),
      artifact: { name: 'registry.example.com/web:direct', digest: `sha256:${'d'.repeat(64)}` },
      requestedAt: new Date(requestedAt).toISOString(),
      expiresAt: new Date(requestedAt + 3_600_000).toISOString(),
    };
    expect(await new DeploymentIndex(harness.dataSource).insertRequested(newer, pendingView(newer, workflowIdFor(newer.id)), 'ci')).toBe(true);
    await harness.temporal.workflow.start('deploymentWorkflow', { taskQueue: harness.taskQueue, workflowId: workflowIdFor(newer.id), args: [newer] });
    const cancelled = await waitForStatus(cast.http, cast.admin, older.id, ['CANCELLED']);
    expect(cancelled.supersededBy).toBe(newer.id);
    expect((await get(newer.id)).status).toBe('PENDING');
  });

  it('compares names canonically: a request spelled otherwise supersedes too', async () => {
    const older = await request('rolling-web');
    const newer = await request('Rolling_WEB');
    expect((await waitForStatus(cast.http, cast.admin, older.id, ['CANCELLED'])).supersededBy).toBe(newer.id);
  });

  it('never cancels a request that is already APPROVED (here held by a freeze)', async () => {
    const now = Date.now();
    await setFreezes(window('hold', 'rolling-held', now - 1_000, now + 3_600_000));
    const older = await request('rolling-held');
    await approve(older.id, older.digest);
    await held(older.id);
    const newer = await request('rolling-held');
    await sleep(3_000);
    expect((await get(newer.id)).status).toBe('PENDING');
    const view = await get(older.id);
    expect(view.status).toBe('APPROVED');
    expect(view.supersededBy).toBeUndefined();
    await cast.http.post(`/v1/deployments/${older.id}/cancel`, cast.ci.token, {});
  });

  it('leaves requests alone where the rule does not supersede', async () => {
    const first = await request('web');
    await request('web');
    await sleep(2_000);
    expect((await get(first.id)).status).toBe('PENDING');
  });

  it('20 requests at once for the same service and environment leave exactly one PENDING: the newest', async () => {
    const created = await Promise.all(Array.from({ length: 20 }, () => request('rolling-race')));
    const ids = created.map((c) => c.id);
    const views = await eventually(
      () => Promise.all(ids.map(get)),
      (all) => all.filter((view) => view.status === 'CANCELLED').length === 19,
      90_000,
    );
    const pending = views.filter((view) => view.status === 'PENDING');
    expect(pending).toHaveLength(1);
    // The newest by creation: the latest requestedAt, ties broken by id as the index orders them.
    const newest = [...views].sort((a, b) => Date.parse(a.requestedAt) - Date.parse(b.requestedAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).at(-1);
    expect(pending[0].id).toBe(newest.id);
    for (const view of views.filter((v) => v.status === 'CANCELLED')) {
      expect(ids).toContain(view.supersededBy);
      expect(view.supersededBy).not.toBe(view.id);
    }
    await sleep(2_000);
    expect((await get(newest.id)).status).toBe('PENDING');
  });
});

describe('GET /v1/freezes', () => {
  beforeAll(async () => {
    const now = Date.now();
    await setFreezes(
      window('now', 'cal-web', now - 60_000, now + 3_600_000, 'in force'),
      '{ name: nightly, environment: production, cron: "0 22 * * *", duration: 2h, timeZone: Europe/Berlin, reason: nightly batch }',
      '{ name: weekend, environment: "*", weekly: { from: "Fri 16:00", until: "Mon 08:00" }, timeZone: America/New_York, reason: weekend }',
    );
  });

  it('shows every window, its occurrences in the horizon and which is in force, to any principal', async () => {
    const response = await cast.http.get('/v1/freezes', cast.ci.token);
    expect(response.status).toBe(200);
    const byName = Object.fromEntries(response.body.windows.map((w: any) => [w.name, w]));
    expect(Object.keys(byName)).toEqual(['now', 'nightly', 'weekend']);
    expect(byName.now).toMatchObject({ active: true, kind: 'once', environment: 'production', service: 'cal-web', reason: 'in force' });
    expect(byName.nightly).toMatchObject({ kind: 'cron', schedule: { cron: '0 22 * * *', duration: '2h', timeZone: 'Europe/Berlin' }, truncated: false });
    expect(byName.nightly.occurrences.length).toBeGreaterThanOrEqual(29);
    expect(byName.weekend.occurrences.length).toBeGreaterThanOrEqual(4);
    expect(Date.parse(response.body.until) - Date.parse(response.body.from)).toBe(30 * 86_400_000);
  });

  it('answers for a horizon, bounded per window', async () => {
    const response = await cast.http.get('/v1/freezes?from=2027-01-01T00:00:00Z&until=2027-03-01T00:00:00Z&limit=3', cast.bob.token);
    expect(response.status).toBe(200);
    const nightly = response.body.windows.find((w: any) => w.name === 'nightly');
    // 22:00 in Berlin is 21:00Z in winter.
    expect(nightly.occurrences).toEqual([
      { from: '2027-01-01T21:00:00.000Z', until: '2027-01-01T23:00:00.000Z', active: false },
      { from: '2027-01-02T21:00:00.000Z', until: '2027-01-02T23:00:00.000Z', active: false },
      { from: '2027-01-03T21:00:00.000Z', until: '2027-01-03T23:00:00.000Z', active: false },
    ]);
    expect(nightly.truncated).toBe(true);
  });

  it('with service and environment, says whether a deploy is frozen now, names compared canonically', async () => {
    const frozen = (await cast.http.get('/v1/freezes?service=CAL_WEB&environment=Production', cast.ci.token)).body;
    expect(frozen.target).toMatchObject({ frozen: true, reason: expect.stringContaining('in force'), windows: expect.arrayContaining(['now']) });
    expect(frozen.windows.map((w: any) => w.name)).toContain('now');
    const other = (await cast.http.get('/v1/freezes?service=other&environment=staging', cast.ci.token)).body;
    expect(other.windows.map((w: any) => w.name)).toEqual(['weekend']);
  });

  it.each([
    ['from=yesterday', 'from'],
    ['from=2027-01-01T00:00:00Z&until=2026-12-01T00:00:00Z', 'until'],
    ['from=2027-01-01T00:00:00Z&until=2029-01-01T00:00:00Z', 'until'],
    ['limit=100000', undefined],
  ])('refuses %s with a 400 problem', async (query, parameter) => {
    const response = await cast.http.get(`/v1/freezes?${query}`, cast.ci.token);
    expect(response.status).toBe(400);
    expect(response.contentType).toContain('application/problem+json');
    if (parameter) expect(response.body.detail).toContain(parameter);
  });

  it.each([
    ['a NUL in a name', 'service=web%00&environment=production'],
    ['a name as a list', 'service[]=a&service[]=b'],
    ['a huge name', `service=${'x'.repeat(5_000)}`],
    ['a date that is not one', 'from=2026-13-45T00:00:00Z'],
    ['a negative limit', 'limit=-1'],
  ])('refuses %s with a 4xx problem, never a 5xx', async (_, query) => {
    const response = await cast.http.get(`/v1/freezes?${query}`, cast.ci.token);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.contentType).toContain('application/problem+json');
  });

  it('needs a token', async () => {
    expect((await cast.http.get('/v1/freezes')).status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const text = JSON.stringify((await cast.http.get('/docs/openapi.json')).body);
    expect(text).toContain('/v1/freezes');
    expect(text).toContain('FreezeCalendar');
  });
});

describe('invalid freeze configuration', () => {
  it('a reload is refused with 422 naming the key, and the calendar in force stays', async () => {
    const before = (await cast.http.get('/v1/freezes', cast.admin)).body.policyHash;
    writeFileSync(harness.policyFile, `${BASE}freezes:\n  - { environment: production, cron: "0 22 * * *", duration: 2h, timeZone: Mars/Olympus, reason: x }\n`);
    const refused = await cast.http.post('/v1/policy/reload', cast.admin, {});
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain('freezes[0].timeZone');
    expect((await cast.http.get('/v1/freezes', cast.admin)).body.policyHash).toBe(before);
  });

  it('stops a worker from starting, naming the key', async () => {
    const file = `${harness.dir}/bad-freezes.yaml`;
    writeFileSync(file, `${BASE}freezes:\n  - { environment: production, from: "2026-12-20T00:00:00", until: "2026-12-21T00:00:00Z", reason: x }\n`);
    const started = startWorkerProcess({
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS!,
      DATABASE_URL: harness.databaseUrl,
      COUNTERSIGN_CONFIG: file,
      COUNTERSIGN_DATA_DIR: harness.dir,
    }, 60_000);
    await expect(started).rejects.toThrow(/freezes\[0\]\.from: must be an ISO 8601 time with an offset/);
  });
});

describe('principals', () => {
  it('a principal of any role reads the calendar', async () => {
    const viewer = await createPrincipal(cast.http, cast.admin, { id: 'calendar-reader', roles: ['approver'] });
    expect((await cast.http.get('/v1/freezes', viewer.token)).status).toBe(200);
  });
});
