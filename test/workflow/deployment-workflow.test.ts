// The workflow on the real Temporal dev server, with its activities stubbed: every ending and
// every refusal, decided from the workflow's history alone. With RECORD_HISTORIES=1 each
// ending's history is saved under test/replay/histories for the replay test.

import { type Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { DeploymentRequest, DeploymentView } from '../../policy/types';
import { RECENT_REFUSALS_KEPT, REFUSALS_PER_ACTOR, TOO_MANY_REFUSALS } from '../../policy/refusals';
import { approveUpdate, cancelUpdate, deploymentQuery, overrideUpdate, rejectUpdate, reviewUpdate, SearchKeys } from '../../workflows/definitions';
import { workflowIdFor } from '../../policy/types';
import {
  DIGEST,
  HISTORY_SHAPE,
  person,
  type Recorded,
  request,
  saveHistory as saveRecording,
  startDeployment,
  useStubbedGate,
  type StubbedWorker,
  WRONG_DIGEST,
} from './workflow-fixtures';

const alice = person('alice');
const bob = person('bob');
const carol = person('carol', ['security']);
const dave = person('dave', ['sre']);

let client: Client;
let worker: StubbedWorker;
let audit: Recorded['audit'];
let indexed: Recorded['indexed'];
let deploys: Recorded['deploys'];
let failingDeploys: Recorded['failingDeploys'];
let failingWrites: Recorded['failingWrites'];

useStubbedGate((gate) => {
  ({ client, worker } = gate);
  ({ audit, indexed, deploys, failingDeploys, failingWrites } = worker.recorded);
});

async function start(req: DeploymentRequest) {
  return startDeployment(client, worker, req);
}

/** Adds a recording; existing ones stay, since they stand for workflows already running. */
async function saveHistory(name: string, workflowId: string) {
  await saveRecording(client, name, workflowId);
}

/** The trail of a request approved by two and deployed, in order. */
const DEPLOYED_TRAIL = [
  'deployment.requested',
  'approval.accepted',
  'approval.accepted',
  'deployment.decided',
  'deploy.started',
  'deploy.succeeded',
  'deployment.decided',
];

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
    expect(types).toEqual(DEPLOYED_TRAIL);
    // The index's last write is the final state.
    expect(indexed.filter((v) => v.id === req.id).at(-1)?.status).toBe('DEPLOYED');
    await saveHistory('deployed', handle.workflowId);
  });

  it('writes the quorum with the deploy\'s start, checks one patch, and upserts only what changed', async () => {
    const req = request();
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    await handle.result();
    // The approval that meets the quorum is written with the decision and the deploy's start: no
    // write says APPROVED. (The request and the first approval may share a write, when the
    // approval arrives in the workflow's first task.)
    const writes = indexed.filter((v) => v.id === req.id);
    expect(writes.map((v) => v.status)).not.toContain('APPROVED');
    expect(writes.filter((v) => v.approvals.length === 2).map((v) => v.status)).toEqual(['DEPLOYING', 'DEPLOYED']);
    const events = (await handle.fetchHistory()).events ?? [];
    const json = (data: Uint8Array | null | undefined) => JSON.parse(Buffer.from(data ?? []).toString());
    const patches = events
      .filter((event) => event.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map((event) => json(event.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data).id);
    expect(patches).toEqual([HISTORY_SHAPE]);
    // The workflow starts PENDING with no approvers (startingSearchAttributes): no upsert says so again.
    const upserts = events
      .map((event) => event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields)
      .filter((fields) => fields?.DeployStatus)
      .map((fields) => [json(fields!.DeployStatus!.data), json(fields!.DeployApprovers!.data)]);
    expect(upserts).toEqual([['PENDING', ['bob']], ['DEPLOYING', ['bob', 'carol']], ['DEPLOYED', ['bob', 'carol']]]);
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

/** The gate's answer, or the validator's rejection when it turned the attempt away. */
async function attempt<T>(send: () => Promise<T>): Promise<T | { turnedAway: string }> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === TOO_MANY_REFUSALS) {
      return { turnedAway: err.cause.message };
    }
    throw err;
  }
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

describe('refused attempts a caller cannot pile up', () => {
  it('keeps a count and the latest few refusals, stops hearing a principal past the limit, and still counts good approvals', async () => {
    const req = request();
    const handle = await start(req);
    const sizes: number[] = [];
    const turnedAway: string[] = [];
    // One approver with the wrong digest, over and over; and ten more at once, each many times.
    const sendWrong = async (approver: ReturnType<typeof person>, times: number) => {
      for (let i = 0; i < times; i += 1) {
        const answer = await attempt(() => handle.executeUpdate(approveUpdate, { args: [{ approver, digest: WRONG_DIGEST, comment: 'x'.repeat(4000) }] }));
        if ('turnedAway' in answer) turnedAway.push(answer.turnedAway);
        else {
          expect(answer).toMatchObject({ outcome: 'refused', reason: 'DIGEST_MISMATCH' });
          sizes.push(bytes(answer));
        }
      }
    };
    await sendWrong(bob, 200);
    const crowd = Array.from({ length: 10 }, (_, i) => person(`mallory-${i}`));
    await Promise.all(crowd.map((who) => sendWrong(who, 30)));

    const expectedCount = REFUSALS_PER_ACTOR * 11;
    expect(turnedAway).toHaveLength(200 + 10 * 30 - expectedCount);
    expect(turnedAway[0]).toContain(`bob has been refused ${REFUSALS_PER_ACTOR} times on deployment ${req.id}`);
    // Every answer stays small whatever came before it.
    expect(Math.max(...sizes)).toBeLessThan(16_000);
    const view = await handle.query(deploymentQuery);
    expect(view.refusedCount).toBe(expectedCount);
    expect(view.refused).toHaveLength(RECENT_REFUSALS_KEPT);
    expect(bytes(view)).toBeLessThan(16_000);

    // Turned-away attempts leave nothing in history: one accepted update per counted refusal.
    const history = await handle.fetchHistory();
    const accepted = history.events!.filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes).length;
    expect(accepted).toBe(expectedCount);
    expect(history.events!.length).toBeLessThan(expectedCount * 12 + 100);

    // A principal past the limit is still heard when the gate would accept the answer.
    const good = await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    expect(good.outcome).toBe('accepted');
    expect(good.deployment.approvals.map((a) => a.approver)).toEqual(['bob']);
    // ... but a refused one of theirs is turned away again (here a duplicate).
    expect(await attempt(() => handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] }))).toHaveProperty('turnedAway');
    // Someone else's limit never blocks an answer.
    const second = await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    expect(second.deployment.status).toBe('APPROVED');
    expect((await handle.result()).status).toBe('DEPLOYED');
    expect(deploys.filter((d) => d.id === req.id)).toEqual([{ id: req.id, digest: DIGEST }]);

    // Every counted refusal is in the trail, whole.
    const trail = audit.filter((e) => e.deploymentId === req.id && e.type === 'approval.refused');
    expect(trail).toHaveLength(expectedCount);
    expect(new Set(trail.map((e) => e.eventId)).size).toBe(expectedCount);
  });

  it('turns a principal away on every kind of answer once their refusals are used up', async () => {
    const req = request();
    const handle = await start(req);
    const other = { id: 'other-ci', roles: ['pipeline'] };
    for (let i = 0; i < REFUSALS_PER_ACTOR; i += 1) {
      expect(await handle.executeUpdate(cancelUpdate, { args: [{ actor: other }] })).toMatchObject({ outcome: 'refused', reason: 'NOT_PERMITTED' });
    }
    expect(await attempt(() => handle.executeUpdate(cancelUpdate, { args: [{ actor: other }] }))).toHaveProperty('turnedAway');
    expect(await attempt(() => handle.executeUpdate(overrideUpdate, { args: [{ actor: { ...person('other-ci'), roles: ['pipeline'] }, reason: 'x' }] }))).toHaveProperty('turnedAway');
    expect((await handle.query(deploymentQuery)).refusedCount).toBe(REFUSALS_PER_ACTOR);
    // The requester's own cancel is heard.
    const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] } }] });
    expect(cancelled.deployment.status).toBe('CANCELLED');
    expect((await handle.result()).status).toBe('CANCELLED');
  });
});

