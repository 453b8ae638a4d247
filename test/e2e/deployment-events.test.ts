// GET /v1/deployments/{id}/events: a deployment's changes pushed as server-sent events, through
// PostgreSQL LISTEN/NOTIFY. HTTP API, real Temporal, real PostgreSQL, real worker.

import { readSse, type SseItem } from '../../cli/sse';
import { type Harness, startCountersign } from '../support/harness';
import { deploymentBody, eventually, standardCast } from '../support/fixtures';
import { DeploymentEvents } from '../../api/deployments/deployment-events';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;

beforeAll(async () => {
  harness = await startCountersign({ eventKeepAliveMs: 500, eventStreamsPerPrincipal: 25 });
  cast = await standardCast(harness);
});

afterAll(async () => {
  await harness?.close();
});

interface Stream {
  status: number;
  contentType: string;
  body: any;
  items: SseItem[];
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** The next deployment event (waits for it). */
  next(): Promise<any>;
  close(): void;
}

/** Opens a stream and reads it in the background. */
async function open(id: string, token: string, headers: Record<string, string> = {}): Promise<Stream> {
  const controller = new AbortController();
  const response = await fetch(`${harness.url}/v1/deployments/${encodeURIComponent(id)}/events`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const items: SseItem[] = [];
  const views: any[] = [];
  const waiters: Array<(view: any) => void> = [];
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/event-stream')) {
    return { status: response.status, contentType, body: await response.json(), items, ended: Promise.resolve(), next: () => Promise.reject(new Error('no stream')), close: () => undefined };
  }
  const ended = (async () => {
    try {
      for await (const item of readSse(response.body!)) {
        items.push(item);
        if ('data' in item) {
          const view = JSON.parse(item.data);
          const waiter = waiters.shift();
          if (waiter) waiter(view);
          else views.push(view);
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    status: response.status,
    contentType,
    body: undefined,
    items,
    ended,
    next: () => {
      const view = views.shift();
      if (view) return Promise.resolve(view);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no event within 30 s; saw ${JSON.stringify(items).slice(0, 500)}`)), 30_000);
        waiters.push((value) => {
          clearTimeout(timer);
          resolve(value);
        });
      });
    },
    close: () => controller.abort(),
  };
}

async function request(overrides: Record<string, unknown> = {}) {
  const body = deploymentBody(overrides);
  const response = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect(response.status).toBe(201);
  return { id: response.body.id as string, digest: body.artifact.digest as string };
}

describe('GET /v1/deployments/{id}/events', () => {
  it('answers the current state at once, then one event per change, and ends after the terminal status', async () => {
    const { id, digest } = await request();
    const stream = await open(id, cast.ci.token);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    const first = await stream.next();
    expect(first).toMatchObject({ id, status: 'PENDING', approvals: [] });

    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const approved = await stream.next();
    expect(approved.approvals.map((a: any) => a.approver)).toEqual(['bob']);
    expect(approved.version).toBeGreaterThan(first.version);

    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.carol.token, { digest })).status).toBe(200);
    let last = await stream.next();
    while (last.status !== 'DEPLOYED') last = await stream.next();
    await stream.ended;
    const events = stream.items.filter((item): item is { event: string; data: string; id?: string } => 'data' in item);
    const versions = events.map((event) => Number(event.id));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    for (const event of events) {
      expect(event.event).toBe('deployment');
      expect(JSON.parse(event.data).version).toBe(Number(event.id));
    }
    expect(stream.items).toContainEqual({ retry: 2000 });
  });

  it('sends keep-alive comments while nothing changes', async () => {
    const { id } = await request();
    const stream = await open(id, cast.ci.token);
    await stream.next();
    await eventually(async () => stream.items.filter((item) => 'comment' in item && item.comment.startsWith('keep-alive')).length, (n) => n >= 2);
    stream.close();
  });

  it('honours Last-Event-ID: nothing until something newer, the current state at once when it is newer', async () => {
    const { id, digest } = await request();
    const first = await open(id, cast.ci.token);
    const seen = await first.next();
    first.close();

    const caughtUp = await open(id, cast.ci.token, { 'last-event-id': String(seen.version) });
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(caughtUp.items.filter((item) => 'data' in item)).toEqual([]);
    caughtUp.close();

    // A change while the client was away: it gets it at once when it comes back.
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const back = await open(id, cast.ci.token, { 'last-event-id': String(seen.version) });
    const missed = await back.next();
    expect(missed.version).toBeGreaterThan(seen.version);
    expect(missed.approvals).toHaveLength(1);
    back.close();

    // A Last-Event-ID that is not a version is no version: the current state is sent.
    for (const hostile of ['abc', '-1', '1e9', '99999999999999999999', ' ']) {
      const stream = await open(id, cast.ci.token, { 'last-event-id': hostile });
      expect(stream.status).toBe(200);
      expect((await stream.next()).id).toBe(id);
      stream.close();
    }
  });

  it('closes at once for a client that already saw the terminal version', async () => {
    const { id } = await request();
    expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, { reason: 'not today' })).status).toBe(200);
    const stream = await open(id, cast.ci.token);
    const final = await stream.next();
    expect(final.status).toBe('CANCELLED');
    await stream.ended;
    const again = await open(id, cast.ci.token, { 'last-event-id': String(final.version) });
    await again.ended;
    expect(again.items.filter((item) => 'data' in item)).toEqual([]);
  });

  it('answers 404 for an unknown id and for another pipeline\'s deployment, 401 without a token', async () => {
    const { id } = await request();
    for (const unknown of ['no-such-deployment', '../../v1/audit', '%00', 'x'.repeat(2000)]) {
      const stream = await open(unknown, cast.ci.token);
      expect([400, 404]).toContain(stream.status);
      expect(stream.contentType).toContain('application/problem+json');
    }
    const other = await open(id, cast.otherCi.token);
    expect(other.status).toBe(404);
    expect(other.body.detail).toContain('no deployment');
    const anonymous = await fetch(`${harness.url}/v1/deployments/${id}/events`);
    expect(anonymous.status).toBe(401);
    // An approver reads every deployment, so may follow it.
    const approver = await open(id, cast.bob.token);
    expect((await approver.next()).id).toBe(id);
    approver.close();
  });

  it('serves 20 concurrent subscribers of one deployment, each every change, and answers 429 past the per-principal limit', async () => {
    const { id, digest } = await request();
    const streams = await Promise.all(Array.from({ length: 20 }, () => open(id, cast.bob.token)));
    expect(streams.map((s) => s.status)).toEqual(Array(20).fill(200));
    await Promise.all(streams.map((s) => s.next()));
    const more = await Promise.all(Array.from({ length: 6 }, () => open(id, cast.bob.token)));
    const statuses = more.map((s) => s.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const refused = more.find((s) => s.status === 429)!;
    expect(refused.body.type).toContain('too-many-streams');
    for (const s of more) s.close();

    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.erin.token, { digest })).status).toBe(200);
    const views = await Promise.all(streams.map((s) => s.next()));
    for (const view of views) expect(view.approvals.map((a: any) => a.approver)).toEqual(['erin']);
    for (const s of streams) s.close();
    // Closed streams give their places back.
    await eventually(async () => (await open(id, cast.bob.token)), (s) => {
      s.close();
      return s.status === 200;
    });
  });

  it('long-polls with ?waitForVersion: answers once the version passes it, or after waitSeconds as it stands', async () => {
    const { id, digest } = await request();
    const now = (await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body;
    const waiting = cast.http.get(`/v1/deployments/${id}?waitForVersion=${now.version}&waitSeconds=60`, cast.ci.token);
    await eventually(async () => harness.api.app.get(DeploymentEvents).stats().followers, (n) => n > 0);
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const answered = await waiting;
    expect(answered.status).toBe(200);
    expect(answered.body.version).toBeGreaterThan(now.version);
    expect(answered.body.approvals).toHaveLength(1);
    // Already newer than asked: at once.
    expect((await cast.http.get(`/v1/deployments/${id}?waitForVersion=${now.version}&waitSeconds=60`, cast.ci.token)).body.version).toBe(answered.body.version);
    // Nothing changes: the deployment as it stands, after the wait.
    const quiet = await cast.http.get(`/v1/deployments/${id}?waitForVersion=${answered.body.version}&waitSeconds=1`, cast.ci.token);
    expect(quiet.status).toBe(200);
    expect(quiet.body.version).toBe(answered.body.version);
    for (const bad of ['waitForVersion=-1', 'waitForVersion=abc', 'waitForVersion=1&waitSeconds=600', 'waitForVersion=1&waitSeconds=0']) {
      const refused = await cast.http.get(`/v1/deployments/${id}?${bad}`, cast.ci.token);
      expect({ bad, status: refused.status }).toEqual({ bad, status: 400 });
      expect(refused.contentType).toContain('application/problem+json');
    }
    expect((await cast.http.get(`/v1/deployments/${id}?waitForVersion=0`, cast.otherCi.token)).status).toBe(404);
  });

  it('keeps pushing after its listening connection to PostgreSQL is cut', async () => {
    const { id, digest } = await request();
    const stream = await open(id, cast.ci.token);
    await stream.next();
    const killed = await harness.dataSource.query(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'`,
    );
    expect(killed.length).toBeGreaterThan(0);
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const next = await stream.next();
    expect(next.approvals).toHaveLength(1);
    stream.close();
  });

  it('ends open streams when the API stops, and the client resumes from its Last-Event-ID', async () => {
    const { id, digest } = await request();
    const stream = await open(id, cast.ci.token);
    const seen = await stream.next();
    await harness.restartApi();
    await stream.ended;
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest })).status).toBe(200);
    const resumed = await open(id, cast.ci.token, { 'last-event-id': String(seen.version) });
    expect((await resumed.next()).approvals).toHaveLength(1);
    resumed.close();
  });
});
