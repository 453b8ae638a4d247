// The notification schedule inside the deployment workflow (workflows/notifications.ts), on the
// real Temporal dev server with the activities stubbed: requested, reminders on durable timers,
// one escalation, decided or expired, nothing after the gate decides, a failing channel that
// costs the gate nothing, and the counters carried across continue-as-new. With
// RECORD_HISTORIES=1 the histories are saved as `notified-<ending>.<shape>.json` for the replay test.

import type { Client } from '@temporalio/client';
import type { DeploymentRequest, NotifyRule } from '../../policy/types';
import { approveUpdate, rejectUpdate } from '../../workflows/definitions';
import { DIGEST, person, type Recorded, request, saveHistory, startDeployment, useStubbedGate, type StubbedWorker } from './workflow-fixtures';

jest.setTimeout(180_000);

const bob = person('bob');
const carol = person('carol');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let client: Client;
let worker: StubbedWorker;
useStubbedGate((gate) => ({ client, worker } = gate));

function notifying(notify: NotifyRule, expiresAfterMs = 120_000): DeploymentRequest {
  return request({}, { notify, expiresAfterMs });
}

const sent = (recorded: Recorded, id: string) => recorded.notified.filter((n) => n.id === id).map((n) => `${n.event}#${n.sequence}@${n.channel}`);
const events = (recorded: Recorded, id: string) => recorded.notified.filter((n) => n.id === id).map((n) => n.event);

async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

describe('notification schedule', () => {
  it('tells approvers, reminds them every remindEvery, escalates once, and says who decided; nothing after', async () => {
    const req = notifying({ channels: ['mail', 'hook'], remindEveryMs: 2_000, escalateAfterMs: 3_000, escalateTo: ['sre'] });
    const handle = await startDeployment(client, worker, req);
    await until(() => events(worker.recorded, req.id).filter((e) => e === 'reminder').length >= 4 && events(worker.recorded, req.id).includes('escalated'));
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    expect((await handle.result()).status).toBe('DEPLOYED');
    const all = sent(worker.recorded, req.id);
    // Each message once per channel: requested, escalated and decided once, reminders numbered by their slot.
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((m) => m.startsWith('requested'))).toEqual(['requested#0@mail', 'requested#0@hook']);
    expect(all.filter((m) => m.startsWith('escalated'))).toEqual(['escalated#1@mail', 'escalated#1@hook']);
    expect(all.filter((m) => m.startsWith('decided'))).toEqual(['decided#0@mail', 'decided#0@hook']);
    const reminders = worker.recorded.notified.filter((n) => n.id === req.id && n.event === 'reminder' && n.channel === 'mail').map((n) => n.sequence);
    expect(reminders).toEqual([...reminders].sort((a, b) => a - b));
    expect(reminders[0]).toBe(1);
    // The decided message carries the decision, with who and why.
    const decided = worker.recorded.notified.find((n) => n.id === req.id && n.event === 'decided')!;
    expect(decided.deployment.decision).toMatchObject({ status: 'APPROVED' });
    expect(decided.deployment.approvals.map((a) => a.approver)).toEqual(['bob', 'carol']);
    // The request message is sent before anything else; decided is last.
    expect(events(worker.recorded, req.id)[0]).toBe('requested');
    expect(events(worker.recorded, req.id).at(-1)).toBe('decided');
    const count = all.length;
    await sleep(4_500);
    expect(sent(worker.recorded, req.id)).toHaveLength(count);
    await saveHistory(client, 'notified-reminded', handle.workflowId);
  });

  it('stops reminding at expiry and says the request expired', async () => {
    const req = notifying({ channels: ['mail'], remindEveryMs: 2_000, escalateTo: [] }, 5_000);
    const handle = await startDeployment(client, worker, req);
    expect((await handle.result()).status).toBe('EXPIRED');
    await until(() => events(worker.recorded, req.id).includes('expired'));
    const all = sent(worker.recorded, req.id);
    expect(all[0]).toBe('requested#0@mail');
    expect(all.at(-1)).toBe('expired#0@mail');
    // Slots at 2 s and 4 s only: none at or past the 5 s expiry.
    expect(all.filter((m) => m.startsWith('reminder')).every((m) => ['reminder#1@mail', 'reminder#2@mail'].includes(m))).toBe(true);
    expect(all.filter((m) => m.startsWith('decided'))).toEqual([]);
    await saveHistory(client, 'notified-expired', handle.workflowId);
  });

  it('a channel that fails every try never holds up the gate, and its failure is in the audit trail', async () => {
    worker.recorded.failingChannels.add('broken');
    const req = notifying({ channels: ['broken', 'hook'], escalateTo: [] });
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(rejectUpdate, { args: [{ approver: bob, comment: 'not today' }] });
    const final = await handle.result();
    expect(final.status).toBe('REJECTED');
    expect(sent(worker.recorded, req.id)).toEqual(['requested#0@hook', 'decided#0@hook']);
    const failures = worker.recorded.audit.filter((event) => event.deploymentId === req.id && event.type === 'notification.failed');
    expect(failures.map((event) => (event.data as { event: string }).event).sort()).toEqual(['decided', 'requested']);
    expect(failures.every((event) => (event.data as { channel: string }).channel === 'broken')).toBe(true);
    const decided = worker.recorded.notified.find((n) => n.id === req.id && n.event === 'decided')!;
    expect(decided.deployment.decision).toMatchObject({ status: 'REJECTED', by: 'bob' });
    expect(decided.deployment.decision!.reason).toContain('not today');
    await saveHistory(client, 'notified-rejected-channel-failing', handle.workflowId);
  });

  it('a request whose tier notifies nobody schedules nothing', async () => {
    const req = request();
    const handle = await startDeployment(client, worker, req);
    await handle.executeUpdate(rejectUpdate, { args: [{ approver: bob }] });
    await handle.result();
    expect(sent(worker.recorded, req.id)).toEqual([]);
    const history = await handle.fetchHistory();
    expect(history.events?.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'notify')).toEqual([]);
  });
});

