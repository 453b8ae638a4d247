// Fault injection: the gate and its deploys under the faults an operator meets. Real processes
// only: the worker runs as its own process (SIGKILLed mid-deploy), PostgreSQL and a Temporal dev
// server of this file's own sit behind TCP proxies that cut and restore the links, and that
// Temporal server is restarted on its database file. The deployer is a script that logs every
// run it sees (`start|done <deployment> <idempotency key> <attempt>`), so the test can tell
// a run that resumed from one that ran again after a recorded success.
//
// The tests run in order and share one Countersign; the last one checks, across every fault
// above it: no accepted approval lost, nothing deployed without its quorum, every run the
// deployer completed ends DEPLOYED, no run started again after a recorded success, the audit
// chain verifies, and every accepted approval is in the trail exactly once.

import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTemporalDevServer, type TemporalDevServer } from '../../local/embedded-temporal';
import { findOrInstallTemporalCli } from '../../local/temporal-cli';
import { TASK_QUEUE } from '../../workflows/definitions';
import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import type { HttpResponse } from '../support/http';
import { startTcpProxy, type TcpProxy, throughProxy } from '../support/tcp-proxy';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-faults-'));
const deployLog = path.join(dir, 'deploys.log');
const temporalDb = path.join(dir, 'temporal.sqlite');
/** How long one run of the deploy script takes: long enough to cut a link in the middle of it. */
const DEPLOY_SECONDS = 4;

let cli: string;
let temporalServer: TemporalDevServer;
let temporalProxy: TcpProxy;
let pgProxy: TcpProxy;
let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let worker: WorkerProcess | undefined;

/** Every deployment requested here, and every approval answered 200 (accepted). */
const requested = new Set<string>();
const accepted: Array<{ deployment: string; approver: string }> = [];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startWorker(): Promise<WorkerProcess> {
  return startWorkerProcess({
    TEMPORAL_ADDRESS: temporalProxy.hostPort,
    DATABASE_URL: throughProxy(harness.databaseUrl, pgProxy),
    COUNTERSIGN_CONFIG: harness.policyFile,
    COUNTERSIGN_DATA_DIR: harness.dir,
    COUNTERSIGN_WORKFLOW_BUNDLE: process.env.COUNTERSIGN_WORKFLOW_BUNDLE!,
  });
}

interface Run {
  phase: 'start' | 'done';
  deployment: string;
  key: string;
  attempt: number;
}

function runs(deployment?: string): Run[] {
  if (!existsSync(deployLog)) return [];
  return readFileSync(deployLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [phase, id, key, attempt] = line.split(' ');
      return { phase: phase as Run['phase'], deployment: id, key, attempt: Number(attempt) };
    })
    .filter((run) => deployment === undefined || run.deployment === deployment);
}

async function untilRun(phase: Run['phase'], deployment: string, attempt: number, timeoutMs = 30_000): Promise<number> {
  await eventually(
    async () => runs(deployment),
    (seen) => seen.some((run) => run.phase === phase && run.attempt === attempt),
    timeoutMs,
  );
  return Date.now();
}

async function request(environment: 'production' | 'staging') {
  const body = deploymentBody({ environment });
  const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect(created.status).toBe(201);
  requested.add(created.body.id);
  return { id: created.body.id as string, digest: body.artifact.digest as string };
}

async function approve(id: string, digest: string, who: 'bob' | 'erin'): Promise<HttpResponse> {
  const answer = await cast.http.post(`/v1/deployments/${id}/approvals`, cast[who].token, { digest });
  if (answer.status === 200) accepted.push({ deployment: id, approver: who });
  return answer;
}

/**
 * Approves until the gate answers: a 503 (the gate out of reach) is retried; a 409 DUPLICATE
 * says an earlier attempt that got no answer was counted after all.
 */
async function approveUntilAnswered(id: string, digest: string, who: 'bob' | 'erin', timeoutMs = 60_000): Promise<HttpResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await approve(id, digest, who);
    if (answer.status !== 503) {
      if (answer.status === 409 && answer.body.reason === 'DUPLICATE') accepted.push({ deployment: id, approver: who });
      return answer;
    }
    if (Date.now() > deadline) throw new Error(`approval of ${id} by ${who} still 503 after ${timeoutMs} ms: ${JSON.stringify(answer.body)}`);
    await sleep(500);
  }
}

