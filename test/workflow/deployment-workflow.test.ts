// The workflow on the real Temporal dev server, with its activities stubbed: every ending and
// every refusal, decided from the workflow's history alone. With RECORD_HISTORIES=1 each
// ending's history is saved under test/replay/histories for the replay test.

import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { quietTemporalRuntime } from '../support/temporal-runtime';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AuditEventInput } from '../../activities/types';
import type { DeploymentRequest, DeploymentView, Person } from '../../policy/types';
import { workflowIdFor } from '../../policy/types';
import { approveUpdate, cancelUpdate, deploymentQuery, overrideUpdate, rejectUpdate, reviewUpdate } from '../../workflows/definitions';
import type { deploymentWorkflow } from '../../workflows/deployment';
import { ApplicationFailure } from '@temporalio/activity';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const record = process.env.RECORD_HISTORIES === '1';

const person = (id: string, groups: string[] = [], identities: string[] = [`email:${id}@example.com`]): Person => ({ id, groups, identities });
const alice = person('alice');
const bob = person('bob');
const carol = person('carol', ['security']);
const dave = person('dave', ['sre']);

function request(overrides: Partial<DeploymentRequest> = {}, rule: Partial<DeploymentRequest['rule']> = {}): DeploymentRequest {
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
    ...overrides,
  };
}

let connection: Connection;
let client: Client;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `workflow-test-${randomBytes(4).toString('hex')}`;
const audit: AuditEventInput[] = [];
const indexed: DeploymentView[] = [];
const deploys: Array<{ id: string; digest: string }> = [];
const failingDeploys = new Set<string>();

beforeAll(async () => {
  quietTemporalRuntime();
  connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  client = new Client({ connection });
  worker = await Worker.create({
    connection: await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! }),
    taskQueue,
    workflowBundle: { codePath: process.env.COUNTERSIGN_WORKFLOW_BUNDLE! },
    activities: {
      async recordAuditEvents(events: AuditEventInput[]) {
        audit.push(...events);
      },
      async indexDeployment(view: DeploymentView) {
        indexed.push(view);
      },
      async deploy({ request: req, digest }: { request: DeploymentRequest; digest: string }) {
        deploys.push({ id: req.id, digest });
        if (failingDeploys.has(req.id)) throw ApplicationFailure.nonRetryable('deploy.sh exited with code 3', 'DeployFailed');
        return { ok: true, deployer: req.rule.deployer, digest, at: new Date().toISOString(), output: 'ok' };
      },
    },
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
});

async function start(req: DeploymentRequest) {
  return client.workflow.start<typeof deploymentWorkflow>('deploymentWorkflow', {
    taskQueue,
    workflowId: workflowIdFor(req.id),
    args: [req],
  });
}

/** Adds a recording; existing ones stay, since they stand for workflows already running. */
async function saveHistory(name: string, workflowId: string) {
  const file = path.join(__dirname, '..', 'replay', 'histories', `${name}.json`);
  if (!record || existsSync(file)) return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(file, `${historyToJSON(history)}\n`);
}