describe('notification schedule across continue-as-new', () => {
  const SUGGEST_AFTER_EVENTS = 40;
  let ownClient: Client;
  let ownWorker: StubbedWorker;
  useStubbedGate((gate) => ({ client: ownClient, worker: ownWorker } = gate), { suggestContinueAsNewAfter: SUGGEST_AFTER_EVENTS });

  it('carries what it sent to the next run: no message twice, reminders go on where they were', async () => {
    const req = notifying({ channels: ['mail'], remindEveryMs: 1_000, escalateAfterMs: 2_500, escalateTo: ['sre'] });
    const handle = await startDeployment(ownClient, ownWorker, req);
    const runs = async () => {
      const description = await handle.describe();
      return description.runId !== description.raw.workflowExecutionInfo?.firstRunId;
    };
    const deadline = Date.now() + 90_000;
    while (!(await runs())) {
      if (Date.now() > deadline) throw new Error('the workflow never continued as new');
      await sleep(250);
    }
    await until(() => events(ownWorker.recorded, req.id).filter((e) => e === 'reminder').length >= 3 && events(ownWorker.recorded, req.id).includes('escalated'));
    await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] });
    await handle.executeUpdate(approveUpdate, { args: [{ approver: carol, digest: DIGEST }] });
    expect((await handle.result()).status).toBe('DEPLOYED');
    const all = sent(ownWorker.recorded, req.id);
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((m) => m.startsWith('requested'))).toEqual(['requested#0@mail']);
    expect(all.filter((m) => m.startsWith('escalated'))).toEqual(['escalated#1@mail']);
    expect(all.filter((m) => m.startsWith('decided'))).toEqual(['decided#0@mail']);
    const described = await handle.describe();
    const first = described.raw.workflowExecutionInfo?.firstRunId ?? undefined;
    expect(described.runId).not.toBe(first);
    await saveHistory(ownClient, 'notified-continued-as-new', handle.workflowId, first);
    await saveHistory(ownClient, 'notified-continued-run-deployed', handle.workflowId, described.runId);
  });
});