async function deployRun(id: string) {
  const [row] = await harness.dataSource.query(
    'SELECT status, attempts, failures, succeeded_attempt FROM deploy_runs WHERE deployment_id = $1',
    [id],
  );
  return row as { status: string; attempts: number; failures: number; succeeded_attempt: number | null } | undefined;
}

/** The attempt of the deploy activity that completed, from the workflow's history. */
async function completedDeployAttempt(id: string): Promise<number | undefined> {
  const view = (await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body;
  const history = await harness.temporal.workflow.getHandle(view.workflowId).fetchHistory();
  const scheduled = history.events!.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'deploy');
  const started = history.events!.find(
    (event) => event.activityTaskStartedEventAttributes && Number(event.activityTaskStartedEventAttributes.scheduledEventId) === Number(scheduled?.eventId),
  );
  return started?.activityTaskStartedEventAttributes?.attempt ?? undefined;
}

/** Polls the deployment's status every 250 ms until `stop()`, keeping every status it saw. */
function watchStatuses(ids: string[]) {
  const seen = new Map<string, Set<string>>(ids.map((id) => [id, new Set<string>()]));
  let watching = true;
  const loop = (async () => {
    while (watching) {
      for (const id of ids) {
        const read = await cast.http.get(`/v1/deployments/${id}`, cast.ci.token).catch(() => undefined);
        if (read?.status === 200) seen.get(id)!.add(read.body.status);
      }
      await sleep(250);
    }
  })();
  return {
    seen,
    async stop() {
      watching = false;
      await loop;
    },
  };
}

beforeAll(async () => {
  const script = path.join(dir, 'deploy.sh');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      `echo "start $COUNTERSIGN_DEPLOYMENT_ID $COUNTERSIGN_IDEMPOTENCY_KEY $COUNTERSIGN_DEPLOY_ATTEMPT" >> "${deployLog}"`,
      `sleep ${DEPLOY_SECONDS}`,
      `echo "done $COUNTERSIGN_DEPLOYMENT_ID $COUNTERSIGN_IDEMPOTENCY_KEY $COUNTERSIGN_DEPLOY_ATTEMPT" >> "${deployLog}"`,
      'echo "deployed $COUNTERSIGN_ARTIFACT_DIGEST"',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);

  const found = await findOrInstallTemporalCli({ log: () => undefined });
  if (!found) throw new Error('no temporal CLI could be found or installed; set TEMPORAL_CLI');
  cli = found;
  temporalServer = await startTemporalDevServer({ cliPath: cli, dbFile: temporalDb, logFile: path.join(dir, 'temporal.log') });
  temporalProxy = await startTcpProxy(temporalServer.address);

  harness = await startCountersign({
    worker: false,
    taskQueue: TASK_QUEUE,
    temporalEnv: { TEMPORAL_ADDRESS: temporalProxy.hostPort },
    answerTimeoutMs: 5_000,
    policy: `
tiers:
  low:  { approvals: 1, expiresAfter: 24h }
  high: { approvals: 2, expiresAfter: 24h }
deployers:
  slow: { type: command, run: ["${script}"] }
rules:
  - { environment: production, tier: high, deployer: slow }
  - { environment: staging, tier: low, deployer: slow }
`,
  });
  const pg = new URL(harness.databaseUrl);
  pgProxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
  cast = await standardCast(harness);
  worker = await startWorker();
}, 120_000);

