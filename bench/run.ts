// `npm run bench`: approval latency through Countersign (HTTP, auth, the gate's update,
// real PostgreSQL) against a bare Temporal update round trip, on this machine. Results are
// written to bench/results/ as JSON and Markdown; timed tests are never used for speed.

import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { createApiServer } from '../api/server';
import { openDatabase } from '../database/data-source';
import { startEmbeddedPostgres } from '../local/embedded-postgres';
import { startTemporalDevServer } from '../local/embedded-temporal';
import { PolicyHolder } from '../settings/policy-file';
import { findOrInstallTemporalCli } from '../local/temporal-cli';
import { createWorker } from '../worker/worker';
import { pingUpdate } from './bare-workflow';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    n: sorted.length,
    meanMs: +(sorted.reduce((sum, x) => sum + x, 0) / sorted.length).toFixed(2),
    p50Ms: +at(0.5).toFixed(2),
    p95Ms: +at(0.95).toFixed(2),
    p99Ms: +at(0.99).toFixed(2),
    maxMs: +sorted[sorted.length - 1].toFixed(2),
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return [Number(process.hrtime.bigint() - start) / 1e6, value];
}

async function database(log: (line: string) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, stop: async () => undefined };
  const server = 'postgres://postgres@127.0.0.1:5432/postgres';
  const probe = new PgClient({ connectionString: server, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
    const name = `countersign_bench_${randomBytes(4).toString('hex')}`;
    await probe.query(`CREATE DATABASE ${name}`);
    await probe.end();
    const url = server.replace(/\/postgres$/, `/${name}`);
    return {
      url,
      stop: async () => {
        const admin = new PgClient({ connectionString: server });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      },
    };
  } catch {
    await probe.end().catch(() => undefined);
    const dir = mkdtempSync(path.join(tmpdir(), 'countersign-bench-'));
    chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), database: 'bench', log });
    return { url: pg.url, stop: pg.stop };
  }
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stops: Array<() => Promise<void>> = [];
  try {
    let address = process.env.TEMPORAL_ADDRESS;
    if (!address) {
      const cli = await findOrInstallTemporalCli({ log });
      if (!cli) throw new Error('no temporal CLI; set TEMPORAL_CLI or TEMPORAL_ADDRESS');
      const server = await startTemporalDevServer({ cliPath: cli, log });
      stops.push(server.stop);
      address = server.address;
    }
    const db = await database(log);
    stops.push(db.stop);
    const dataSource = await openDatabase(db.url);
    stops.push(() => dataSource.destroy());

    const dir = mkdtempSync(path.join(tmpdir(), 'countersign-bench-policy-'));
    const policyFile = path.join(dir, 'policy.yaml');
    writeFileSync(policyFile, 'tiers:\n  one: { approvals: 1, expiresAfter: 1h }\n  two: { approvals: 2, expiresAfter: 1h }\nrules:\n  - { environment: production, tier: two }\n  - { tier: one }\n');
    const policy = new PolicyHolder(policyFile, process.env);
    const connection = await Connection.connect({ address });
    stops.push(() => connection.close());
    const temporal = new Client({ connection });
    const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
    const adminToken = `bench-${randomBytes(8).toString('hex')}`;
    const api = await createApiServer({
      dataSource, temporal, policy, port: 0, host: '127.0.0.1', adminToken, logLevel: 'error',
      options: { namespace: 'default', taskQueue, answerTimeoutMs: 30_000 },
    });
    stops.push(() => api.close());
    const { worker, connection: workerConnection } = await createWorker({ temporalAddress: address, namespace: 'default', dataSource, policy: () => policy.current(), taskQueue });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
      await workerConnection.close();
    });

    const bareQueue = `${taskQueue}-bare`;
    const bareWorker = await Worker.create({
      connection: await NativeConnection.connect({ address }),
      taskQueue: bareQueue,
      workflowsPath: require.resolve('./bare-workflow'),
    });
    const bareRunning = bareWorker.run();
    stops.push(async () => {
      bareWorker.shutdown();
      await bareRunning;
    });

    const call = async (method: string, route: string, token: string, body?: unknown) => {
      const response = await fetch(`${api.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await response.json()) as any;
      if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(json)}`);
      return json;
    };
    const principal = async (id: string, roles: string[]) => (await call('POST', '/v1/principals', adminToken, { id, roles, emails: [`${id}@example.com`] })).token as string;
    const ci = await principal('ci', ['pipeline']);
    const bob = await principal('bob', ['approver']);
    const carol = await principal('carol', ['approver']);

    const request = () => {
      const seed = randomBytes(8).toString('hex');
      return {
        service: 'web',
        environment: 'production',
        artifact: { name: `registry.example.com/web:${seed}`, digest: `sha256:${createHash('sha256').update(seed).digest('hex')}` },
        change: { commit: createHash('sha1').update(seed).digest('hex'), authors: ['alice@example.com'] },
      };
    };

    log(`warming up, then ${ROUNDS} rounds of each`);
    const requestMs: number[] = [];
    const countedMs: number[] = [];
    const decidingMs: number[] = [];
    const bareMs: number[] = [];
    for (let round = -5; round < ROUNDS; round += 1) {
      const body = request();
      const [createdIn, created] = await timed(() => call('POST', '/v1/deployments', ci, body));
      const [firstIn] = await timed(() => call('POST', `/v1/deployments/${created.id}/approvals`, bob, { digest: body.artifact.digest }));
      const [secondIn, decided] = await timed(() => call('POST', `/v1/deployments/${created.id}/approvals`, carol, { digest: body.artifact.digest }));
      if (decided.status !== 'APPROVED') throw new Error(`expected APPROVED, got ${decided.status}`);
      const handle = await temporal.workflow.start('bareGateWorkflow', { taskQueue: bareQueue, workflowId: `bare-${randomBytes(6).toString('hex')}` });
      const [bareIn] = await timed(() => handle.executeUpdate(pingUpdate, { args: [round] }));
      await handle.terminate('benchmark round done');
      if (round < 0) continue;
      requestMs.push(createdIn);
      countedMs.push(firstIn);
      decidingMs.push(secondIn);
      bareMs.push(bareIn);
    }

    const results = {
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      rounds: ROUNDS,
      scenarios: {
        bareTemporalUpdate: { what: 'client.executeUpdate round trip to a workflow that answers at once', ...summary(bareMs) },
        approvalCounted: { what: 'POST /v1/deployments/{id}/approvals, first of two (HTTP + token lookup + update)', ...summary(countedMs) },
        approvalDeciding: { what: 'POST /v1/deployments/{id}/approvals that meets the quorum', ...summary(decidingMs) },
        requestDeployment: { what: 'POST /v1/deployments (policy, author resolution, index row, workflow start)', ...summary(requestMs) },
      },
    };
    const outDir = path.join(__dirname, '..', '..', 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    const rows = Object.entries(results.scenarios).map(([name, s]) => `| ${name} | ${s.p50Ms} | ${s.p95Ms} | ${s.p99Ms} | ${s.meanMs} | ${s.what} |`);
    writeFileSync(
      path.join(outDir, 'latest.md'),
      [`# Approval latency (${results.at})`, '', `${results.machine.cpus} cores (${results.machine.cpu}), ${results.machine.memoryGiB} GiB, Node ${results.machine.node}; ${ROUNDS} rounds after 5 warm-up rounds; Temporal dev server and PostgreSQL on the same machine.`, '', '| scenario | p50 ms | p95 ms | p99 ms | mean ms | what |', '| --- | --- | --- | --- | --- | --- |', ...rows, ''].join('\n'),
    );
    console.log(JSON.stringify(results.scenarios, null, 2));
    log(`results in ${path.relative(process.cwd(), outDir)}/latest.{json,md}`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[bench] failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
