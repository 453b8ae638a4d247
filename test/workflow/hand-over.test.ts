// The hand-over to a fresh run (continue-as-new) before a deployment's history nears Temporal's
// limits. A dev server of its own suggests continue-as-new after a few dozen events (a dynamic
// config value, the same hint a production server gives at thousands), so the workflow's own,
// unchanged code hands over within a test's time.

import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { writesInHistory } from '../../database/reconcile';
import { REFUSALS_PER_ACTOR, TOO_MANY_REFUSALS } from '../../policy/refusals';
import type { DeploymentView } from '../../policy/types';
import { approveUpdate, deploymentQuery, overrideUpdate, reviewUpdate, SearchKeys } from '../../workflows/definitions';
import { DIGEST, person, request, saveHistory, startDeployment, useStubbedGate, type StubbedWorker, WRONG_DIGEST } from './workflow-fixtures';

jest.setTimeout(120_000);

const SUGGEST_AFTER_EVENTS = 40;

let client: Client;
let worker: StubbedWorker;
useStubbedGate((gate) => ({ client, worker } = gate), { suggestContinueAsNewAfter: SUGGEST_AFTER_EVENTS });

/**
 * The runs of one deployment, first to last: describe the workflow for the chain's first run
 * id, then follow each run's closing ContinuedAsNew event to the next. (Listing by WorkflowId
 * finds the same runs through visibility, which may lag.)
 */
async function runsOf(workflowId: string): Promise<Array<{ runId: string; events: temporal.api.history.v1.IHistoryEvent[] }>> {
  const description = await client.workflow.getHandle(workflowId).describe();
  let runId: string | undefined = description.raw.workflowExecutionInfo?.firstRunId ?? undefined;
  const runs = [];
  while (runId) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.push({ runId, events });
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

/** Sends `times` answers from each of `people` at once; the ones the gate turns away are expected. */
async function refuseMany(people: string[], times: number, send: (who: ReturnType<typeof person>) => Promise<unknown>) {
  await Promise.all(people.map(async (id) => {
    for (let i = 0; i < times; i += 1) {
      try {
        await send(person(id));
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === TOO_MANY_REFUSALS)) throw err;
      }
    }
  }));
}