afterAll(async () => {
  await worker?.kill('SIGKILL');
  pgProxy?.restore();
  temporalProxy?.restore();
  await harness?.close();
  await pgProxy?.close();
  await temporalProxy?.close();
  await temporalServer?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('a worker SIGKILLed during a deploy', () => {
  it('resumes the deploy within about 15 s under the same idempotency key and the next attempt number, and ends DEPLOYED with one recorded success', async () => {
    const { id, digest } = await request('staging');
    expect((await approve(id, digest, 'bob')).body.status).toBe('APPROVED');
    await untilRun('start', id, 1);

    const killedAt = Date.now();
    expect(await worker!.kill('SIGKILL')).toBe('SIGKILL');
    worker = await startWorker();
    const resumedAt = await untilRun('start', id, 2, 30_000);
    // Heartbeat timeout 10 s, a heartbeat every 2 s, a retry 1 s later: well inside 20 s.
    expect(resumedAt - killedAt).toBeLessThan(20_000);

    const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 60_000);
    expect(done.status).toBe('DEPLOYED');
    // Every run of the deployment carried one idempotency key, the deployment's id.
    expect(new Set(runs(id).map((run) => run.key))).toEqual(new Set([id]));
    expect(runs(id).filter((run) => run.phase === 'start').map((run) => run.attempt)).toEqual([1, 2]);
    expect(await deployRun(id)).toEqual({ status: 'succeeded', attempts: 2, failures: 0, succeeded_attempt: 2 });
    expect(await completedDeployAttempt(id)).toBeGreaterThanOrEqual(2);
  }, 90_000);
});

describe('PostgreSQL out of reach of the worker during a deploy', () => {
  it('deploys through a 15 s outage, never records a deployed run as FAILED, starts no run before the database answers, and the records catch up', async () => {
    const running = await request('staging');
    expect((await approve(running.id, running.digest, 'bob')).body.status).toBe('APPROVED');
    await untilRun('start', running.id, 1);
    const watch = watchStatuses([running.id]);

    pgProxy.cut();
    // Approved during the outage: its deploy waits for the database to say no run succeeded.
    const waiting = await request('staging');
    expect((await approve(waiting.id, waiting.digest, 'bob')).body.status).toBe('APPROVED');
    const watchWaiting = watchStatuses([waiting.id]);
    await untilRun('done', running.id, 1);
    await sleep(15_000 - DEPLOY_SECONDS * 1000);
    expect(runs(waiting.id)).toEqual([]);
    pgProxy.restore();

    for (const id of [running.id, waiting.id]) {
      const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 60_000);
      expect(done.status).toBe('DEPLOYED');
      expect(await deployRun(id)).toEqual({ status: 'succeeded', attempts: 1, failures: 0, succeeded_attempt: 1 });
    }
    await watch.stop();
    await watchWaiting.stop();
    expect(watch.seen.get(running.id)).not.toContain('FAILED');
    expect(watchWaiting.seen.get(waiting.id)).not.toContain('FAILED');
    expect(runs(running.id).filter((run) => run.phase === 'start')).toHaveLength(1);

    // The trail and the listing index catch up once the database is back.
    for (const id of [running.id, waiting.id]) {
      await eventually(
        async () => (await harness.dataSource.query('SELECT status FROM deployments WHERE id = $1', [id]))[0]?.status,
        (status) => status === 'DEPLOYED',
        30_000,
      );
      const trail = await cast.http.get(`/v1/audit?deployment=${id}&type=deploy.succeeded`, cast.admin);
      expect(trail.body.events).toHaveLength(1);
    }
  }, 120_000);

  it('records a deploy that finished while the database was out even when its worker dies before the database is back, without running it again', async () => {
    const { id, digest } = await request('staging');
    expect((await approve(id, digest, 'bob')).body.status).toBe('APPROVED');
    await untilRun('start', id, 1);
    pgProxy.cut();
    await untilRun('done', id, 1);
    // The result is in the activity's heartbeat (sent within the SDK's 8 s throttle: 0.8 of the
    // heartbeat timeout), not yet in the database.
    await sleep(10_500);
    expect(await deployRun(id)).toMatchObject({ status: 'running', attempts: 1 });
    expect(await worker!.kill('SIGKILL')).toBe('SIGKILL');
    pgProxy.restore();
    worker = await startWorker();

    const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 60_000);
    expect(done.status).toBe('DEPLOYED');
    expect(runs(id).filter((run) => run.phase === 'start')).toHaveLength(1);
    expect(await deployRun(id)).toEqual({ status: 'succeeded', attempts: 1, failures: 0, succeeded_attempt: 1 });
    expect(await completedDeployAttempt(id)).toBeGreaterThanOrEqual(2);
  }, 90_000);
});

