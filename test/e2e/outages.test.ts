// Faults are not input: while PostgreSQL or Temporal cannot be reached the API says so (503
// with Retry-After, a prompt /readyz), waits for PostgreSQL at start-up instead of exiting, and
// what the worker could not write while cut off is filled back in from Temporal's history.
// The links are cut with our own TCP proxy (test/support/tcp-proxy.ts) in front of the real
// servers.

import { startApi } from '../../api/main';
import { createLogger } from '../../settings/logger';
import { verifyAuditChain } from '../../database/audit-trail';
import { findFreePort } from '../../local/process-tree';
import { readSettings } from '../../settings/settings';
import { deploymentBody, eventually, standardCast } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { Http } from '../support/http';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let apiDatabase: TcpProxy;
let workerDatabase: TcpProxy;
let temporal: TcpProxy;

const pgHostPort = () => new URL(process.env.COUNTERSIGN_TEST_PG!).host;

beforeAll(async () => {
  apiDatabase = await startTcpProxy(pgHostPort());
  workerDatabase = await startTcpProxy(pgHostPort());
  temporal = await startTcpProxy(process.env.TEMPORAL_ADDRESS!);
  harness = await startCountersign({
    apiDatabaseVia: apiDatabase.hostPort,
    workerDatabaseVia: workerDatabase.hostPort,
    temporalEnv: { TEMPORAL_ADDRESS: temporal.hostPort },
  });
  cast = await standardCast(harness);
});

afterAll(async () => {
  for (const proxy of [apiDatabase, workerDatabase, temporal]) proxy?.restore();
  await harness?.close();
  for (const proxy of [apiDatabase, workerDatabase, temporal]) await proxy?.close();
});

const eventsOf = async (deploymentId: string) =>
  (await harness.dataSource.query('SELECT event_id, type, actor FROM audit_events WHERE deployment_id = $1 ORDER BY seq', [deploymentId])) as Array<{ event_id: string; type: string; actor: string }>;

describe('an open deployment whose audit writes were lost', () => {
  it('gets its events back from every run of its workflow through POST /v1/audit/reconcile, each once', async () => {
    const body = deploymentBody(); // production: two approvals, so it stays open after one
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(created.status).toBe('PENDING');
    await eventually(() => eventsOf(created.id), (rows) => rows.some((row) => row.type === 'deployment.requested'));

    // The worker loses PostgreSQL; the gate still counts bob's approval, the trail cannot.
    workerDatabase.cut('refuse');
    const approved = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
    expect(approved.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await eventsOf(created.id)).some((row) => row.type === 'approval.accepted')).toBe(false);

    const reconciled = await cast.http.post(`/v1/audit/reconcile?deployment=${created.id}`, cast.admin);
    expect(reconciled.status).toBe(200);
    expect(reconciled.body.results[0]).toMatchObject({ deploymentId: created.id, runs: expect.any(Number), indexUpdated: true });
    expect(reconciled.body.results[0].runs).toBeGreaterThanOrEqual(1);
    expect(reconciled.body.eventsAdded).toBeGreaterThanOrEqual(1);
    const filled = await eventsOf(created.id);
    expect(filled.filter((row) => row.type === 'approval.accepted')).toEqual([expect.objectContaining({ actor: 'bob' })]);
    const [indexed] = await harness.dataSource.query('SELECT view FROM deployments WHERE id = $1', [created.id]);
    expect(indexed.view.approvals).toHaveLength(1);
    expect((await cast.http.get(`/v1/deployments/${created.id}`, cast.admin)).body.status).toBe('PENDING');

    // The worker's own retry, once it is back, adds nothing twice.
    workerDatabase.restore();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await eventsOf(created.id);
    expect(new Set(after.map((row) => row.event_id)).size).toBe(after.length);
    expect(after.filter((row) => row.type === 'approval.accepted')).toHaveLength(1);
    expect(await verifyAuditChain(harness.dataSource)).toMatchObject({ ok: true });
  });
});