async function waitForQuery(handle: { query: (q: typeof deploymentQuery) => Promise<DeploymentView> }, check: (view: DeploymentView) => boolean) {
  for (let i = 0; i < 100; i += 1) {
    if (check(await handle.query(deploymentQuery))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the workflow never reached the expected state');
}

describe('the writes behind the gate', () => {
  const activitiesScheduled = async (workflowId: string) =>
    ((await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [])
      .map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((name): name is string => name !== undefined && name !== null);

  it('writes each change once, its events and index row together, without an activity round trip through Temporal', async () => {
    const req = request();
    const handle = await start(req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    expect((await handle.result()).status).toBe('DEPLOYED');
    // Only the deploy goes through Temporal's activity queue; the writes are local activities.
    expect(await activitiesScheduled(handle.workflowId)).toEqual(['deploy']);
    const events = audit.filter((e) => e.deploymentId === req.id);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(events).toHaveLength(7);
    const versions = indexed.filter((v) => v.id === req.id).map((v) => v.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(indexed.filter((v) => v.id === req.id).at(-1)?.status).toBe('DEPLOYED');
  });

  it('starts a request the API recorded with nothing to write: no local activity before an answer, and the next event is number 2', async () => {
    const req = request();
    const handle = await start(req);
    expect((await handle.query(deploymentQuery)).status).toBe('PENDING');
    const markers = async () => ((await handle.fetchHistory()).events ?? []).filter((event) => event.markerRecordedEventAttributes).length;
    // The one marker is the patch's; no write of the request (the API's is in the trail already).
    expect(await markers()).toBe(1);
    expect(audit.filter((e) => e.deploymentId === req.id).map((e) => e.eventId)).toEqual([`${req.id}:1`]);

    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    expect(audit.filter((e) => e.deploymentId === req.id).map((e) => [e.eventId, e.type])).toEqual([
      [`${req.id}:1`, 'deployment.requested'],
      [`${req.id}:2`, 'approval.accepted'],
    ]);
    expect(indexed.filter((v) => v.id === req.id).map((v) => v.version)).toEqual([0, 1]);
    await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] } }] });
    await handle.result();
  });

  it('records the request as the first event even when an approval arrives with the start, where the API did not', async () => {
    // As an API from before `requestRecorded` started it: the workflow writes the request itself.
    const req = request({ requestRecorded: undefined });
    const startOperation = new WithStartWorkflowOperation('deploymentWorkflow', {
      taskQueue: worker.taskQueue,
      workflowId: workflowIdFor(req.id),
      workflowIdConflictPolicy: 'FAIL',
      args: [req],
      typedSearchAttributes: [{ key: SearchKeys.service, value: req.service }],
    });
    const answer = await client.workflow.executeUpdateWithStart(approveUpdate, { args: [{ approver: bob, digest: DIGEST }], startWorkflowOperation: startOperation });
    expect(answer.outcome).toBe('accepted');
    const handle = await startOperation.workflowHandle();
    await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] } }] });
    await handle.result();
    const events = audit.filter((e) => e.deploymentId === req.id);
    expect(events.map((e) => [e.eventId, e.type])).toEqual([
      [`${req.id}:1`, 'deployment.requested'],
      [`${req.id}:2`, 'approval.accepted'],
      [`${req.id}:3`, 'deployment.decided'],
    ]);
  });

  it('answers every approval while the database refuses the writes, and writes them all, each once, once it takes them', async () => {
    const req = request();
    failingWrites.add(req.id);
    const handle = await start(req);
    expect((await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] })).outcome).toBe('accepted');
    expect((await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] })).deployment.status).toBe('APPROVED');
    // Answered while the worker could write nothing (the request's event is the API's, from
    // before): the writes wait, in an activity Temporal retries.
    expect(audit.filter((e) => e.deploymentId === req.id).map((e) => e.type)).toEqual(['deployment.requested']);
    expect(await activitiesScheduled(handle.workflowId)).toContain('recordChanges');
    failingWrites.delete(req.id);
    expect((await handle.result()).status).toBe('DEPLOYED');
    const events = audit.filter((e) => e.deploymentId === req.id);
    expect(events.map((e) => e.type)).toEqual(DEPLOYED_TRAIL);
    expect(indexed.filter((v) => v.id === req.id).at(-1)?.status).toBe('DEPLOYED');
    await saveHistory('deployed-after-failed-writes', handle.workflowId);
  });
});