describe('Temporal out of reach of the API and the worker', () => {
  it('answers approvals 503 with a problem document, loses no accepted approval, starts no run again after its recorded success, and the gate decides after restore', async () => {
    const inFlight = await request('staging');
    expect((await approve(inFlight.id, inFlight.digest, 'bob')).body.status).toBe('APPROVED');
    const pending = await request('production');
    expect((await approve(pending.id, pending.digest, 'bob')).status).toBe(200);
    await untilRun('start', inFlight.id, 1);

    temporalProxy.cut();
    const cutAt = Date.now();
    const refused = await approve(pending.id, pending.digest, 'erin');
    expect(refused.status).toBe(503);
    expect(refused.contentType).toContain('application/problem+json');
    expect(refused.body).toMatchObject({ status: 503, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
    // The deployer finishes while the worker cannot tell Temporal; its success is recorded all the same.
    await untilRun('done', inFlight.id, 1);
    await eventually(() => deployRun(inFlight.id), (row) => row?.status === 'succeeded', 15_000);
    // Past the heartbeat timeout, so Temporal gives up on that run and schedules another.
    await sleep(Math.max(0, cutAt + 14_000 - Date.now()));
    temporalProxy.restore();

    const retried = await approveUntilAnswered(pending.id, pending.digest, 'erin');
    expect([200, 409]).toContain(retried.status);
    for (const id of [inFlight.id, pending.id]) {
      const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 60_000);
      expect(done.status).toBe('DEPLOYED');
    }
    const view = (await cast.http.get(`/v1/deployments/${pending.id}`, cast.ci.token)).body;
    expect(view.approvals.map((approval: { approver: string }) => approval.approver)).toEqual(['bob', 'erin']);
    // The retry after the lost completion found the recorded success and started nothing.
    expect(runs(inFlight.id).filter((run) => run.phase === 'start')).toHaveLength(1);
    expect(await deployRun(inFlight.id)).toEqual({ status: 'succeeded', attempts: 1, failures: 0, succeeded_attempt: 1 });
    expect(await completedDeployAttempt(inFlight.id)).toBeGreaterThanOrEqual(2);
  }, 120_000);
});

describe('the Temporal server restarted on its database file', () => {
  it('keeps pending requests and their approvals, and approvals after the restart count and deploy', async () => {
    const first = await request('production');
    const second = await request('production');
    for (const { id, digest } of [first, second]) expect((await approve(id, digest, 'bob')).status).toBe(200);

    const { port, uiPort } = temporalServer;
    await temporalServer.stop();
    temporalServer = await startTemporalDevServer({ cliPath: cli, dbFile: temporalDb, port, uiPort, logFile: path.join(dir, 'temporal.log') });

    for (const { id, digest } of [first, second]) {
      const answer = await approveUntilAnswered(id, digest, 'erin');
      expect([200, 409]).toContain(answer.status);
    }
    for (const { id } of [first, second]) {
      const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 60_000);
      expect(done.status).toBe('DEPLOYED');
      expect(done.approvals.map((approval: { approver: string }) => approval.approver)).toEqual(['bob', 'erin']);
    }
  }, 120_000);
});

describe('across every fault above', () => {
  it('lost no accepted approval and recorded each once in the trail, deployed nothing without its quorum, ended every completed run DEPLOYED, started no run after a recorded success, and the audit chain verifies', async () => {
    expect(requested.size).toBe(8);
    const views = new Map<string, any>();
    for (const id of requested) {
      // Wait for the final record, so the trail below is complete.
      const read = await eventually(
        () => cast.http.get(`/v1/deployments/${id}`, cast.ci.token),
        (answer) => answer.headers.get('countersign-view-source') === 'final',
        30_000,
      );
      views.set(id, read.body);
    }

    for (const [id, view] of views) {
      const approvers = view.approvals.map((approval: { approver: string }) => approval.approver);
      expect(new Set(approvers).size).toBe(approvers.length);
      if (view.status === 'DEPLOYED') {
        expect(approvers.length).toBeGreaterThanOrEqual(view.requiredApprovals);
        for (const approval of view.approvals) expect(approval.digest).toBe(view.artifact.digest);
      }
      const trail = (await cast.http.get(`/v1/audit?deployment=${id}&type=approval.accepted&limit=1000`, cast.admin)).body.events as Array<{ actor: string }>;
      expect(trail.map((event) => event.actor).sort()).toEqual([...approvers].sort());
    }
    for (const { deployment, approver } of accepted) {
      expect(views.get(deployment).approvals.filter((approval: { approver: string }) => approval.approver === approver)).toHaveLength(1);
    }

    for (const run of runs()) {
      if (run.phase === 'done') expect({ id: run.deployment, status: views.get(run.deployment)?.status }).toEqual({ id: run.deployment, status: 'DEPLOYED' });
      expect(run.key).toBe(run.deployment);
    }
    for (const id of new Set(runs().map((run) => run.deployment))) {
      const row = await deployRun(id);
      const started = runs(id).filter((run) => run.phase === 'start').map((run) => run.attempt);
      // The run recorded as succeeded is the last one that ever started.
      expect({ id, last: Math.max(...started), row }).toEqual({ id, last: row?.succeeded_attempt, row: expect.objectContaining({ status: 'succeeded', attempts: row?.succeeded_attempt }) });
    }

    const verify = await cast.http.get('/v1/audit/verify', cast.admin);
    expect(verify.body).toMatchObject({ ok: true });
  }, 120_000);
});
