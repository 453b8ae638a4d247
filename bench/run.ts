// `npm run bench`: where Countersign's speed claims come from. One run measures Countersign (its
// real HTTP API and its worker, each a process of its own, as `npm start` runs them) and a
// bare-Temporal baseline of the same shape (bare-workflow.ts, with its own worker process) side
// by side, on the same Temporal dev server and the same PostgreSQL, and writes
// bench/results/latest.{json,md} with the ratios against issue 9's goals, then the README's
// "Benchmarks" table. Timed tests are never used for speed; test/e2e/bench.test.ts only checks
// that a tiny run works and what it writes.
//
// Sizes: --tiny | --quick (default; about a minute) | --full (under 30 minutes on 2 cores), or
// BENCH_SIZE; any measure overridden by --kebab-name=value or BENCH_SNAKE_NAME (see SIZES).
// --out=DIR (BENCH_OUT) writes elsewhere; the README is rewritten only for a quick or full run
// into bench/results/, unless --no-readme. --note="…" (BENCH_NOTE) is printed with the results.
// Servers: TEMPORAL_ADDRESS and DATABASE_URL when given (a fresh namespace and a fresh database
// are made on them), else a Temporal dev server of its own and PostgreSQL at 127.0.0.1:5432
// (else an embedded one), as `npm start` would.

import { Client, Connection, WorkflowIdReusePolicy } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import { openDatabase } from '../database/data-source';
import { startEmbeddedPostgres } from '../local/embedded-postgres';
import { startTemporalDevServer } from '../local/embedded-temporal';
import { findFreePort, signalOnParentExit, stopChild } from '../local/process-tree';
import { findOrInstallTemporalCli } from '../local/temporal-cli';
import { MALLOC_ARENA_MAX } from '../settings/settings';
import { ensureSearchAttributes } from '../settings/temporal';
import { SearchKeys } from '../workflows/definitions';
import { bareApproveUpdate } from './bare-workflow';
import { BARE_TABLE_DDL } from './bare-worker';
import { cpuWindow, type Group, groupRssMb, listeningPid, withDescendants, cpuMs } from './procstat';
import { judgeGoals, markdown, ratio, rewriteReadme, round, summarize } from './report';

// --- sizes ------------------------------------------------------------------------------------

const SIZES = {
  tiny: { inFlight: 2, throughputDeployments: 4, rate: 5, latencySeconds: 2, lagEvery: 2, pending: [2, 4], sweepRate: 5, sweepSeconds: 1, listQueries: 5, listRows: 50, warmup: 1 },
  quick: { inFlight: 16, throughputDeployments: 32, rate: 20, latencySeconds: 4, lagEvery: 5, pending: [50, 100], sweepRate: 5, sweepSeconds: 3, listQueries: 40, listRows: 10_000, warmup: 3 },
  full: { inFlight: 16, throughputDeployments: 480, rate: 20, latencySeconds: 30, lagEvery: 10, pending: [100, 1_000, 10_000], sweepRate: 5, sweepSeconds: 60, listQueries: 200, listRows: 10_000, warmup: 10 },
};
type SizeName = keyof typeof SIZES;
type Config = (typeof SIZES)['full'];

const env = process.env; // a dev-only program (bench/ is outside production code)

