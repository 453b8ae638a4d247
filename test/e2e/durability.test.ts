// The gate is durable: a request outlives the processes that serve it, and a worker that is
// down makes answers wait or fail loudly (503), never pass silently.

import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;

beforeAll(async () => {
  harness = await startCountersign({ answerTimeoutMs: 3_000 });
  cast = await standardCast(harness);
});

afterAll(async () => {
  await harness?.close();
});

it('keeps a pending request across a restart of the API and the worker', async () => {
  const body = deploymentBody();
  const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect((await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest })).status).toBe(200);

  await harness.stopWorker();
  await harness.restartApi();
  await harness.startWorker();

  // Until the new worker has the workflow back (the server may first wait out the old worker's
  // sticky queue), reads come from the index and say so; then the gate itself answers.
  const pending = await eventually(
    () => cast.http.get(`/v1/deployments/${created.id}`, cast.ci.token),
    (read) => read.headers.get('countersign-view-source') === 'workflow',
    30_000,
  );
  expect(pending.body).toMatchObject({ status: 'PENDING', approvals: [expect.objectContaining({ approver: 'bob' })] });
  const second = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.erin.token, { digest: body.artifact.digest });
  expect(second.body.status).toBe('APPROVED');
  await waitForStatus(cast.http, cast.ci.token, created.id, ['DEPLOYED']);
  // Once the index holds the closed deployment, reads are its final record.
  await eventually(
    () => cast.http.get(`/v1/deployments/${created.id}`, cast.ci.token),
    (read) => read.headers.get('countersign-view-source') === 'final',
  );
});

it('answers 503 when the worker is down, and the gate still decides once it is back', async () => {
  const body = deploymentBody({ environment: 'staging' });
  const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
  await harness.stopWorker();
  try {
    const answer = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
    expect(answer.status).toBe(503);
    expect(answer.contentType).toContain('application/problem+json');
    expect(answer.body.detail).toContain(`GET /v1/deployments/${created.id}`);
    // Reads fall back to the listing index while the workflow cannot answer its query.
    const read = await cast.http.get(`/v1/deployments/${created.id}`, cast.ci.token);
    expect(read.status).toBe(200);
    expect(read.headers.get('countersign-view-source')).toBe('index');
    // ...but a signature never vouches for a copy that may lag the gate.
    const evidence = await cast.http.get(`/v1/deployments/${created.id}/evidence`, cast.ci.token);
    expect(evidence.status).toBe(503);
    expect(evidence.headers.get('retry-after')).toBe('5');
    expect(evidence.body.detail).toContain('retry');
  } finally {
    await harness.startWorker();
  }
  const retry = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
  // The first attempt may have been admitted and counted once the worker came back.
  expect([200, 409]).toContain(retry.status);
  if (retry.status === 409) expect(retry.body.reason).toMatch(/DUPLICATE|NOT_PENDING/);
  await waitForStatus(cast.http, cast.ci.token, created.id, ['DEPLOYED']);
});
