// The worker's writes of the trail and the index share transactions when they arrive together
// (database/change-recorder.ts): every change is committed, the chain stays whole, and a change
// the database refuses fails alone.

import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { AuditEventInput, RecordedChanges } from '../../activities/types';
import { verifyAuditChain } from '../../database/audit-trail';
import { ChangeRecorder } from '../../database/change-recorder';
import { openDatabase } from '../../database/data-source';
import { DeploymentEntity } from '../../database/entities/deployment.entity';
import { pendingView } from '../../policy/view';
import { workflowIdFor } from '../../policy/types';
import { request } from '../unit/gate-fixtures';
import { adminQuery, databaseUrlFor } from '../support/servers';
import { startTcpProxy, throughProxy } from '../support/tcp-proxy';

let db: DataSource;
const database = `countersign_recorder_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await adminQuery(process.env.COUNTERSIGN_TEST_PG!, `CREATE DATABASE ${database} TEMPLATE ${process.env.COUNTERSIGN_TEST_TEMPLATE}`);
  db = await openDatabase(databaseUrlFor(process.env.COUNTERSIGN_TEST_PG!, database), { poolSize: 5 });
});

afterAll(async () => {
  await db?.destroy();
  await adminQuery(process.env.COUNTERSIGN_TEST_PG!, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
});

afterEach(() => jest.restoreAllMocks());

/** Deployment `id`'s change number `version`: one event, and its row at that version. */
function change(id: string, version: number, overrides: { requestedAt?: string } = {}): RecordedChanges {
  const requested = { ...request(), id, ...overrides };
  const event: AuditEventInput = { eventId: `${id}:${version}`, deploymentId: id, type: 'approval.accepted', actor: 'bob', at: new Date().toISOString(), data: { version } };
  return { events: [event], view: { ...pendingView(requested, workflowIdFor(id)), version } };
}

const rowVersion = async (id: string) => (await db.getRepository(DeploymentEntity).findOneBy({ id }))?.version;

it('commits twenty writes that arrive together, in fewer transactions, with the chain whole', async () => {
  const transactions = jest.spyOn(db, 'transaction');
  const recorder = new ChangeRecorder(db);
  const ids = Array.from({ length: 20 }, (_, i) => `together-${i}`);
  await Promise.all(ids.map((id) => recorder.record(change(id, 1))));

  expect(transactions.mock.calls.length).toBeLessThan(ids.length);
  for (const id of ids) expect(await rowVersion(id)).toBe(1);
  const events = await db.query(`SELECT event_id FROM audit_events WHERE deployment_id LIKE 'together-%'`);
  expect(events).toHaveLength(20);
  expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
});

it('fails only the write the database refuses; the others in its transaction are committed', async () => {
  const recorder = new ChangeRecorder(db);
  const writes = Array.from({ length: 8 }, (_, i) => change(`alone-${i}`, 1, i === 3 ? { requestedAt: 'not a time' } : {}));
  const results = await Promise.allSettled(writes.map((written) => recorder.record(written)));

  expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  expect(await rowVersion('alone-3')).toBeUndefined();
  expect(await db.query(`SELECT 1 FROM audit_events WHERE deployment_id = 'alone-3'`)).toHaveLength(0);
  for (const i of [0, 1, 2, 4, 5, 6, 7]) expect(await rowVersion(`alone-${i}`)).toBe(1);
  expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
});

it('keeps the newest snapshot when one transaction carries two of a deployment, and an event once', async () => {
  const recorder = new ChangeRecorder(db);
  const newer = change('twice', 3);
  const older = change('twice', 2);
  // A local write that timed out and its retry as an activity can meet in one transaction.
  await Promise.all([recorder.record(change('twice-first', 1)), recorder.record(newer), recorder.record(older), recorder.record(newer)]);

  expect(await rowVersion('twice')).toBe(3);
  expect(await db.query(`SELECT event_id FROM audit_events WHERE deployment_id = 'twice' ORDER BY seq`)).toEqual([{ event_id: 'twice:3' }, { event_id: 'twice:2' }]);
  // A later write of an older version leaves the row as it is.
  await recorder.record(change('twice', 1));
  expect(await rowVersion('twice')).toBe(3);
  expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
});

it('fails every waiting write while the database link is cut, and writes them once it is back', async () => {
  const proxy = await startTcpProxy(new URL(process.env.COUNTERSIGN_TEST_PG!).host);
  const viaProxy = await openDatabase(throughProxy(databaseUrlFor(process.env.COUNTERSIGN_TEST_PG!, database), proxy), { poolSize: 3 });
  try {
    const recorder = new ChangeRecorder(viaProxy);
    proxy.cut('refuse');
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => recorder.record(change(`gone-${i}`, 1))));
    expect(results.map((result) => result.status)).toEqual(Array(5).fill('rejected'));

    proxy.restore();
    await Promise.all(Array.from({ length: 5 }, (_, i) => recorder.record(change(`gone-${i}`, 1))));
    for (let i = 0; i < 5; i += 1) expect(await rowVersion(`gone-${i}`)).toBe(1);
    expect(await verifyAuditChain(db)).toMatchObject({ ok: true });
  } finally {
    await viaProxy.destroy().catch(() => undefined);
    await proxy.close();
  }
});
