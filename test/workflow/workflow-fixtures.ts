// What the workflow tests share: people, a request, a worker with stubbed activities that
// remembers what the workflow asked them to write, and the recording of histories for replay.

import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { ApplicationFailure } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTemporalDevServer } from '../../local/embedded-temporal';
import { findOrInstallTemporalCli } from '../../local/temporal-cli';
import { quietTemporalRuntime } from '../support/temporal-runtime';
import type { AuditEventInput, NotifyInput, NotifyOutcome, RecordedChanges } from '../../activities/types';
import type { DeploymentRequest, DeploymentView, Person } from '../../policy/types';
import { workflowIdFor } from '../../policy/types';
import { pendingView } from '../../policy/view';
import { requestedEvent, startingSearchAttributes } from '../../workflows/definitions';
import type { deploymentWorkflow } from '../../workflows/deployment';

export const DIGEST = `sha256:${'a'.repeat(64)}`;
export const WRONG_DIGEST = `sha256:${'b'.repeat(64)}`;
export const recordHistories = process.env.RECORD_HISTORIES === '1';

export const person = (id: string, groups: string[] = [], identities: string[] = [`email:${id}@example.com`]): Person => ({ id, groups, identities });

export function request(overrides: Partial<DeploymentRequest> = {}, rule: Partial<DeploymentRequest['rule']> = {}): DeploymentRequest {
  const id = randomUUID();
  const now = Date.now();
  const expiresAfterMs = rule.expiresAfterMs ?? 3_600_000;
  return {
    id,
    service: 'web',
    environment: 'production',
    artifact: { name: 'registry.example.com/web:1', digest: DIGEST },
    change: { commit: 'c'.repeat(40), authors: ['alice@example.com'] },
    requester: person('ci', [], []),
    excluded: { principalIds: ['alice'], identities: ['email:alice@example.com'] },
    rule: { tier: 'high', approvals: 2, requiredGroups: [], eligibleGroups: [], expiresAfterMs, deployer: 'log', policyHash: 'sha256:test', ruleIndex: 0, ...rule },
    requestedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + expiresAfterMs).toISOString(),
    // As the API sends it: it has written the request's event and index row already.
    requestRecorded: true,
    ...overrides,
  };
}

/** What the stubbed activities were asked to do. */
export interface Recorded {
  audit: AuditEventInput[];
  indexed: DeploymentView[];
  deploys: Array<{ id: string; digest: string }>;
  failingDeploys: Set<string>;
  /** Deployments whose `recordChanges` fails, as while the database refuses the worker. */
  failingWrites: Set<string>;
  /** Every call of the notify activity (workflows/notifications.ts), in order. */
  notified: Array<Omit<NotifyInput, 'request'> & { id: string }>;
  /** Channels whose notify activity fails every try. */
  failingChannels: Set<string>;
  /** The change calendar the stubbed `checkFreeze` answers from: frozen until `until`, by service. */
  freezes: Map<string, { until: number; reason: string }>;
  /** The services whose calendar the stubbed `checkFreeze` was asked for, in order. */
  calendarReads: string[];
  /** What the stubbed `supersedeOlder` answers, by deployment id (nothing older, nothing newer without). */
  supersede: Map<string, { cancelled: string[]; newer?: string }>;
}

export interface StubbedWorker {
  taskQueue: string;
  recorded: Recorded;
  stop(): Promise<void>;
}