describe('deployment workflow', () => {
  it('deploys exactly the approved digest once the quorum is met', async () => {
    const req = request();
    const handle = await start(req);
    const first = await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST, comment: 'ok' }] });
    expect(first.outcome).toBe('accepted');
    expect(first.deployment.status).toBe('PENDING');
    const second = await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    expect(second.deployment.status).toBe('APPROVED');
    const final = await handle.result();
    expect(final.status).toBe('DEPLOYED');
    expect(deploys.filter((d) => d.id === req.id)).toEqual([{ id: req.id, digest: DIGEST }]);
    const types = audit.filter((e) => e.deploymentId === req.id).map((e) => e.type);
    expect(types).toEqual([
      'deployment.requested',
      'approval.accepted',
      'approval.accepted',
      'deployment.decided',
      'deploy.started',
      'deploy.succeeded',
      'deployment.decided',
    ]);
    // The index's last write is the final state.
    expect(indexed.filter((v) => v.id === req.id).at(-1)?.status).toBe('DEPLOYED');
    await saveHistory('deployed', handle.workflowId);
  });

  it.each([
    ['the author', alice, DIGEST, 'AUTHOR'],
    ['the requester', person('ci', [], []), DIGEST, 'REQUESTER'],
    ['someone who claims an author identity', person('mallory', [], ['email:alice@example.com']), DIGEST, 'AUTHOR'],
    ['a wrong digest', bob, `sha256:${'b'.repeat(64)}`, 'DIGEST_MISMATCH'],
  ])('refuses %s, records it, and counts nothing', async (_, approver, digest, reason) => {
    const req = request();
    const handle = await start(req);
    const answer = await handle.executeUpdate(approveUpdate, { args: [{ approver, digest }] });
    expect(answer).toMatchObject({ outcome: 'refused', reason });
    const view = await handle.query(deploymentQuery);
    expect(view.approvals).toHaveLength(0);
    expect(view.refused).toEqual([expect.objectContaining({ kind: 'approval', actor: approver.id, reason })]);
    await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] } }] });
    await handle.result();
  });

  it('refuses a duplicate and someone outside eligibleGroups', async () => {
    const req = request({}, { tier: 'ops', approvals: 2, eligibleGroups: ['sre', 'security'] });
    const handle = await start(req);
    expect((await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] })).outcome).toBe('refused');
    expect((await handle.executeUpdate(approveUpdate, { args: [{ approver: dave, digest: DIGEST }] })).outcome).toBe('accepted');
    const dup = await handle.executeUpdate(approveUpdate, { args: [{ approver: dave, digest: DIGEST }] });
    expect(dup).toMatchObject({ outcome: 'refused', reason: 'DUPLICATE' });
    const refusedBob = (await handle.query(deploymentQuery)).refused.find((r) => r.actor === 'bob');
    expect(refusedBob?.reason).toBe('NOT_ELIGIBLE');
    await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'admin', roles: ['admin'] } }] });
    expect((await handle.result()).status).toBe('CANCELLED');
  });

  it('waits for a member of every required group', async () => {
    const req = request({}, { tier: 'critical', approvals: 2, requiredGroups: ['security'] });
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const two = await handle.executeUpdate(approveUpdate, { args: [{ approver: dave, digest: DIGEST }] });
    expect(two.deployment.status).toBe('PENDING');
    const three = await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    expect(three.deployment.status).toBe('APPROVED');
    expect((await handle.result()).status).toBe('DEPLOYED');
  });

  it('ends REJECTED on one eligible rejection and deploys nothing', async () => {
    const req = request();
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const answer = await handle.executeUpdate(rejectUpdate, { args: [{ approver: carol, comment: 'no' }] });
    expect(answer.deployment.status).toBe('REJECTED');
    const final = await handle.result();
    expect(final.decision).toMatchObject({ status: 'REJECTED', by: 'carol' });
    expect(deploys.some((d) => d.id === req.id)).toBe(false);
    await saveHistory('rejected', handle.workflowId);
  });

  it('ends CANCELLED by the requester; another pipeline is refused', async () => {
    const req = request();
    const handle = await start(req);
    const other = await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'other-ci', roles: ['pipeline'] } }] });
    expect(other).toMatchObject({ outcome: 'refused', reason: 'NOT_PERMITTED' });
    const answer = await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] }, reason: 'superseded' }] });
    expect(answer.deployment.status).toBe('CANCELLED');
    expect((await handle.result()).status).toBe('CANCELLED');
    await saveHistory('cancelled', handle.workflowId);
  });

  it('ends EXPIRED when no quorum comes in time, and refuses late answers', async () => {
    const req = request({}, { approvals: 2, expiresAfterMs: 1_500 });
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const final = await handle.result();
    expect(final.status).toBe('EXPIRED');
    expect(final.decision?.reason).toContain('no quorum');
    expect(deploys.some((d) => d.id === req.id)).toBe(false);
    await saveHistory('expired', handle.workflowId);
  });

  it('ends FAILED with the deployer\'s reason when the deploy fails', async () => {
    const req = request({}, { approvals: 1 });
    failingDeploys.add(req.id);
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const final = await handle.result();
    expect(final.status).toBe('FAILED');
    expect(final.deploy).toMatchObject({ ok: false, error: 'deploy.sh exited with code 3' });
    expect(final.decision?.reason).toContain('deploy.sh exited with code 3');
    await saveHistory('failed', handle.workflowId);
  });

  it('refuses answers after the decision while the deploy runs', async () => {
    const req = request({}, { approvals: 1 });
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const late = await handle.executeUpdate(rejectUpdate, { args: [{ approver: carol } ] }).catch((err: Error) => err);
    // Either the workflow still runs and refuses, or it has already finished.
    if (!(late instanceof Error)) expect(late).toMatchObject({ outcome: 'refused', reason: 'NOT_PENDING' });
    expect((await handle.result()).status).toBe('DEPLOYED');
  });

  it('lets an admin override, deploys, and stays open until the retrospective review', async () => {
    const req = request();
    const handle = await start(req);
    const admin = { ...person('root'), roles: ['admin'] };
    const overridden = await handle.executeUpdate(overrideUpdate, { args: [{ actor: admin, reason: 'payments outage, hotfix' }] });
    expect(overridden.deployment.status).toBe('APPROVED');
    expect(overridden.deployment.override).toMatchObject({ by: 'root', approvalsAtOverride: 0 });
    await waitForQuery(handle, (view) => view.status === 'DEPLOYED');
    const byOverrider = await handle.executeUpdate(reviewUpdate, { args: [{ approver: person('root') }] });
    expect(byOverrider).toMatchObject({ outcome: 'refused', reason: 'OVERRIDER' });
    const review = await handle.executeUpdate(reviewUpdate, { args: [{ approver: bob, comment: 'fine' }] });
    expect(review.deployment.override?.review).toMatchObject({ by: 'bob', late: false });
    const final = await handle.result();
    expect(final.status).toBe('DEPLOYED');
    expect(deploys.filter((d) => d.id === req.id)).toEqual([{ id: req.id, digest: DIGEST }]);
    await saveHistory('overridden', handle.workflowId);
  });
});

async function waitForQuery(handle: { query: (q: typeof deploymentQuery) => Promise<DeploymentView> }, check: (view: DeploymentView) => boolean) {
  for (let i = 0; i < 100; i += 1) {
    if (check(await handle.query(deploymentQuery))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the workflow never reached the expected state');
}
