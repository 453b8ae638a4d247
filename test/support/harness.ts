// One whole Countersign for a test file: its own database (cloned from the migrated
// template), the API on a free port, and a worker on its own task queue, against the suite's
// real Temporal server.

import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { quietTemporalRuntime } from './temporal-runtime';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createApiServer, type ApiServer } from '../../api/server';
import { openDatabase } from '../../database/data-source';
import { type EvidenceKey, loadEvidenceKey } from '../../evidence/keys';
import { PolicyHolder } from '../../settings/policy-file';
import { connectTemporal } from '../../settings/temporal';
import { readTemporalConnectionSettings } from '../../settings/temporal-connection';
import { createWorker } from '../../worker/worker';
import { adminQuery, databaseUrlFor } from './servers';

export const DEFAULT_POLICY = `
tiers:
  low:      { approvals: 1, expiresAfter: 24h }
  high:     { approvals: 2, expiresAfter: 24h }
  critical: { approvals: 2, requiredGroups: [security], expiresAfter: 8h }
  ops:      { approvals: 1, eligibleGroups: [sre], expiresAfter: 2h }
deployers:
  script: { type: command, run: ["./deploy.sh", "--fast"] }
environments: [production, staging]
rules:
  - { service: "pay-*", environment: production, tier: critical }
  - { service: "ops-*", tier: ops }
  - { environment: production, tier: high }
  - { tier: low }
`;

export interface HarnessOptions {
  policy?: string;
  /** Extra environment for `${VAR}` in the policy. */
  env?: Record<string, string>;
  /** Start without a worker (for tests that start and stop it themselves). */
  worker?: boolean;
  /** Failed authentications allowed per client per minute (the tests' default is generous). */
  authFailuresPerMinute?: number;
  /** How long the API waits for the gate's answer before a 503. */
  answerTimeoutMs?: number;
  /**
   * Reach Temporal as the API and worker processes would from these variables (TEMPORAL_ADDRESS,
   * TEMPORAL_TLS_*, TEMPORAL_API_KEY); the suite's plaintext dev server without.
   */
  temporalEnv?: Record<string, string>;
  /**
   * `host:port` through which the API (or the worker) reaches PostgreSQL instead of directly,
   * e.g. a TcpProxy's `hostPort` (test/support/tcp-proxy.ts) so a test can cut that link alone.
   * `dataSource` stays direct, for the test's own reads.
   */
  apiDatabaseVia?: string;
  workerDatabaseVia?: string;
  /** Event streams: keep-alive interval and streams per principal (the API's defaults otherwise). */
  eventKeepAliveMs?: number;
  eventStreamsPerPrincipal?: number;
  eventStreamMaxMs?: number;
  /** The task queue (default: a fresh one); a worker run as its own process polls the default. */
  taskQueue?: string;
  /** The Temporal UI's URL, as TEMPORAL_UI_URL gives it to the API (links on the approver page). */
  temporalUiUrl?: string;
  /** The base of links in notifications (COUNTERSIGN_PUBLIC_URL); default the API's URL. */
  publicBaseUrl?: string;
}

export interface Harness {
  url: string;
  adminToken: string;
  dataSource: DataSource;
  temporal: Client;
  taskQueue: string;
  policyFile: string;
  databaseUrl: string;
  dir: string;
  /** The key the API and the worker sign evidence with (generated in `dir`). */
  evidenceKey: EvidenceKey;
  api: ApiServer;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  restartApi(): Promise<void>;
  close(): Promise<void>;
}

export async function startCountersign(options: HarnessOptions = {}): Promise<Harness> {
  quietTemporalRuntime();
  for (const [key, value] of Object.entries(options.env ?? {})) process.env[key] = value;
  const pgServer = process.env.COUNTERSIGN_TEST_PG!;
  const database = `countersign_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(pgServer, `CREATE DATABASE ${database} TEMPLATE ${process.env.COUNTERSIGN_TEST_TEMPLATE}`);
  const databaseUrl = databaseUrlFor(pgServer, database);
  const dataSource = await openDatabase(databaseUrl, { poolSize: 5 });
  const via = (hostPort?: string) => {
    if (!hostPort) return Promise.resolve(dataSource);
    const url = new URL(databaseUrl);
    url.host = hostPort;
    return openDatabase(url.toString(), { poolSize: 5 });
  };
  const apiDataSource = await via(options.apiDatabaseVia);
  const workerDataSource = await via(options.workerDatabaseVia);

  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-harness-'));
  const policyFile = path.join(dir, 'countersign.yaml');
  writeFileSync(policyFile, options.policy ?? DEFAULT_POLICY);
  const policy = new PolicyHolder(policyFile, process.env);
  const evidenceKey = loadEvidenceKey({ dataDir: dir });

  const address = options.temporalEnv?.TEMPORAL_ADDRESS ?? process.env.TEMPORAL_ADDRESS!;
  const secured = readTemporalConnectionSettings(options.temporalEnv ?? {});
  const connection = await connectTemporal(address, secured, 10_000);
  const temporal = new Client({ connection, namespace: 'default' });
  const taskQueue = options.taskQueue ?? `countersign-test-${randomBytes(4).toString('hex')}`;
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;

  // A restarted API comes back on the same port, as a real restart would.
  let apiPort = 0;
  const startApi = () =>
    createApiServer({
      dataSource: apiDataSource,
      temporal,
      policy,
      evidenceKey,
      port: apiPort,
      host: '127.0.0.1',
      adminToken,
      logLevel: 'error',
      options: { namespace: 'default', taskQueue, temporalUiUrl: options.temporalUiUrl, authFailuresPerMinute: options.authFailuresPerMinute ?? 1000, answerTimeoutMs: options.answerTimeoutMs ?? 30_000, eventKeepAliveMs: options.eventKeepAliveMs, eventStreamsPerPrincipal: options.eventStreamsPerPrincipal, eventStreamMaxMs: options.eventStreamMaxMs },
    });
  let api = await startApi();
  apiPort = Number(new URL(api.url).port);

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let workerConnection: { close(): Promise<void> } | undefined;
  const startWorker = async () => {
    const created = await createWorker({
      temporalAddress: address,
      temporalConnection: secured,
      namespace: 'default',
      dataSource: workerDataSource,
      policy: () => policy.current(),
      taskQueue,
      workflowBundlePath: process.env.COUNTERSIGN_WORKFLOW_BUNDLE,
      dataDir: dir,
      evidenceKey,
      publicBaseUrl: options.publicBaseUrl ?? api.url,
    });
    worker = created.worker;
    workerConnection = created.connection;
    running = worker.run();
  };
  const stopWorker = async () => {
    if (!worker) return;
    worker.shutdown();
    await running;
    await workerConnection?.close();
    worker = undefined;
  };
  if (options.worker !== false) await startWorker();

  const harness: Harness = {
    get url() {
      return api.url;
    },
    get api() {
      return api;
    },
    adminToken,
    dataSource,
    temporal,
    taskQueue,
    policyFile,
    databaseUrl,
    dir,
    evidenceKey,
    startWorker,
    stopWorker,
    async restartApi() {
      await api.close();
      api = await startApi();
    },
    async close() {
      await stopWorker();
      await api.close();
      await connection.close();
      for (const source of new Set([apiDataSource, workerDataSource])) if (source !== dataSource) await source.destroy().catch(() => undefined);
      await dataSource.destroy();
      await adminQuery(pgServer, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    },
  } as Harness;
  return harness;
}