export async function startStubbedWorker(address: string): Promise<StubbedWorker> {
  const taskQueue = `workflow-test-${randomBytes(4).toString('hex')}`;
  const recorded: Recorded = {
    audit: [], indexed: [], deploys: [], failingDeploys: new Set(), failingWrites: new Set(), notified: [], failingChannels: new Set(), freezes: new Map(), calendarReads: [], supersede: new Map(),
  };
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { codePath: process.env.COUNTERSIGN_WORKFLOW_BUNDLE! },
    activities: {
      async recordChanges(changes: RecordedChanges) {
        if (changes.events.some((event) => recorded.failingWrites.has(event.deploymentId)) || (changes.view && recorded.failingWrites.has(changes.view.id))) {
          throw ApplicationFailure.retryable('connect ECONNREFUSED 127.0.0.1:5432', 'Error');
        }
        recorded.audit.push(...changes.events);
        if (changes.view) recorded.indexed.push(changes.view);
        return changes;
      },
      async recordAuditEvents(events: AuditEventInput[]) {
        recorded.audit.push(...events);
      },
      async indexDeployment(view: DeploymentView) {
        recorded.indexed.push(view);
      },
      async notify({ request: req, ...rest }: NotifyInput): Promise<NotifyOutcome> {
        const key = `${req.id}.${rest.event}.${rest.sequence}.${rest.channel}`;
        if (recorded.failingChannels.has(rest.channel)) throw ApplicationFailure.nonRetryable(`${rest.channel} refused the message`, 'NotificationFailed');
        recorded.notified.push({ id: req.id, ...rest });
        return { key, status: 'sent', recipients: 1 };
      },
      async checkFreeze({ service }: { service: string; environment: string }) {
        recorded.calendarReads.push(service);
        const freeze = recorded.freezes.get(service);
        if (!freeze || Date.now() >= freeze.until) return { frozen: false };
        return { frozen: true, until: new Date(freeze.until).toISOString(), reason: freeze.reason, windows: [`${service}-freeze`] };
      },
      async supersedeOlder({ id }: { id: string }) {
        return recorded.supersede.get(id) ?? { cancelled: [] };
      },
      async deploy({ request: req, digest }: { request: DeploymentRequest; digest: string }) {
        recorded.deploys.push({ id: req.id, digest });
        if (recorded.failingDeploys.has(req.id)) throw ApplicationFailure.nonRetryable('deploy.sh exited with code 3', 'DeployFailed');
        return { ok: true, deployer: req.rule.deployer, digest, at: new Date().toISOString(), output: 'ok' };
      },
    },
  });
  const running = worker.run();
  return {
    taskQueue,
    recorded,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/**
 * Starts a deployment's workflow as the API does: the request's event and index row first, where
 * the request says the API wrote them (`requestRecorded`), then the workflow, with its search attributes.
 */
export async function startDeployment(client: Client, worker: StubbedWorker, req: DeploymentRequest) {
  if (req.requestRecorded) {
    worker.recorded.audit.push(requestedEvent(req));
    worker.recorded.indexed.push(pendingView(req, workflowIdFor(req.id)));
  }
  return client.workflow.start<typeof deploymentWorkflow>('deploymentWorkflow', {
    taskQueue: worker.taskQueue,
    workflowId: workflowIdFor(req.id),
    args: [req],
    // As the API starts it: the UI's live audit view filters on these.
    typedSearchAttributes: startingSearchAttributes(req),
  });
}

/**
 * The workflow's latest shape (its newest `patched()` name), which new recordings are named
 * after: `deployed.json` is the oldest shape, `deployed.one-write-per-change.json` the next, and so
 * on. After a versioned change, name the new shape here and record again (RECORD_HISTORIES=1).
 */
export const HISTORY_SHAPE = 'calendar-with-answer';

/**
 * Adds a recording of one run's history (the latest run without `runId`), named after the patch
 * whose shape it records; existing recordings stay, since they stand for workflows already running.
 */
export async function saveHistory(client: Client, name: string, workflowId: string, runId?: string): Promise<void> {
  const file = path.join(__dirname, '..', 'replay', 'histories', `${name}.${HISTORY_SHAPE}.json`);
  if (!recordHistories || existsSync(file)) return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  writeFileSync(file, `${historyToJSON(history)}\n`);
}

/** A client and a worker with stubbed activities, on one Temporal server. */
export interface StubbedGate {
  client: Client;
  worker: StubbedWorker;
  stop(): Promise<void>;
}

/**
 * Starts a stubbed gate before the enclosing block's tests (quiet logs) and stops it after them;
 * `started` receives it once it runs, to take its client and worker.
 */
export function useStubbedGate(started: (gate: StubbedGate) => void, options: { suggestContinueAsNewAfter?: number } = {}): void {
  let gate: StubbedGate | undefined;
  beforeAll(async () => {
    quietTemporalRuntime();
    gate = await startStubbedGate(options);
    started(gate);
  });
  afterAll(() => gate?.stop());
}

/**
 * A client and a stubbed worker on the suite's Temporal server; with `suggestContinueAsNewAfter`,
 * on a dev server of the caller's own that suggests continue-as-new after that many events (the
 * hint a production server gives at thousands), so the hand-over is exercised in seconds.
 */
export async function startStubbedGate(options: { suggestContinueAsNewAfter?: number } = {}): Promise<StubbedGate> {
  let stopServer = async () => undefined as void;
  let address = process.env.TEMPORAL_ADDRESS!;
  if (options.suggestContinueAsNewAfter !== undefined) {
    const cli = await findOrInstallTemporalCli({ log: () => undefined });
    if (!cli) throw new Error('no temporal CLI for a hand-over server');
    const server = await startTemporalDevServer({
      cliPath: cli,
      logFile: path.join(mkdtempSync(path.join(tmpdir(), 'countersign-hand-over-')), 'temporal.log'),
      extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${options.suggestContinueAsNewAfter}`],
    });
    address = server.address;
    stopServer = server.stop;
  }
  const connection = await Connection.connect({ address });
  const worker = await startStubbedWorker(address);
  return {
    client: new Client({ connection }),
    worker,
    async stop() {
      await worker.stop();
      await connection.close();
      await stopServer();
    },
  };
}