function options(argv: string[]) {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}; see bench/run.ts`);
    flags.set(match[1], match[2] ?? 'true');
  }
  const flagSize = (['tiny', 'quick', 'full'] as const).find((s) => flags.has(s));
  const size = (flags.get('size') ?? flagSize ?? env.BENCH_SIZE ?? 'quick') as SizeName;
  if (!(size in SIZES)) throw new Error(`size must be tiny, quick or full, got ${size}`);
  const config: Config = { ...SIZES[size] };
  for (const key of Object.keys(config) as Array<keyof Config>) {
    const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const snake = `BENCH_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const raw = flags.get(kebab) ?? env[snake];
    if (raw === undefined) continue;
    if (key === 'pending') {
      const list = raw.split(',').map(Number);
      if (!list.length || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${kebab} must be whole numbers, e.g. 100,1000,10000`);
      config.pending = list;
    } else {
      const n = Number(raw);
      if (!(n > 0)) throw new Error(`${kebab} must be a positive number, got ${raw}`);
      (config as Record<string, unknown>)[key] = n;
    }
  }
  const root = path.extname(__filename) === '.ts' ? path.resolve(__dirname, '..') : path.resolve(__dirname, '..', '..');
  const defaultOut = path.join(root, 'bench', 'results');
  const out = path.resolve(flags.get('out') ?? env.BENCH_OUT ?? defaultOut);
  const readme = !flags.has('no-readme') && out === defaultOut && size !== 'tiny';
  return { size, config, out, readme, root, note: flags.get('note') ?? env.BENCH_NOTE };
}

// --- small tools ---------------------------------------------------------------------------------

const log = (line: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

interface Outcome {
  samples: number[];
  /** Each call's time by its number (open loop), undefined where it failed. */
  byCall: Array<number | undefined>;
  errors: number;
  firstError?: string;
}

function outcome(): Outcome {
  return { samples: [], byCall: [], errors: 0 };
}

function failed(o: Outcome, err: unknown) {
  o.errors += 1;
  o.firstError ??= (err as Error).message;
}

/** Open loop: call i is sent at start + i / rate whatever the answers; timed from that moment. */
async function openLoop(rate: number, count: number, call: (i: number) => Promise<void>): Promise<Outcome> {
  const o = outcome();
  const start = now() + 20;
  const calls: Promise<void>[] = [];
  for (let i = 0; i < count; i += 1) {
    const due = start + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    calls.push(
      call(i).then(
        () => {
          const ms = now() - due;
          o.samples.push(ms);
          o.byCall[i] = ms;
        },
        (err) => failed(o, err),
      ),
    );
  }
  await Promise.all(calls);
  return o;
}

/** Closed loop: `inFlight` callers, each starting the next call when its last one ends. */
async function closedLoop(inFlight: number, count: number, call: (i: number) => Promise<void>): Promise<Outcome & { seconds: number }> {
  const o = outcome();
  let next = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count) {
        const i = next++;
        const began = now();
        try {
          await call(i);
          o.samples.push(now() - began);
        } catch (err) {
          failed(o, err);
        }
      }
    }),
  );
  return { ...o, seconds: (now() - start) / 1000 };
}

/**
 * Waits for the phase's deployments to finish before the next phase, but never for one that cannot
 * (an approval refused or timed out under overload leaves its request pending): at most `maxMs`.
 * Answers how many had not finished.
 */
async function drain(results: Array<Promise<unknown>>, maxMs = 180_000): Promise<number> {
  let finished = 0;
  const all = Promise.all(results.map((p) => p.then(() => void (finished += 1), () => void (finished += 1))));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, maxMs)))]);
  clearTimeout(timer);
  return results.length - finished;
}

function sha(kind: 'sha1' | 'sha256', seed: string) {
  return createHash(kind).update(seed).digest('hex');
}

// --- the servers -----------------------------------------------------------------------------------

async function pgQuery<T = any>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh database on the given server (or 127.0.0.1:5432, or an embedded one), dropped at the end. */
async function database(stops: Array<() => Promise<void>>): Promise<{ url: string; where: string }> {
  const name = `countersign_bench_${randomBytes(4).toString('hex')}`;
  const server = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  try {
    await pgQuery(server, `CREATE DATABASE ${name}`);
    stops.push(() => pgQuery(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined));
    return { url: withDatabase(server, name), where: `${new URL(server).host} (database ${name}, dropped afterwards)` };
  } catch (err) {
    if (env.DATABASE_URL) {
      log(`cannot create a database on DATABASE_URL (${(err as Error).message}); using it as it is`);
      return { url: env.DATABASE_URL, where: 'DATABASE_URL as given' };
    }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-bench-'));
  chmodSync(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: 0, database: 'bench', log });
  stops.push(pg.stop);
  return { url: pg.url, where: 'embedded PostgreSQL started by the bench' };
}

/** Temporal: the given server with a fresh namespace, or a dev server of the bench's own. */
async function temporalServer(stops: Array<() => Promise<void>>): Promise<{ address: string; namespace: string; pid: number | null; where: string }> {
  if (env.TEMPORAL_ADDRESS) {
    const address = env.TEMPORAL_ADDRESS;
    const namespace = `bench-${randomBytes(4).toString('hex')}`;
    const connection = await Connection.connect({ address });
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
      await ensureSearchAttributes(connection, namespace);
      // A new namespace (and its search attributes) reach every service of the server a moment later.
      const client = new Client({ connection, namespace });
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const handle = await client.workflow.start('probe', {
            taskQueue: 'bench-probe', workflowId: `probe-${randomBytes(4).toString('hex')}`,
            typedSearchAttributes: [{ key: SearchKeys.service, value: 'probe' }],
          });
          await handle.terminate('probe');
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(500);
        }
      }
    } finally {
      await connection.close();
    }
    const port = Number(address.split(':').pop());
    return { address, namespace, pid: listeningPid(port), where: `${address} (namespace ${namespace})` };
  }
  const cli = await findOrInstallTemporalCli({ log });
  if (!cli) throw new Error('no temporal CLI; set TEMPORAL_CLI or TEMPORAL_ADDRESS');
  const server = await startTemporalDevServer({ cliPath: cli, log, logFile: path.join(mkdtempSync(path.join(tmpdir(), 'countersign-bench-temporal-')), 'temporal.log') });
  stops.push(server.stop);
  return { address: server.address, namespace: 'default', pid: server.pid, where: `Temporal dev server started by the bench (in memory), ${server.address}` };
}

interface Child {
  child: ChildProcess;
  pid: number;
  tail: () => string;
  stop: () => Promise<void>;
}

/** A program of this repository as a child process: compiled, or through swc when run from source. */
function spawnProgram(root: string, program: string, childEnv: NodeJS.ProcessEnv, logFile: string): Child {
  const fromSource = path.extname(__filename) === '.ts';
  // BENCH_PROFILE=<folder>: each program writes a V8 CPU profile there as it exits (open it in
  // Chrome DevTools), to see where a cost the table shows is spent.
  const profile = env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(env.BENCH_PROFILE)}`] : [];
  const args = fromSource
    ? [...profile, '-r', path.join(root, 'test', 'support', 'register-ts.js'), path.join(root, `${program}.ts`)]
    : [...profile, path.join(root, 'dist', `${program}.js`)];
  const child = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const forget = signalOnParentExit(child, 'SIGKILL');
  const file = createWriteStream(logFile);
  let tail = '';
  const keep = (chunk: Buffer) => {
    file.write(chunk);
    tail = (tail + chunk.toString()).slice(-4_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    child,
    pid: child.pid!,
    tail: () => tail,
    stop: async () => {
      await stopChild(child, [{ signal: 'SIGTERM', waitMs: 10_000 }, { signal: 'SIGKILL', waitMs: 5_000 }]);
      forget();
      file.end();
    },
  };
}

// --- the run ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { size, config, out, readme, root, note } = options(process.argv.slice(2));
  const startedAt = new Date();
  const loadStart = loadavg().map((x) => round(x, 2));
  log(`${size} run: ${JSON.stringify(config)}`);
  const stops: Array<() => Promise<void>> = [];
  const children: Child[] = [];
  // Interrupted: stop the processes and servers started so far, drop the database, then exit.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void (async () => {
        for (const stop of [...stops].reverse()) await stop().catch(() => undefined);
        process.exit(130);
      })();
    });
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'countersign-bench-run-'));
  try {
    const temporalInfo = await temporalServer(stops);
    const db = await database(stops);
    const { address, namespace } = temporalInfo;
    // Migrate once, as `npm start` does, so neither half's start-up includes it; then the baseline's table.
    await (await openDatabase(db.url)).destroy();
    await pgQuery(db.url, BARE_TABLE_DDL);
    const benchDb = (await pgQuery<{ d: string }>(db.url, 'SELECT current_database() AS d'))[0].d;

    const connection = await Connection.connect({ address });
    stops.push(() => connection.close());
    const temporal = new Client({ connection, namespace });

    const policyFile = path.join(scratch, 'policy.yaml');
    writeFileSync(policyFile, 'tiers:\n  two: { approvals: 2, expiresAfter: 24h }\nrules:\n  - { tier: two }\n');
    const adminToken = `bench-${randomBytes(12).toString('hex')}`;
    const port = await findFreePort();
    const baseEnv: NodeJS.ProcessEnv = {
      ...env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      DATABASE_URL: db.url,
      COUNTERSIGN_ADMIN_TOKEN: adminToken,
      COUNTERSIGN_CONFIG: policyFile,
      COUNTERSIGN_DATA_DIR: path.join(scratch, 'data'),
      COUNTERSIGN_LOG_LEVEL: 'warn',
      PORT: String(port),
    };
    // Countersign's processes run as its image runs them; the bare worker with Node's defaults.
    const countersignEnv: NodeJS.ProcessEnv = { MALLOC_ARENA_MAX, ...baseEnv };
    const apiUrl = `http://127.0.0.1:${port}`;

    // --- cold start: the API, then the worker with a workflow already waiting for it ---
    log('cold start: API');
    let began = now();
    const api = spawnProgram(root, 'api/main', countersignEnv, path.join(scratch, 'api.log'));
    children.push(api);
    stops.push(api.stop);
    for (;;) {
      if (api.child.exitCode !== null) throw new Error(`the API exited:\n${api.tail()}`);
      if (now() - began > 120_000) throw new Error(`the API did not answer within 120 s:\n${api.tail()}`);
      try {
        if ((await fetch(`${apiUrl}/healthz`)).ok) break;
      } catch {
        // not listening yet
      }
      await sleep(20);
    }
    const apiColdMs = round(now() - began);

    const call = async (method: string, route: string, token: string, body?: unknown): Promise<any> => {
      const response = await fetch(`${apiUrl}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await response.json()) as any;
      if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${json?.detail ?? JSON.stringify(json)}`);
      return json;
    };
    const principal = async (id: string, roles: string[]) => (await call('POST', '/v1/principals', adminToken, { id, roles, emails: [`${id}@example.com`] })).token as string;
    const ci = await principal('ci', ['pipeline']);
    const bob = await principal('bob', ['approver']);
    const carol = await principal('carol', ['approver']);

    interface Request { id: string; workflowId: string; digest: string; service: string }
    let serial = 0;
    const create = async (service = `svc-${serial % 20}`): Promise<Request> => {
      const seed = `${startedAt.getTime()}-${serial++}-${randomBytes(4).toString('hex')}`;
      const digest = `sha256:${sha('sha256', seed)}`;
      const created = await call('POST', '/v1/deployments', ci, {
        service,
        environment: 'production',
        artifact: { name: `registry.example.com/${service}:${seed}`, digest },
        change: { commit: sha('sha1', seed), authors: ['alice@example.com'] },
      });
      return { id: created.id, workflowId: created.workflowId, digest, service };
    };
    const approve = (r: Request, token: string) => call('POST', `/v1/deployments/${r.id}/approvals`, token, { digest: r.digest });
    const deployed = async (r: Request) => {
      const view = (await temporal.workflow.getHandle(r.workflowId).result()) as { status?: string };
      if (view?.status !== 'DEPLOYED') throw new Error(`${r.id} ended ${view?.status}`);
    };

    const firstTaskDone = async (workflowId: string, since: number) => {
      const handle = temporal.workflow.getHandle(workflowId);
      for (;;) {
        if (now() - since > 120_000) throw new Error(`no workflow task done on ${workflowId} within 120 s`);
        if ((await handle.describe()).historyLength >= 4) return round(now() - since); // scheduled, started, completed
        await sleep(20);
      }
    };

    log('cold start: worker');
    const waiting = await create();
    began = now();
    const worker = spawnProgram(root, 'worker/main', countersignEnv, path.join(scratch, 'worker.log'));
    children.push(worker);
    stops.push(worker.stop);
    const workerColdMs = await firstTaskDone(waiting.workflowId, began);

    const bareQueue = `bench-bare-${randomBytes(4).toString('hex')}`;
    const bareStart = (id = `bare-${randomBytes(8).toString('hex')}`) =>
      temporal.workflow.start('bareDeploymentWorkflow', { taskQueue: bareQueue, workflowId: id, args: [id, 2], workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE });
    log('cold start: bare worker');
    const bareWaiting = await bareStart();
    began = now();
    const bareWorker = spawnProgram(root, 'bench/bare-worker', { ...baseEnv, BENCH_BARE_QUEUE: bareQueue }, path.join(scratch, 'bare-worker.log'));
    children.push(bareWorker);
    stops.push(bareWorker.stop);
    const bareWorkerColdMs = await firstTaskDone(bareWaiting.workflowId, began);

    const bareApprove = (workflowId: string, who: string) => temporal.workflow.getHandle(workflowId).executeUpdate(bareApproveUpdate, { args: [who] });
    const bareDeployed = async (workflowId: string) => {
      const result = await temporal.workflow.getHandle(workflowId).result();
      if (result !== 'DEPLOYED') throw new Error(`${workflowId} ended ${result}`);
    };
    const countersignDeployment = async (r?: Request) => {
      const request = r ?? (await create('web'));
      await approve(request, bob);
      await approve(request, carol);
      await deployed(request);
    };
    const bareDeployment = async (workflowId?: string) => {
      const id = workflowId ?? (await bareStart()).workflowId;
      await bareApprove(id, 'bob');
      await bareApprove(id, 'carol');
      await bareDeployed(id);
    };

    // Both waiting ones through, then a warm-up.
    await countersignDeployment(waiting);
    await bareDeployment(bareWaiting.workflowId);
    await closedLoop(config.inFlight, config.warmup, () => countersignDeployment());
    await closedLoop(config.inFlight, config.warmup, () => bareDeployment());

    // --- process groups, for CPU and RSS ---
    const temporalPids = () => (temporalInfo.pid ? withDescendants(temporalInfo.pid) : []);
    const monitor = new PgClient({ connectionString: db.url });
    await monitor.connect();
    stops.push(() => monitor.end());
    const postgresPids = async () =>
      (await monitor.query('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [benchDb])).rows.map((r) => Number(r.pid));
    const groups = {
      api: { name: 'api', pids: () => [api.pid] },
      worker: { name: 'worker', pids: () => [worker.pid] },
      bareWorker: { name: 'worker', pids: () => [bareWorker.pid] },
      temporal: { name: 'temporal', pids: temporalPids },
      postgres: { name: 'postgres', pids: postgresPids },
      bench: { name: 'loadGenerator', pids: () => [process.pid] },
    } satisfies Record<string, Group>;

    /** Waits until a worker has been idle (under 5% of a core) for a second: a backlog would distort the next phase. */
    const settle = async (pid: number, maxMs = 120_000) => {
      const deadline = now() + maxMs;
      let last = cpuMs(pid);
      while (now() < deadline) {
        await sleep(1_000);
        const cur = cpuMs(pid);
        if (last === null || cur === null || cur - last < 50) return;
        last = cur;
      }
    };
    const perDeployment = (cpu: Record<string, number | null>, n: number, appKeys: string[]) => {
      const per = (x: number | null | undefined) => (x == null || n === 0 ? null : round(x / n));
      const app = appKeys.every((k) => cpu[k] != null) ? appKeys.reduce((s, k) => s + cpu[k]!, 0) : null;
      const total = app != null && cpu.temporal != null && cpu.postgres != null ? app + cpu.temporal + cpu.postgres : null;
      return { ...Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, per(v)])), app: per(app), total: per(total) };
    };

    // --- throughput: deployments carried to DEPLOYED, `inFlight` at a time ---
    log(`throughput: ${config.throughputDeployments} deployments each, ${config.inFlight} in flight`);
    await settle(worker.pid);
    let window = await cpuWindow([groups.api, groups.worker, groups.temporal, groups.postgres, groups.bench]);
    const cThroughput = await closedLoop(config.inFlight, config.throughputDeployments, () => countersignDeployment());
    const cCpu = await window.stop();
    await settle(bareWorker.pid);
    window = await cpuWindow([groups.bareWorker, groups.temporal, groups.postgres, groups.bench]);
    const bThroughput = await closedLoop(config.inFlight, config.throughputDeployments, () => bareDeployment());
    const bCpu = await window.stop();
    const cDone = cThroughput.samples.length;
    const bDone = bThroughput.samples.length;
    const throughput = {
      inFlight: config.inFlight,
      countersign: {
        deployments: config.throughputDeployments, done: cDone, errors: cThroughput.errors, firstError: cThroughput.firstError,
        seconds: round(cThroughput.seconds, 2), perSecond: round(cDone / cThroughput.seconds, 2),
        deploymentMs: summarize(cThroughput.samples), cpuMsPerDeployment: perDeployment(cCpu, cDone, ['api', 'worker']),
      },
      bare: {
        deployments: config.throughputDeployments, done: bDone, errors: bThroughput.errors, firstError: bThroughput.firstError,
        seconds: round(bThroughput.seconds, 2), perSecond: round(bDone / bThroughput.seconds, 2),
        deploymentMs: summarize(bThroughput.samples), cpuMsPerDeployment: perDeployment(bCpu, bDone, ['worker']),
      },
      ratio: 0 as number | null,
    };
    throughput.ratio = ratio(throughput.countersign.perSecond, throughput.bare.perSecond);
    log(`throughput: Countersign ${throughput.countersign.perSecond}/s, bare ${throughput.bare.perSecond}/s`);

    // --- open-loop approvals at a fixed rate, with the index and trail lag sampled meanwhile ---
    const approvals = Math.max(2, Math.round(config.rate * config.latencySeconds));
    const pairs = Math.ceil(approvals / 2);
    log(`latency: ${approvals} approvals at ${config.rate}/s each`);
    await settle(worker.pid);
    const lagRun = randomBytes(3).toString('hex');
    const cTargets: Request[] = [];
    await closedLoop(config.inFlight, pairs, async (k) => {
      cTargets[k] = await create(k % config.lagEvery === 0 ? `lag-${lagRun}-${k}` : undefined);
    });
    await settle(worker.pid);
    const LAG_TIMEOUT_MS = 30_000;
    const lagIndex: number[] = [];
    const lagTrail: number[] = [];
    let lagTimeouts = 0;
    const watchers: Promise<void>[] = [];
    const watchLag = (r: Request, answeredAt: number) => {
      const until = async (seen: () => Promise<boolean>, into: number[]) => {
        while (now() - answeredAt < LAG_TIMEOUT_MS) {
          if (await seen()) return void into.push(now() - answeredAt);
          await sleep(25);
        }
        lagTimeouts += 1;
      };
      watchers.push(
        until(async () => {
          const page = await call('GET', `/v1/deployments?service=${encodeURIComponent(r.service)}&limit=1`, adminToken);
          return (page.deployments?.[0]?.approvals?.length ?? 0) >= 1;
        }, lagIndex),
        until(async () => {
          const page = await call('GET', `/v1/audit?deployment=${encodeURIComponent(r.id)}&type=approval.accepted`, adminToken);
          return (page.events?.length ?? 0) >= 1;
        }, lagTrail),
      );
    };
    const cLatency = await openLoop(config.rate, pairs * 2, async (i) => {
      const r = cTargets[i >> 1];
      await approve(r, i % 2 === 0 ? bob : carol);
      if (i % 2 === 0 && (i >> 1) % config.lagEvery === 0) watchLag(r, now());
    });
    await Promise.all(watchers);
    const cUndrained = await drain(cTargets.map((r) => deployed(r)));
    await settle(bareWorker.pid);
    const bTargets: string[] = [];
    await closedLoop(config.inFlight, pairs, async (k) => {
      bTargets[k] = (await bareStart()).workflowId;
    });
    await settle(bareWorker.pid);
    const bLatency = await openLoop(config.rate, pairs * 2, (i) => bareApprove(bTargets[i >> 1], i % 2 === 0 ? 'bob' : 'carol').then(() => undefined));
    const bUndrained = await drain(bTargets.map((id) => bareDeployed(id)));
    // Each deployment's first approval and the one that meets its quorum (and starts its deploy) apart.
    const nth = (o: Outcome, parity: number) => summarize(o.byCall.filter((ms, i): ms is number => ms !== undefined && i % 2 === parity));
    const latency = {
      ratePerSecond: config.rate,
      seconds: round((pairs * 2) / config.rate, 1),
      countersign: { ...summarize(cLatency.samples), errors: cLatency.errors, firstError: cLatency.firstError, notDeployedWithinDrain: cUndrained, first: nth(cLatency, 0), quorum: nth(cLatency, 1) },
      bare: { ...summarize(bLatency.samples), errors: bLatency.errors, firstError: bLatency.firstError, notDeployedWithinDrain: bUndrained, first: nth(bLatency, 0), quorum: nth(bLatency, 1) },
      ratioP99: null as number | null,
    };
    latency.ratioP99 = ratio(latency.countersign.p99Ms, latency.bare.p99Ms);
    const lag = { index: summarize(lagIndex), trail: summarize(lagTrail), timeouts: lagTimeouts, timeoutMs: LAG_TIMEOUT_MS };
    log(`latency p99: Countersign ${latency.countersign.p99Ms} ms, bare ${latency.bare.p99Ms} ms; lag p99 index ${lag.index.p99Ms} ms, trail ${lag.trail.p99Ms} ms`);

    // --- the pending sweep: approvals at a low fixed rate among ever more pending requests ---
    const cPending: Request[] = [];
    const bPending: string[] = [];
    const cApproved = new Set<number>();
    const bApproved = new Set<number>();
    const pickUnapproved = (total: number, taken: Set<number>, count: number) => {
      const picked: number[] = [];
      while (picked.length < count && taken.size < total) {
        const i = Math.floor(Math.random() * total);
        if (taken.has(i)) continue;
        taken.add(i);
        picked.push(i);
      }
      return picked;
    };
    const steps = [];
    for (const target of config.pending) {
      log(`pending sweep: up to ${target} pending each`);
      const cNew = Math.max(0, target - cPending.length);
      const cCreate = await closedLoop(config.inFlight, cNew, async () => void cPending.push(await create()));
      await settle(worker.pid);
      const bNew = Math.max(0, target - bPending.length);
      const bCreate = await closedLoop(config.inFlight, bNew, async () => void bPending.push((await bareStart()).workflowId));
      await settle(bareWorker.pid);
      const count = Math.max(1, Math.round(config.sweepRate * config.sweepSeconds));
      const cPicks = pickUnapproved(cPending.length, cApproved, count);
      const cStep = await openLoop(config.sweepRate, cPicks.length, (i) => approve(cPending[cPicks[i]], bob));
      const cRss = { workerRssMb: await groupRssMb(groups.worker), apiRssMb: await groupRssMb(groups.api), temporalRssMb: await groupRssMb(groups.temporal) };
      const bPicks = pickUnapproved(bPending.length, bApproved, count);
      const bStep = await openLoop(config.sweepRate, bPicks.length, (i) => bareApprove(bPending[bPicks[i]], 'bob').then(() => undefined));
      const bRss = { workerRssMb: await groupRssMb(groups.bareWorker), temporalRssMb: await groupRssMb(groups.temporal) };
      steps.push({
        pending: target,
        ratePerSecond: config.sweepRate,
        countersign: {
          approval: { ...summarize(cStep.samples), errors: cStep.errors, firstError: cStep.firstError },
          ...cRss,
          created: cCreate.samples.length, createErrors: cCreate.errors,
          createdPerSecond: cNew ? round(cCreate.samples.length / cCreate.seconds, 1) : null,
        },
        bare: {
          approval: { ...summarize(bStep.samples), errors: bStep.errors, firstError: bStep.firstError },
          ...bRss,
          created: bCreate.samples.length, createErrors: bCreate.errors,
          createdPerSecond: bNew ? round(bCreate.samples.length / bCreate.seconds, 1) : null,
        },
      });
      log(`  ${target} pending: approval p99 Countersign ${cStep.samples.length ? summarize(cStep.samples).p99Ms : 'n/a'} ms, bare ${summarize(bStep.samples).p99Ms} ms; worker RSS ${cRss.workerRssMb} MB vs ${bRss.workerRssMb} MB`);
    }
    const first = steps[0];
    const last = steps[steps.length - 1];
    const pending = {
      steps,
      growth: {
        countersign: ratio(last?.countersign.approval.p99Ms, first?.countersign.approval.p99Ms),
        bare: ratio(last?.bare.approval.p99Ms, first?.bare.approval.p99Ms),
      },
    };

    // --- GET /v1/deployments with and without filters, at the rows the run has made ---
    await settle(worker.pid);
    let rows: number | null = null;
    try {
      rows = Number((await pgQuery<{ n: string }>(db.url, 'SELECT count(*) AS n FROM deployments'))[0].n);
    } catch {
      // the index table is named otherwise now; the row count stays unknown
    }
    // The listing goal is at 10,000 rows: short of them, the index is filled up with copies of
    // the run's own rows (new ids, spread back in time), as many deployments would leave it.
    let seededRows = 0;
    if (rows !== null && rows > 0 && rows < config.listRows) {
      const columns = (await pgQuery<{ name: string }>(
        db.url,
        `SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'deployments' AND is_generated = 'NEVER' ORDER BY ordinal_position`,
      )).map((c) => c.name);
      const copied = columns.map((c) =>
        c === 'id' || c === 'workflow_id' ? `'seed-' || g || '-' || d.${c}` : c === 'requested_at' ? `d.requested_at - g * interval '1 minute'` : `d.${c}`);
      const copies = Math.ceil((config.listRows - rows) / rows);
      await pgQuery(
        db.url,
        `INSERT INTO deployments (${columns.join(', ')}) SELECT ${copied.join(', ')} FROM deployments d CROSS JOIN generate_series(1, ${copies}) g LIMIT ${config.listRows - rows}`,
      );
      seededRows = config.listRows - rows;
      rows = config.listRows;
    }
    const firstPage = await call('GET', '/v1/deployments', adminToken);
    const listQueries = [
      '',
      '?service=svc-3',
      '?environment=production&status=PENDING',
      '?service=svc-3&environment=production&status=DEPLOYED',
      '?status=REJECTED',
      ...(firstPage.next ? [`?before=${encodeURIComponent(firstPage.next)}`] : []),
    ];
    log(`list: ${listQueries.length} queries × ${config.listQueries} at ${rows ?? '?'} rows (${seededRows} of them copies)`);
    const list = {
      rows,
      seededRows,
      queries: [] as Array<ReturnType<typeof summarize> & { query: string; errors: number }>,
    };
    for (const query of listQueries) {
      for (let i = 0; i < 3; i += 1) await call('GET', `/v1/deployments${query}`, adminToken);
      const o = outcome();
      for (let i = 0; i < config.listQueries; i += 1) {
        const t0 = now();
        try {
          await call('GET', `/v1/deployments${query}`, adminToken);
          o.samples.push(now() - t0);
        } catch (err) {
          failed(o, err);
        }
      }
      list.queries.push({ query: query.replace(/before=[^&]+/, 'before=<page 1 next>'), ...summarize(o.samples), errors: o.errors });
    }

    // --- the results ---
    const results: any = {
      at: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      size,
      config,
      note: note ?? null,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model?.trim(),
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${platform()} ${release()}`,
        loadAverage: { start: loadStart, end: loadavg().map((x) => round(x, 2)) },
      },
      servers: { temporal: temporalInfo.where, postgres: db.where },
      coldStart: { countersign: { apiMs: apiColdMs, workerMs: workerColdMs }, bare: { workerMs: bareWorkerColdMs } },
      throughput,
      latency,
      lag,
      pending,
      list,
    };
    results.goals = judgeGoals(results);
    const table = markdown(results);
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(out, 'latest.md'), table);
    writeFileSync(path.join(out, `${size}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify(results, null, 2)}\n`);
    if (readme) {
      const readmePath = path.join(root, 'README.md');
      if (!rewriteReadme(readmePath, table)) log('README.md has no bench markers; left it alone');
      else log('README.md "Benchmarks" table rewritten');
    }
    process.stdout.write(table);
    log(`results in ${out}/latest.{json,md} (${Math.round((Date.now() - startedAt.getTime()) / 1000)} s)`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: Error) => log(`while stopping: ${err.message}`));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[bench] failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