describe('PostgreSQL out of reach of the API', () => {
  it('answers 503 database-unavailable with Retry-After, not 500, and serves again once it is back', async () => {
    expect((await cast.http.get('/v1/deployments', cast.admin)).status).toBe(200);
    apiDatabase.cut('refuse');
    for (const [method, path, token] of [['GET', '/v1/deployments', cast.admin], ['GET', '/v1/audit', cast.admin], ['POST', '/v1/deployments', cast.ci.token]] as const) {
      const response = await cast.http.request(method, path, { token, body: method === 'POST' ? deploymentBody() : undefined });
      expect(response.status).toBe(503);
      expect(response.contentType).toContain('application/problem+json');
      expect(response.body).toMatchObject({ type: expect.stringMatching(/database-unavailable$/), detail: expect.stringContaining('retry') });
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    // A link that swallows packets instead: the pool's connection timeout answers, no hang.
    apiDatabase.cut('hang');
    const started = Date.now();
    const hung = await cast.http.get('/v1/audit', cast.admin);
    expect(hung.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(8_000);
    const ready = await cast.http.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).not.toBe('ok');

    apiDatabase.restore();
    await eventually(() => cast.http.get('/v1/deployments', cast.admin), (response) => response.status === 200, 20_000);
  });
});

describe('Temporal out of reach', () => {
  it('/readyz answers 503 within 1.5 s, and reconcile answers 503 rather than "no history"', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ environment: 'staging' }));
    for (const mode of ['hang', 'refuse'] as const) {
      temporal.cut(mode);
      const started = Date.now();
      const ready = await cast.http.get('/readyz');
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(ready.status).toBe(503);
      expect(ready.contentType).toContain('application/problem+json');
      expect(ready.body.checks).toMatchObject({ database: 'ok' });
      expect(ready.body.checks.temporal).not.toBe('ok');
      expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    const reconcile = await cast.http.post(`/v1/audit/reconcile?deployment=${created.id}`, cast.admin);
    expect(reconcile.status).toBe(503);
    expect(reconcile.body.type).toMatch(/temporal-unavailable$/);
    expect(reconcile.headers.get('retry-after')).toMatch(/^\d+$/);

    temporal.restore();
    await eventually(() => cast.http.get('/readyz'), (response) => response.status === 200, 45_000);
  }, 90_000);
});

describe('start-up while PostgreSQL is down', () => {
  it('the API waits for PostgreSQL, saying what it waits for, and serves once it answers', async () => {
    const link = await startTcpProxy(pgHostPort());
    link.cut('refuse');
    const url = new URL(harness.databaseUrl);
    url.host = link.hostPort;
    const lines: string[] = [];
    const settings = readSettings({
      PORT: String(await findFreePort()),
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS!,
      DATABASE_URL: url.toString(),
      COUNTERSIGN_DATA_DIR: harness.dir,
      COUNTERSIGN_CONFIG: harness.policyFile,
      COUNTERSIGN_ADMIN_TOKEN: harness.adminToken,
    });
    let settled = false;
    let closed = false;
    const logger = createLogger({ level: 'info', name: 'api', destination: { write: (line: string) => lines.push(line) } });
    const starting = startApi(settings, logger).finally(() => (settled = true));
    try {
      await eventually(async () => lines.join('\n'), (text) => /waiting for PostgreSQL at .*\(.+\); trying again in/.test(text), 10_000);
      expect(settled).toBe(false);
      link.restore();
      const api = await starting;
      closed = true;
      try {
        const http = new Http(api.url);
        expect((await http.get('/readyz')).status).toBe(200);
        expect((await http.get('/v1/deployments', harness.adminToken)).status).toBe(200);
        expect(lines.join('\n')).toMatch(/PostgreSQL at .* answers/);
      } finally {
        await api.close();
      }
    } finally {
      link.restore();
      if (!closed) await starting.then((api) => api.close(), () => undefined);
      await link.close();
    }
  }, 60_000);
});