async function waitFor<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: last ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the hand-over to a fresh run', () => {
  it('continues as new before the history limit, keeping approvals, refusals, counts and expiry, and later approvals still count', async () => {
    const req = request({}, { approvals: 3 });
    const handle = await startDeployment(client, worker, req);
    const bob = person('bob');
    expect((await handle.executeUpdate(approveUpdate, { args: [{ approver: bob, digest: DIGEST }] })).outcome).toBe('accepted');
    const before = await handle.query(deploymentQuery);

    // Enough refused attempts, from several people at once, for a few hand-overs; some answers
    // arrive while a run is closing and land on the next.
    const crowd = Array.from({ length: 4 }, (_, i) => `mallory-${i}`);
    await refuseMany(crowd, REFUSALS_PER_ACTOR + 3, (approver) =>
      handle.executeUpdate(approveUpdate, { args: [{ approver, digest: WRONG_DIGEST }] }));

    const runs = await waitFor(() => runsOf(handle.workflowId), (found) => found.length >= 2, 'no hand-over');
    // Every closed run handed over once the suggestion came: when the trail had caught up, or,
    // with answers arriving all the while, when its history had doubled, carrying what was unwritten.
    for (const run of runs.slice(0, -1)) {
      expect(run.events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
      expect(run.events.length).toBeGreaterThanOrEqual(SUGGEST_AFTER_EVENTS);
      expect(run.events.length).toBeLessThan(SUGGEST_AFTER_EVENTS * 4);
    }

    const after: DeploymentView = await handle.query(deploymentQuery);
    expect(after.status).toBe('PENDING');
    expect(after.approvals).toEqual(before.approvals);
    expect(after.refusedCount).toBe(crowd.length * REFUSALS_PER_ACTOR);
    expect(after.refused.at(-1)).toMatchObject({ reason: 'DIGEST_MISMATCH' });
    expect(after.expiresAt).toBe(req.expiresAt);
    expect(after.version).toBeGreaterThan(before.version);
    // The per-person limit carries over: a refused attempt of someone at the limit is turned away.
    await expect(handle.executeUpdate(approveUpdate, { args: [{ approver: person('mallory-0'), digest: WRONG_DIGEST }] }))
      .rejects.toThrow(WorkflowUpdateFailedError);
    // The search attributes the API set at the start carry over too.
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(SearchKeys.service)).toBe('web');
    expect(described.typedSearchAttributes.get(SearchKeys.approvers)).toEqual(['bob']);

    // Approvals after the hand-over still count, with the one before it.
    expect((await handle.executeUpdate(approveUpdate, { args: [{ approver: person('carol'), digest: DIGEST }] })).deployment.approvals).toHaveLength(2);
    const third = await handle.executeUpdate(approveUpdate, { args: [{ approver: person('dave'), digest: DIGEST }] });
    expect(third.deployment.status).toBe('APPROVED');
    const final = await handle.result();
    expect(final.status).toBe('DEPLOYED');
    expect(final.approvals.map((a) => a.approver)).toEqual(['bob', 'carol', 'dave']);
    expect(worker.recorded.deploys.filter((d) => d.id === req.id)).toHaveLength(1);

    // The trail is whole across runs, numbered without a gap (an event carried to the next run
    // may be written twice; the trail keeps the first of an event id, as here).
    const byId = new Map(worker.recorded.audit.filter((e) => e.deploymentId === req.id).map((e) => [e.eventId, e]));
    const events = [...byId.values()];
    const ids = events.map((e) => Number(e.eventId.split(':')[1])).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    expect(events.filter((e) => e.type === 'approval.refused')).toHaveLength(crowd.length * REFUSALS_PER_ACTOR);
    expect(events.filter((e) => e.type === 'deployment.requested')).toHaveLength(1);

    const chain = await runsOf(handle.workflowId);
    // Reconcile reads every run of the chain, so it finds every event any run asked to write.
    const reconciled = await writesInHistory(client, req.id);
    expect(reconciled.runs).toBe(chain.length);
    expect(new Set(reconciled.events.map((event) => event.eventId))).toEqual(new Set(byId.keys()));

    await saveHistory(client, 'continued-as-new', handle.workflowId, chain[0]!.runId);
    if (chain.length > 2) await saveHistory(client, 'continued-run-continued-as-new', handle.workflowId, chain[1]!.runId);
    await saveHistory(client, 'continued-run-deployed', handle.workflowId, chain.at(-1)!.runId);
  });

  it('still expires at the request\'s own expiry after a hand-over', async () => {
    const req = request({}, { approvals: 2, expiresAfterMs: 8_000 });
    const handle = await startDeployment(client, worker, req);
    await refuseMany(['m-1', 'm-2', 'm-3', 'm-4'], 4, (approver) =>
      handle.executeUpdate(approveUpdate, { args: [{ approver, digest: WRONG_DIGEST }] }));
    await waitFor(() => runsOf(handle.workflowId), (found) => found.length >= 2, 'no hand-over');
    const final = await handle.result();
    expect(final.status).toBe('EXPIRED');
    expect(Date.parse(final.decision!.at)).toBeGreaterThanOrEqual(Date.parse(req.expiresAt));
    expect(final.refusedCount).toBe(16);
  });

  it('hands over while an override waits for its review, and the review in the new run closes it', async () => {
    const req = request();
    const handle = await startDeployment(client, worker, req);
    const admin = { ...person('root'), roles: ['admin'] };
    expect((await handle.executeUpdate(overrideUpdate, { args: [{ actor: admin, reason: 'outage' }] })).deployment.status).toBe('APPROVED');
    await waitFor(() => handle.query(deploymentQuery), (view) => view.status === 'DEPLOYED', 'never deployed');
    // The overrider may not review: refused, again and again, until a hand-over.
    await refuseMany(['root'], REFUSALS_PER_ACTOR, (approver) => handle.executeUpdate(reviewUpdate, { args: [{ approver }] }));
    await refuseMany(['alice'], REFUSALS_PER_ACTOR, (approver) => handle.executeUpdate(reviewUpdate, { args: [{ approver }] }));
    const runs = await waitFor(() => runsOf(handle.workflowId), (found) => found.length >= 2, 'no hand-over');
    const view = await handle.query(deploymentQuery);
    expect(view.status).toBe('DEPLOYED');
    expect(view.override).toMatchObject({ by: 'root', reviewOverdue: false });
    expect(view.override?.review).toBeUndefined();
    const review = await handle.executeUpdate(reviewUpdate, { args: [{ approver: person('bob'), comment: 'fine' }] });
    expect(review.deployment.override?.review).toMatchObject({ by: 'bob', late: false });
    expect((await handle.result()).status).toBe('DEPLOYED');
    // Deployed once, in the first run; a continued run never deploys or tags again.
    expect(worker.recorded.deploys.filter((d) => d.id === req.id)).toHaveLength(1);
    await saveHistory(client, 'continued-run-reviewed', handle.workflowId, (await runsOf(handle.workflowId)).at(-1)!.runId);
    expect(runs.length).toBeGreaterThanOrEqual(2);
  });
});
