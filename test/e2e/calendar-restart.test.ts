// The change calendar with the worker as its own process (worker/main.ts), on a Temporal dev
// server of this file's own: a deploy held by a freeze survives a SIGKILLed worker (the wait is
// a durable timer in Temporal, not a process's sleep), and the worker reads the calendar from
// the configuration file as it is now, as an operator's separate worker would.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTemporalDevServer, type TemporalDevServer } from '../../local/embedded-temporal';
import { findOrInstallTemporalCli } from '../../local/temporal-cli';
import { TASK_QUEUE } from '../../workflows/definitions';
import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

jest.setTimeout(180_000);

const BASE = `
tiers:
  low: { approvals: 1, expiresAfter: 24h }
environments: [production, staging]
rules:
  - { tier: low }
`;

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-calendar-restart-'));
let temporalServer: TemporalDevServer;
let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let worker: WorkerProcess | undefined;

const iso = (ms: number) => new Date(ms).toISOString();

function startWorker(): Promise<WorkerProcess> {
  return startWorkerProcess({
    TEMPORAL_ADDRESS: temporalServer.address,
    DATABASE_URL: harness.databaseUrl,
    COUNTERSIGN_CONFIG: harness.policyFile,
    COUNTERSIGN_DATA_DIR: harness.dir,
    COUNTERSIGN_WORKFLOW_BUNDLE: process.env.COUNTERSIGN_WORKFLOW_BUNDLE!,
  });
}

/**
 * Rewrites the policy with these windows. The API reloads it by its route; the worker, a process
 * of its own, reads the calendar from the file as it is when it checks a deploy (no SIGHUP).
 */
async function setFreezes(...windows: string[]) {
  writeFileSync(harness.policyFile, `${BASE}${windows.length ? `freezes:\n${windows.map((w) => `  - ${w}`).join('\n')}\n` : ''}`);
  expect((await cast.http.post('/v1/policy/reload', cast.admin, {})).status).toBe(200);
}

const window = (name: string, service: string, fromMs: number, untilMs: number) =>
  `{ name: ${name}, environment: production, service: ${service}, from: "${iso(fromMs)}", until: "${iso(untilMs)}", reason: "${name} freeze" }`;

async function request(service: string) {
  const body = deploymentBody({ service });
  const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect(created.status).toBe(201);
  return { id: created.body.id as string, digest: body.artifact.digest as string };
}

const get = async (id: string) => (await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body;

beforeAll(async () => {
  const cli = await findOrInstallTemporalCli({ log: () => undefined });
  if (!cli) throw new Error('no temporal CLI could be found or installed; set TEMPORAL_CLI');
  temporalServer = await startTemporalDevServer({ cliPath: cli, logFile: path.join(dir, 'temporal.log') });
  harness = await startCountersign({ worker: false, taskQueue: TASK_QUEUE, temporalEnv: { TEMPORAL_ADDRESS: temporalServer.address }, policy: BASE });
  cast = await standardCast(harness);
  worker = await startWorker();
}, 120_000);

afterAll(async () => {
  await worker?.kill('SIGKILL');
  await harness?.close();
  await temporalServer?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('a deploy held by a freeze, with the worker as its own process', () => {
  it('a worker process follows the calendar in the file: a freeze written there holds an approved deploy, no SIGHUP needed', async () => {
    const now = Date.now();
    await setFreezes(window('reloaded', 'sighup-web', now - 1_000, now + 3_600_000));
    const { id, digest } = await request('sighup-web');
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const held = await eventually(() => get(id), (view) => view.freeze?.frozen === true, 30_000);
    expect(held).toMatchObject({ status: 'APPROVED', freeze: { windows: ['reloaded'] } });
    expect(worker!.output()).toContain('policy reloaded');
    expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, {})).status).toBe(200);
  });

  it('a freeze written to the file with no reload of either process holds the deploy: the API, reading the calendar with the approval, claims nothing', async () => {
    await setFreezes();
    const { id, digest } = await request('unreloaded-web');
    const now = Date.now();
    writeFileSync(harness.policyFile, `${BASE}freezes:\n  - ${window('unreloaded', 'unreloaded-web', now - 1_000, now + 3_600_000)}\n`);
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const held = await eventually(() => get(id), (view) => view.freeze?.frozen === true, 30_000);
    expect(held.freeze.windows).toEqual(['unreloaded']);
    const events = (await harness.temporal.workflow.getHandle(`deployment-${id}`).fetchHistory()).events ?? [];
    const approval = events.find((event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'approve');
    const input = JSON.parse(Buffer.from(approval!.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.input!.args!.payloads![0]!.data!).toString('utf8'));
    expect(input).not.toHaveProperty('calendarClearUntil');
    expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, {})).status).toBe(200);
  });

  it('an invalid file leaves the worker\'s calendar in force', async () => {
    const now = Date.now();
    await setFreezes(window('kept', 'kept-web', now - 1_000, now + 3_600_000));
    const first = await request('kept-web');
    expect((await cast.http.post(`/v1/deployments/${first.id}/approvals`, cast.bob.token, { digest: first.digest })).status).toBe(200);
    await eventually(() => get(first.id), (view) => view.freeze?.frozen === true, 30_000);
    writeFileSync(harness.policyFile, `${BASE}freezes:\n  - { environment: production, reason: no schedule }\n`);
    const second = await request('kept-web');
    expect((await cast.http.post(`/v1/deployments/${second.id}/approvals`, cast.bob.token, { digest: second.digest })).status).toBe(200);
    expect((await eventually(() => get(second.id), (view) => view.freeze?.frozen === true, 30_000)).freeze.windows).toEqual(['kept']);
    expect(worker!.output()).toContain('freezes[0]: needs a schedule');
    for (const id of [first.id, second.id]) expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, {})).status).toBe(200);
  });

  it('stays held through a SIGKILLed worker, and is deployed once by the next worker after the freeze ends', async () => {
    const now = Date.now();
    await setFreezes(window('restart', 'restart-web', now - 1_000, now + 20_000));
    const { id, digest } = await request('restart-web');
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    await eventually(() => get(id), (view) => view.freeze?.frozen === true, 30_000);

    await worker!.kill('SIGKILL');
    worker = undefined;
    // The freeze ends while no worker runs: nothing deploys without one.
    await eventually(async () => Date.now(), (t) => t > now + 22_000, 30_000);
    const meanwhile = await harness.dataSource.query('SELECT 1 FROM deploy_runs WHERE deployment_id = $1', [id]);
    expect(meanwhile).toHaveLength(0);

    worker = await startWorker();
    const deployed = await waitForStatus(cast.http, cast.admin, id, ['DEPLOYED'], 90_000);
    expect(deployed.freeze).toMatchObject({ frozen: false, released: 'ended', windows: ['restart'] });
    const [run] = await harness.dataSource.query('SELECT status, attempts FROM deploy_runs WHERE deployment_id = $1', [id]);
    expect(run).toEqual({ status: 'succeeded', attempts: 1 });
    const events = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${id}&limit=1000`, cast.admin)).body.events as Array<{ type: string }>,
      (all) => all.some((event) => event.type === 'deploy.succeeded'),
    );
    expect(events.filter((event) => event.type === 'deploy.held')).toHaveLength(1);
    expect(events.filter((event) => event.type === 'deploy.released')).toHaveLength(1);
    expect((await cast.http.get('/v1/audit/verify', cast.admin)).body.ok).toBe(true);
  });
});
