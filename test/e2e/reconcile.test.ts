// Audit events survive a database that lost writes: they are re-derived from the workflow's
// history and filled in, never duplicated.

import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { verifyAuditChain } from '../../database/audit-trail';
import { openDatabase } from '../../database/data-source';
import { reconcileDeployment } from '../../database/reconcile';
import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { adminQuery, databaseUrlFor } from '../support/servers';

let harness: Harness;
let restored: DataSource;
const restoredName = `countersign_restored_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  harness = await startCountersign();
  await adminQuery(process.env.COUNTERSIGN_TEST_PG!, `CREATE DATABASE ${restoredName} TEMPLATE ${process.env.COUNTERSIGN_TEST_TEMPLATE}`);
  restored = await openDatabase(databaseUrlFor(process.env.COUNTERSIGN_TEST_PG!, restoredName), { poolSize: 2 });
});

afterAll(async () => {
  await restored?.destroy();
  await adminQuery(process.env.COUNTERSIGN_TEST_PG!, `DROP DATABASE IF EXISTS ${restoredName} WITH (FORCE)`);
  await harness?.close();
});

it('re-derives every event of a deployment from its history into a database that lost them, once', async () => {
  const cast = await standardCast(harness);
  const body = deploymentBody({ environment: 'staging' });
  const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
  await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.alice.token, { digest: body.artifact.digest });
  await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
  await waitForStatus(cast.http, cast.ci.token, created.id, ['DEPLOYED']);
  const original = await eventually(
    () => harness.dataSource.query(`SELECT event_id, type, actor, at, outcome, reason, data FROM audit_events WHERE deployment_id = $1 ORDER BY seq`, [created.id]),
    (rows: Array<{ type: string; outcome: string }>) => rows.some((r) => r.type === 'deployment.decided' && r.outcome === 'DEPLOYED'),
  );

  // A database restored from a backup taken before the request: it knows nothing of it.
  await restored.query(
    `INSERT INTO deployments (id, workflow_id, service, environment, status, tier, requested_by, artifact_digest, requested_at, version, view)
     SELECT id, workflow_id, service, environment, 'PENDING', tier, requested_by, artifact_digest, requested_at, 0, view FROM (SELECT $1::text AS id, $2::text AS workflow_id, 'web' AS service, 'staging' AS environment, 'low' AS tier, 'ci' AS requested_by, $3::text AS artifact_digest, now() AS requested_at, '{}'::jsonb AS view) s`,
    [created.id, created.workflowId, body.artifact.digest],
  );
  const first = await reconcileDeployment(restored, harness.temporal, created.id);
  expect(original).toHaveLength(7);
  expect(first).toMatchObject({ eventsInHistory: 7, eventsAdded: 7, indexUpdated: true });
  const second = await reconcileDeployment(restored, harness.temporal, created.id);
  expect(second).toMatchObject({ eventsAdded: 0, indexUpdated: false });

  const rebuilt = await restored.query(`SELECT event_id, type, actor, at, outcome, reason, data FROM audit_events WHERE deployment_id = $1 ORDER BY seq`, [created.id]);
  expect(rebuilt).toEqual(original);
  const [row] = await restored.query('SELECT status FROM deployments WHERE id = $1', [created.id]);
  expect(row.status).toBe('DEPLOYED');
  expect(await verifyAuditChain(restored)).toMatchObject({ ok: true, events: 7 });
});

it('is offered to admins over HTTP, and adds nothing to a complete trail', async () => {
  const cast = { http: new (await import('../support/http')).Http(harness.url), admin: harness.adminToken };
  const response = await cast.http.post('/v1/audit/reconcile', cast.admin);
  expect(response.status).toBe(200);
  expect(response.body.eventsAdded).toBe(0);
  expect(response.body.results.length).toBeGreaterThan(0);
  const unknown = await cast.http.post('/v1/audit/reconcile?deployment=nope', cast.admin);
  expect(unknown.status).toBe(404);
  expect(unknown.body.detail).toContain('has no workflow history');
});

it('is offered on the command line', async () => {
  const { main } = await import('../../cli/countersign');
  let out = '';
  const io = {
    stdout: (text: string) => (out += text),
    stderr: () => undefined,
    env: { COUNTERSIGN_URL: harness.url, COUNTERSIGN_TOKEN: harness.adminToken },
    fetch,
    cwd: process.cwd(),
  };
  expect(await main(['reconcile'], io as never)).toBe(0);
  expect(out).toMatch(/reconciled \d+ deployment\(s\): 0 missing event\(s\) added/);
  expect(await main(['reconcile', '--since', 'yesterday'], io as never)).toBe(2);
});
