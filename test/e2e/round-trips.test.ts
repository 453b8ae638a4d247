// What the API asks PostgreSQL for on its hot paths, counted statement by statement (never
// timed: speed claims come from `npm run bench`): authentication is one query, an approver's
// answer needs nothing more, a pipeline's one primary-key read, a request without a requestId
// reads nothing it does not need. The API reaches PostgreSQL through its own data source here,
// so the worker's statements are not counted.

import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { deploymentBody, standardCast } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
const statements: string[] = [];
let counting = false;
const original = PostgresQueryRunner.prototype.query;

beforeAll(async () => {
  PostgresQueryRunner.prototype.query = function (this: PostgresQueryRunner, query: string, ...rest: unknown[]) {
    if (counting && this.connection !== harness.dataSource) statements.push(query.replace(/\s+/g, ' '));
    return (original as (...args: unknown[]) => Promise<unknown>).call(this, query, ...rest);
  } as typeof original;
  // Its own pool to the same server: the API's statements apart from the worker's.
  harness = await startCountersign({ apiDatabaseVia: new URL(process.env.COUNTERSIGN_TEST_PG!).host });
  cast = await standardCast(harness);
});

afterAll(async () => {
  PostgresQueryRunner.prototype.query = original;
  await harness?.close();
});

/** The statements the API sent while `fn` ran, the token's once-a-minute last-use write left out. */
async function statementsOf(fn: () => Promise<void>): Promise<string[]> {
  statements.length = 0;
  counting = true;
  try {
    await fn();
  } finally {
    counting = false;
  }
  return statements.filter((sql) => !/^UPDATE "tokens" SET "last_used_at"/.test(sql));
}

describe('the API\'s statements to PostgreSQL', () => {
  it('authenticates a token with one query, the token joined to its principal', async () => {
    const sent = await statementsOf(async () => {
      expect((await cast.http.get('/v1/deployments?limit=1', cast.ci.token)).status).toBe(200);
    });
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatch(/FROM "tokens" "token" INNER JOIN "principals" "principal"/);
    expect(sent[0]).not.toMatch(/LIMIT|DISTINCT/);
    expect(sent[1]).toMatch(/FROM "deployments" "d"/);
  });

  it('answers an approver after authentication alone: whether the deployment exists is the gate\'s to say', async () => {
    const created = (await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody())).body;
    const sent = await statementsOf(async () => {
      const answered = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.carol.token, { digest: created.artifact.digest });
      expect(answered.status).toBe(200);
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/FROM "tokens" "token"/);
    // A deployment that does not exist has no workflow: the index says 404. An id of another
    // shape than the API's own is read first, so Temporal never sees it. (Control characters
    // are refused at the edge, 400: test/e2e/hostile-input.test.ts.)
    for (const unknown of ['00000000-0000-4000-8000-000000000000', 'x'.repeat(5_000), encodeURIComponent('dép-\u202e')]) {
      const missing = await cast.http.post(`/v1/deployments/${unknown}/approvals`, cast.carol.token, { digest: created.artifact.digest });
      expect({ unknown: unknown.slice(0, 40), status: missing.status }).toEqual({ unknown: unknown.slice(0, 40), status: 404 });
      expect(missing.contentType).toContain('application/problem+json');
    }
  });

  it('checks that a pipeline may see the deployment with one primary-key read of one column before its answer', async () => {
    const created = (await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody())).body;
    const sent = await statementsOf(async () => {
      const cancelled = await cast.http.post(`/v1/deployments/${created.id}/cancel`, cast.ci.token, {});
      expect(cancelled.status).toBe(200);
    });
    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(`SELECT "d"."id" AS "d_id", "d"."requested_by" AS "d_requested_by" FROM "deployments" "d" WHERE "d"."id" = $1`);
  });

  it('creates a deployment without a requestId with no read of the index: authentication, the authors, one transaction of the row and the request\'s event', async () => {
    const sent = await statementsOf(async () => {
      expect((await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody())).status).toBe(201);
    });
    expect(sent[1]).toMatch(/FROM "principals"/);
    expect(sent.slice(2).map((sql) => /^(START TRANSACTION|COMMIT|INSERT INTO "\w+"|SELECT pg_advisory_xact_lock|SELECT ARRAY)/.exec(sql)?.[0])).toEqual([
      'START TRANSACTION', 'INSERT INTO "deployments"', 'SELECT pg_advisory_xact_lock', 'SELECT ARRAY', 'INSERT INTO "audit_events"', 'COMMIT',
    ]);
  });

  it('reads the deployment a requestId names alongside the authors, and answers a retry with it', async () => {
    const body = deploymentBody({ requestId: 'round-trips-1' });
    let first: { status: number; body: { id: string } } | undefined;
    const sent = await statementsOf(async () => {
      first = await cast.http.post('/v1/deployments', cast.ci.token, body);
      expect(first.status).toBe(201);
    });
    expect(sent).toHaveLength(9);
    expect(sent.slice(1, 3).map((sql) => /FROM "(\w+)"/.exec(sql)?.[1]).sort()).toEqual(['deployments', 'principals']);
    const again = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first!.body.id);
  });
});
