// Answers under hostile input, end to end: refused attempts that a caller cannot pile up into a
// dead deployment, and answers (errors included) that never show a deployment to a caller who
// may not read it.

import type { Harness } from '../support/harness';
import { type Cast, createPrincipal, deploymentBody, digestOf, eventually, useStandardCast, waitForStatus } from '../support/fixtures';
import type { HttpResponse } from '../support/http';
import { RECENT_REFUSALS_KEPT, REFUSALS_PER_ACTOR } from '../../policy/refusals';
import { workflowIdFor } from '../../policy/types';

let harness: Harness;
let cast: Cast;
useStandardCast((started, people) => ((harness = started), (cast = people)));

const bytes = (response: HttpResponse) => Buffer.byteLength(JSON.stringify(response.body), 'utf8');
/** No answer carries more than this, however many attempts came before it. */
const ANSWER_BYTES = 16_000;

describe('refused attempts a caller cannot pile up', () => {
  it('answers 429 too-many-refusals past the limit, keeps each attempt in the trail and every answer small, and a good approval still deploys', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    const id = created.id as string;
    const wrong = digestOf('not the artifact');
    const crowd = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      createPrincipal(cast.http, cast.admin, { id: `mallory-${i}`, roles: ['approver'], emails: [`mallory-${i}@example.com`] })));

    const statuses = new Map<string, number[]>();
    let largest = 0;
    const hammer = async (who: { id: string; token: string }, times: number) => {
      for (let i = 0; i < times; i += 1) {
        const answer = await cast.http.post(`/v1/deployments/${id}/approvals`, who.token, { digest: wrong, comment: 'x'.repeat(4000) });
        statuses.set(who.id, [...(statuses.get(who.id) ?? []), answer.status]);
        largest = Math.max(largest, bytes(answer));
        expect(answer.contentType).toContain('application/problem+json');
        if (answer.status === 429) {
          expect(answer.body).toMatchObject({ type: expect.stringMatching(/\/too-many-refusals$/), reason: 'TOO_MANY_REFUSALS', status: 429 });
          expect(answer.body.detail).toContain(`${who.id} has been refused ${REFUSALS_PER_ACTOR} times on deployment ${id}`);
          expect(answer.body.deployment).toBeUndefined();
        } else {
          expect(answer.status).toBe(409);
          expect(answer.body.reason).toBe('DIGEST_MISMATCH');
        }
      }
    };
    await hammer(cast.bob, 150);
    await Promise.all(crowd.map((who) => hammer(who, 30)));

    for (const [who, seen] of statuses) {
      expect({ who, refused: seen.filter((s) => s === 409).length }).toEqual({ who, refused: REFUSALS_PER_ACTOR });
      expect(seen.slice(REFUSALS_PER_ACTOR).every((s) => s === 429)).toBe(true);
    }
    expect(largest).toBeLessThan(ANSWER_BYTES);
    const counted = REFUSALS_PER_ACTOR * 6;
    const view = await cast.http.get(`/v1/deployments/${id}`, cast.bob.token);
    expect(view.body).toMatchObject({ status: 'PENDING', refusedCount: counted });
    expect(view.body.refused).toHaveLength(RECENT_REFUSALS_KEPT);
    expect(bytes(view)).toBeLessThan(ANSWER_BYTES);

    // Turned-away attempts left nothing in the workflow's history.
    const history = await harness.temporal.workflow.getHandle(workflowIdFor(id)).fetchHistory();
    expect(history.events!.filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(counted);

    // Every attempt is in the audit trail: the ones the gate refused, and the ones it did not hear.
    const trail = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${id}&type=approval.refused&limit=1000`, cast.admin)).body.events as any[],
      (events) => events.length >= 150 + 5 * 30,
    );
    expect(trail.filter((e) => e.reason === 'DIGEST_MISMATCH')).toHaveLength(counted);
    expect(trail.filter((e) => e.reason === 'TOO_MANY_REFUSALS')).toHaveLength(150 + 5 * 30 - counted);
    expect(trail.filter((e) => e.actor === 'bob' && e.reason === 'TOO_MANY_REFUSALS')).toHaveLength(150 - REFUSALS_PER_ACTOR);

    // The limit holds back refused attempts only: bob's good approval counts, and so does carol's.
    const good = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: created.artifact.digest });
    expect(good.status).toBe(200);
    const second = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.carol.token, { digest: created.artifact.digest });
    expect(second.status).toBe(200);
    expect(second.body.approvals.map((a: any) => a.approver)).toEqual(['bob', 'carol']);
    await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED']);

    // The evidence states the count and where every refused attempt is kept.
    const evidence = await cast.http.get(`/v1/deployments/${id}/evidence`, cast.bob.token);
    expect(bytes(evidence)).toBeLessThan(ANSWER_BYTES * 2);
    const statement = JSON.parse(Buffer.from(evidence.body.payload, 'base64').toString('utf8'));
    expect(statement.predicate).toMatchObject({ refusedCount: counted, refusedInAuditTrail: `/v1/audit?deployment=${id}` });
    expect(statement.predicate.refused).toHaveLength(RECENT_REFUSALS_KEPT);
  });
});

describe('answers that show nothing to a caller who may not see the deployment', () => {
  it('answers 404 without the deployment to a scoped pipeline cancelling another pipeline\'s request', async () => {
    const scoped = await createPrincipal(cast.http, cast.admin, {
      id: 'web-prod-ci', roles: ['pipeline'], scopes: [{ service: 'web', environment: 'production' }],
    });
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    const cancel = await cast.http.post(`/v1/deployments/${created.id}/cancel`, scoped.token, { reason: 'mine now' });
    const read = await cast.http.get(`/v1/deployments/${created.id}`, scoped.token);
    expect(cancel.status).toBe(404);
    expect(cancel.contentType).toContain('application/problem+json');
    // What GET answers (but for the path in `instance`): no hint that the deployment exists.
    const { instance: _cancelPath, ...cancelProblem } = cancel.body;
    const { instance: _readPath, ...readProblem } = read.body;
    expect(cancelProblem).toEqual(readProblem);
    expect(cancel.body.deployment).toBeUndefined();
    expect(JSON.stringify(cancel.body)).not.toContain(created.artifact.digest);
    // Nothing reached the gate.
    const view = await cast.http.get(`/v1/deployments/${created.id}`, cast.ci.token);
    expect(view.body).toMatchObject({ status: 'PENDING', refusedCount: 0 });
  });

  it('answers 404 without the deployment to an unscoped pipeline cancelling, and shows nothing to one approving, another pipeline\'s request', async () => {
    const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody());
    const cancel = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.otherCi.token, {});
    expect(cancel.status).toBe(404);
    expect(cancel.body.deployment).toBeUndefined();
    expect(JSON.stringify(cancel.body)).not.toContain(created.artifact.digest);
    for (const route of ['approvals', 'rejections', 'override', 'review']) {
      const answer = await cast.http.post(`/v1/deployments/${created.id}/${route}`, cast.otherCi.token, { digest: created.artifact.digest, reason: 'x' });
      expect({ route, status: answer.status }).toEqual({ route, status: 403 });
      expect(answer.body.deployment).toBeUndefined();
      expect(JSON.stringify(answer.body)).not.toContain(created.artifact.digest);
    }
    // A closed deployment's refusal is no more talkative.
    await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.ci.token, {});
    const late = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.otherCi.token, {});
    expect(late.status).toBe(404);
    expect(late.body.deployment).toBeUndefined();
    // The requester still gets the gate's reasons, with its own deployment.
    const own = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.ci.token, {});
    expect(own.status).toBe(409);
    expect(own.body.deployment.id).toBe(created.id);
  });
});
