// The change calendar and stale requests in the workflow, on the real Temporal dev server with
// its activities stubbed (the calendar and the listing index are the e2e tests' to read): a
// deploy held by a freeze and released when it ends, expiry while held, an override through a
// freeze, a cancel while held, a superseded request, and a hand-over while held. With
// RECORD_HISTORIES=1 the new endings' histories are saved for the replay test.

import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { DeploymentView } from '../../policy/types';
import { approveUpdate, cancelUpdate, deploymentQuery, overrideUpdate, supersedeUpdate } from '../../workflows/definitions';
import { DIGEST, person, request, saveHistory, startDeployment, useStubbedGate, type StubbedWorker } from './workflow-fixtures';

jest.setTimeout(120_000);

const bob = person('bob');
const carol = person('carol');
const root = { ...person('root'), roles: ['admin'] };

let client: Client;
let worker: StubbedWorker;
useStubbedGate((gate) => ({ client, worker } = gate));

async function waitForQuery(on: Client, workflowId: string, check: (view: DeploymentView) => boolean, timeoutMs = 30_000): Promise<DeploymentView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await on.workflow.getHandle(workflowId).query(deploymentQuery);
    if (check(view)) return view;
    if (Date.now() > deadline) throw new Error(`not reached: ${JSON.stringify(view)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const trailOf = (id: string) => worker.recorded.audit.filter((event) => event.deploymentId === id).map((event) => event.type);

describe('the calendar as the API read it with the approval', () => {
  const markers = async (workflowId: string) =>
    ((await client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).filter((event) => event.markerRecordedEventAttributes).length;

  it('a quorum whose approval found the calendar clear deploys without reading it again: the approval waits on one write', async () => {
    const req = request({ service: 'clear' }, { approvals: 1 });
    const handle = await startDeployment(client, worker, req);
    const clearUntil = new Date(Date.now() + 2_000).toISOString();
    const approved = await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST, calendarClearUntil: clearUntil }] });
    expect(approved.deployment.status).toBe('APPROVED');
    expect((await handle.result()).status).toBe('DEPLOYED');
    expect(worker.recorded.calendarReads).not.toContain('clear');
    // The patch's marker and two writes (the quorum with the deploy's start, then the end): no calendar reading.
    expect(await markers(handle.workflowId)).toBe(3);
    expect(trailOf(req.id)).toEqual(['deployment.requested', 'approval.accepted', 'deployment.decided', 'deploy.started', 'deploy.succeeded', 'deployment.decided']);
    await saveHistory(client, 'deployed-calendar-read-with-answer', handle.workflowId);
  });

  it('a reading that has lapsed when the gate handles it, or came with an approval short of the quorum, is not used: the worker reads the calendar', async () => {
    const req = request({ service: 'lapsed' }, { approvals: 2 });
    worker.recorded.freezes.set('lapsed', { until: Date.now() + 3_000, reason: 'release freeze' });
    const handle = await startDeployment(client, worker, req);
    const soon = new Date(Date.now() + 2_000).toISOString();
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST, calendarClearUntil: soon }] });
    const lapsed = new Date(Date.now() - 1).toISOString();
    await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST, calendarClearUntil: lapsed }] });
    expect(await waitForQuery(client, handle.workflowId, (view) => view.freeze?.frozen === true)).toMatchObject({ status: 'APPROVED', freeze: { reason: 'release freeze' } });
    expect((await handle.result()).status).toBe('DEPLOYED');
    expect(worker.recorded.calendarReads.filter((service) => service === 'lapsed').length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['not an instant', 'garbled', () => 'forever'],
    ['further ahead than a reading holds', 'far-ahead', () => new Date(Date.now() + 60_000).toISOString()],
  ])('ignores a reading %s: the worker reads the calendar', async (_, service, clearUntil) => {
    const req = request({ service }, { approvals: 1 });
    worker.recorded.freezes.set(service, { until: Date.now() + 600_000, reason: 'incident freeze' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST, calendarClearUntil: clearUntil() }] });
    await waitForQuery(client, handle.workflowId, (view) => view.freeze?.frozen === true);
    await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] } }] });
    expect((await handle.result()).status).toBe('CANCELLED');
  });
});

describe('a deploy held by a freeze', () => {
  it('is approved, held while the freeze lasts, and deployed when it ends', async () => {
    const req = request({ service: 'held' }, { approvals: 1 });
    worker.recorded.freezes.set('held', { until: Date.now() + 4_000, reason: 'release freeze' });
    const handle = await startDeployment(client, worker, req);
    const approved = await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    expect(approved.deployment.status).toBe('APPROVED');
    const held = await waitForQuery(client, handle.workflowId, (view) => view.freeze?.frozen === true);
    expect(held.status).toBe('APPROVED');
    expect(held.freeze).toMatchObject({ frozen: true, reason: 'release freeze', windows: ['held-freeze'] });
    expect(worker.recorded.deploys.some((d) => d.id === req.id)).toBe(false);
    // The Temporal UI's "current details" of the workflow say so.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toMatch(/\*\*Held by a freeze\*\* \(held-freeze\): release freeze/);
    const final = await handle.result();
    expect(final.status).toBe('DEPLOYED');
    expect(final.freeze).toMatchObject({ frozen: false, released: 'ended' });
    expect(trailOf(req.id)).toEqual(expect.arrayContaining(['deploy.held', 'deploy.released', 'deploy.started', 'deploy.succeeded']));
    expect(trailOf(req.id).indexOf('deploy.released')).toBeLessThan(trailOf(req.id).indexOf('deploy.started'));
    await saveHistory(client, 'held-by-freeze', handle.workflowId);
  });

  it('follows a freeze lengthened while held, recording the change, and deploys when it finally ends', async () => {
    const req = request({ service: 'lengthened' }, { approvals: 1 });
    worker.recorded.freezes.set('lengthened', { until: Date.now() + 3_000, reason: 'first' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await waitForQuery(client, handle.workflowId, (view) => view.freeze?.frozen === true);
    const longer = Date.now() + 6_000;
    worker.recorded.freezes.set('lengthened', { until: longer, reason: 'lengthened' });
    const changed = await waitForQuery(client, handle.workflowId, (view) => view.freeze?.reason === 'lengthened');
    expect(changed.freeze).toMatchObject({ frozen: true, until: new Date(longer).toISOString() });
    const final = await handle.result();
    expect(final.status).toBe('DEPLOYED');
    expect(trailOf(req.id).filter((type) => type.startsWith('deploy.'))).toEqual(['deploy.held', 'deploy.hold.changed', 'deploy.released', 'deploy.started', 'deploy.succeeded']);
  });

  it('ends EXPIRED, naming the freeze, when the request expires while held; nothing is deployed', async () => {
    const req = request({ service: 'held-expired' }, { approvals: 1, expiresAfterMs: 3_000 });
    worker.recorded.freezes.set('held-expired', { until: Date.now() + 600_000, reason: 'quarter close' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const final = await handle.result();
    expect(final.status).toBe('EXPIRED');
    expect(final.decision?.reason).toMatch(/held by freeze held-expired-freeze \(quarter close\)/);
    expect(final.freeze).toMatchObject({ frozen: false, released: 'expired' });
    expect(worker.recorded.deploys.some((d) => d.id === req.id)).toBe(false);
    await saveHistory(client, 'expired-while-held', handle.workflowId);
  });

  it('is let through by an admin\'s override while held, on record as such; a non-admin is refused', async () => {
    const req = request({ service: 'held-overridden' }, { approvals: 1 });
    worker.recorded.freezes.set('held-overridden', { until: Date.now() + 600_000, reason: 'incident freeze' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await waitForQuery(client, handle.workflowId, (view) => view.freeze?.frozen === true);
    const refused = await handle.executeUpdate(overrideUpdate, { args: [{ actor: { ...carol, roles: ['approver'] }, reason: 'please' }] });
    expect(refused).toMatchObject({ outcome: 'refused', reason: 'NOT_PERMITTED' });
    const passed = await handle.executeUpdate(overrideUpdate, { args: [{ actor: root, reason: 'hotfix for the incident' }] });
    expect(passed.outcome).toBe('accepted');
    expect(passed.deployment.freeze).toMatchObject({ frozen: false, released: 'overridden', passedBy: { by: 'root', reason: 'hotfix for the incident' } });
    expect(passed.deployment.override).toMatchObject({ by: 'root', passFreeze: true, approvalsAtOverride: 1 });
    await waitForQuery(client, handle.workflowId, (view) => view.status === 'DEPLOYED');
    expect(trailOf(req.id)).toEqual(expect.arrayContaining(['deploy.held', 'override.refused', 'deployment.overridden', 'deploy.released', 'deploy.succeeded']));
    await handle.terminate('test done (the override awaits its review)');
  });

  it('passes a freeze when the override that approved it said passFreeze', async () => {
    const req = request({ service: 'pass-freeze' });
    worker.recorded.freezes.set('pass-freeze', { until: Date.now() + 600_000, reason: 'freeze' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(overrideUpdate, { args: [{ actor: root, reason: 'outage', passFreeze: true }] });
    const deployed = await waitForQuery(client, handle.workflowId, (view) => view.status === 'DEPLOYED');
    expect(deployed.freeze).toMatchObject({ frozen: false, released: 'overridden', passedBy: { by: 'root', reason: 'outage' } });
    expect(trailOf(req.id)).not.toContain('deploy.held');
    await handle.terminate('test done (the override awaits its review)');
  });

  it('may be cancelled by its pipeline while held', async () => {
    const req = request({ service: 'held-cancelled' }, { approvals: 1 });
    worker.recorded.freezes.set('held-cancelled', { until: Date.now() + 600_000, reason: 'freeze' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await waitForQuery(client, handle.workflowId, (view) => view.freeze?.frozen === true);
    const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: 'ci', roles: ['pipeline'] }, reason: 'not needed' }] });
    expect(cancelled.deployment).toMatchObject({ status: 'CANCELLED', freeze: { frozen: false, released: 'cancelled' } });
    expect((await handle.result()).status).toBe('CANCELLED');
    expect(worker.recorded.deploys.some((d) => d.id === req.id)).toBe(false);
  });
});

describe('a superseded request', () => {
  it('is cancelled by the supersede update, naming the newer request; nothing after it is heard', async () => {
    const req = request({ service: 'superseded' }, { supersede: true });
    const handle = await startDeployment(client, worker, req);
    await waitForQuery(client, handle.workflowId, () => true);
    const answer = await handle.executeUpdate(supersedeUpdate, { args: [{ by: 'newer-id' }] });
    expect(answer.deployment).toMatchObject({ status: 'CANCELLED', supersededBy: 'newer-id' });
    expect(answer.deployment.decision?.reason).toContain('newer-id');
    expect(answer.deployment.decision?.by).toBeUndefined();
    const final = await handle.result();
    expect(final.status).toBe('CANCELLED');
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('**Superseded** by newer deployment newer-id');
    const superseded = worker.recorded.audit.find((event) => event.deploymentId === req.id && event.type === 'deployment.superseded');
    expect(superseded).toMatchObject({ actor: 'countersign', outcome: 'CANCELLED' });
    await saveHistory(client, 'superseded', handle.workflowId);
  });

  it('cancels itself when its first step finds a newer request', async () => {
    const req = request({ service: 'stale' }, { supersede: true });
    worker.recorded.supersede.set(req.id, { cancelled: [], newer: 'the-newer-one' });
    const handle = await startDeployment(client, worker, req);
    const final = await handle.result();
    expect(final).toMatchObject({ status: 'CANCELLED', supersededBy: 'the-newer-one' });
    await saveHistory(client, 'superseded-by-newer', handle.workflowId);
  });

  it('turns the supersede update away once the request is no longer PENDING, leaving no trace in history', async () => {
    const req = request({ service: 'approved-first' }, { approvals: 1, supersede: true });
    worker.recorded.freezes.set('approved-first', { until: Date.now() + 600_000, reason: 'freeze' });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    const before = (await handle.fetchHistory()).events!.length;
    const turned = await handle.executeUpdate(supersedeUpdate, { args: [{ by: 'newer' }] }).catch((err: unknown) => err);
    expect(turned).toBeInstanceOf(WorkflowUpdateFailedError);
    const view = await handle.query(deploymentQuery);
    expect(view.status).toBe('APPROVED');
    expect(view.supersededBy).toBeUndefined();
    expect((await handle.fetchHistory()).events!.filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes).length)
      .toBe((await handle.fetchHistory()).events!.slice(0, before).filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes).length);
    await handle.terminate('test done');
  });
});

describe('a deploy held by a freeze for long', () => {
  let own: Client;
  let ownWorker: StubbedWorker;
  // A server that suggests continue-as-new after a few dozen events, as a production one does at thousands.
  useStubbedGate((gate) => ({ client: own, worker: ownWorker } = gate), { suggestContinueAsNewAfter: 40 });

  it('hands over to a fresh run, which carries the hold and deploys when the freeze ends', async () => {
    const req = request({ service: 'long-hold' }, { approvals: 1 });
    ownWorker.recorded.freezes.set('long-hold', { until: Date.now() + 20_000, reason: 'long freeze' });
    const handle = await startDeployment(own, ownWorker, req);
    const firstRunId = (await handle.describe()).runId;
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await waitForQuery(own, handle.workflowId, (view) => view.freeze?.frozen === true);
    // Refused attempts while held grow the history past the server's hint.
    for (let i = 0; i < 12; i += 1) {
      const answer = await handle.executeUpdate(overrideUpdate, { args: [{ actor: { ...person(`p${i}`), roles: ['approver'] }, reason: 'x' }] }).catch(() => undefined);
      if (answer) expect(answer.outcome).toBe('refused');
    }
    const continued = await waitForQuery(own, handle.workflowId, () => true);
    const deadline = Date.now() + 30_000;
    let runId = (await handle.describe()).runId;
    while (runId === firstRunId && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      runId = (await handle.describe()).runId;
    }
    expect(runId).not.toBe(firstRunId);
    const held = await waitForQuery(own, handle.workflowId, (view) => view.freeze !== undefined);
    expect(held.freeze).toMatchObject({ reason: 'long freeze', heldSince: continued.freeze!.heldSince });
    const final = await own.workflow.getHandle(handle.workflowId).result();
    expect(final.status).toBe('DEPLOYED');
    expect(final.freeze).toMatchObject({ frozen: false, released: 'ended', heldSince: continued.freeze!.heldSince });
    expect(ownWorker.recorded.deploys.filter((d) => d.id === req.id)).toHaveLength(1);
    expect(ownWorker.recorded.audit.filter((event) => event.deploymentId === req.id && event.type === 'deploy.held')).toHaveLength(1);
    await saveHistory(own, 'held-by-freeze-continued-as-new', handle.workflowId, firstRunId);
  });
});
