// Hostile input over real HTTP: control characters, NUL, lone surrogates, huge and deeply
// nested values, repeated query parameters and impossible dates, at every route. Nothing of
// it may become a 5xx, every refusal is a problem document that says what to fix, and nothing
// that reaches a workflow may be unwritable to PostgreSQL (else the gate counts what the audit
// trail never records).

import fc from 'fast-check';
import { appendAuditEvents, verifyAuditChain } from '../../database/audit-trail';
import { writeDeploymentView } from '../../database/deployment-index';
import { storableJson } from '../../database/storable';
import type { DeploymentView } from '../../policy/types';
import { type Cast, deploymentBody, digestOf, eventually, useStandardCast, waitForStatus } from '../support/fixtures';
import type { Harness } from '../support/harness';
import type { HttpResponse } from '../support/http';

let harness: Harness;
let cast: Cast;
useStandardCast((started, people) => ((harness = started), (cast = people)));

function expectAnswered(response: HttpResponse, what: string) {
  if (response.status >= 500) throw new Error(`${what}: ${response.status} ${JSON.stringify(response.body).slice(0, 500)}`);
  if (response.status >= 400) {
    if (!response.contentType.includes('application/problem+json')) throw new Error(`${what}: ${response.status} as ${response.contentType}`);
    if (typeof response.body?.detail !== 'string' || response.body.detail.length < 10) throw new Error(`${what}: ${response.status} without a detail`);
  }
}

function expectRefused(response: HttpResponse, status: number, detail: RegExp | string) {
  expect(response.status).toBe(status);
  expect(response.contentType).toContain('application/problem+json');
  expect(response.body.detail).toMatch(detail);
}

function unstorable(raw: string): boolean {
  try {
    return storableJson(JSON.parse(raw)).replaced.length > 0;
  } catch {
    return false;
  }
}

/** A body whose JSON nests `depth` arrays, as text (JSON.stringify itself would overflow). */
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

async function pendingDeployment(overrides: Record<string, unknown> = {}) {
  const body = deploymentBody(overrides);
  const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect(created.status).toBe(201);
  return { id: created.body.id as string, body };
}

async function auditOf(deploymentId: string) {
  return (await cast.http.get(`/v1/audit?deployment=${encodeURIComponent(deploymentId)}&limit=1000`, cast.admin)).body.events as Array<{ type: string; actor: string; outcome: string; reason: string | null; data: any }>;
}

describe('text that PostgreSQL cannot store never reaches the gate', () => {
  it('refuses a NUL in an approval comment, and the trail stays complete', async () => {
    const { id, body } = await pendingDeployment();
    const refused = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: body.artifact.digest, comment: 'looks fine\u0000' });
    expectRefused(refused, 400, /^comment contains a NUL character \(U\+0000\); remove it/);
    expect(refused.body.field).toBe('comment');
    const view = (await cast.http.get(`/v1/deployments/${id}`, cast.bob.token)).body;
    expect(view).toMatchObject({ status: 'PENDING', approvals: [] });
    // The refused attempt is on the record, attributed to who sent it.
    const events = await eventually(() => auditOf(id), (rows) => rows.some((e) => e.type === 'approval.refused'));
    expect(events.find((e) => e.type === 'approval.refused')).toMatchObject({ actor: 'bob', outcome: 'refused', reason: 'MALFORMED' });
    // A clean approval after it is counted and recorded, and the chain holds.
    const accepted = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: body.artifact.digest, comment: 'looks fine' });
    expect(accepted.status).toBe(200);
    await eventually(() => auditOf(id), (rows) => rows.some((e) => e.type === 'approval.accepted' && e.actor === 'bob'));
    expect((await cast.http.get('/v1/audit/verify', cast.admin)).body).toMatchObject({ ok: true });
  });

  it('refuses a lone surrogate in every answer to the gate, and keeps each refused attempt', async () => {
    const { id, body } = await pendingDeployment({ environment: 'staging' });
    const answers: Array<[string, string, Record<string, unknown>, string]> = [
      ['approvals', cast.bob.token, { digest: body.artifact.digest, comment: 'ok \ud800' }, 'approval.refused'],
      ['rejections', cast.bob.token, { comment: '\udfff no' }, 'rejection.refused'],
      ['cancel', cast.ci.token, { reason: 'x\ud83d' }, 'cancel.refused'],
      ['override', cast.admin, { reason: 'an outage \ud800 needs it now' }, 'override.refused'],
    ];
    for (const [route, token, answer] of answers) {
      const response = await cast.http.post(`/v1/deployments/${id}/${route}`, token, answer);
      expectRefused(response, 400, /contains a lone surrogate \(U\+D[89A-F][0-9A-F]{2}\), which is not valid Unicode text; remove it/);
    }
    expect((await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body.status).toBe('PENDING');
    const events = await eventually(() => auditOf(id), (rows) => answers.every(([, , , type]) => rows.some((e) => e.type === type)));
    for (const [, , , type] of answers) expect(events.find((e) => e.type === type)).toMatchObject({ outcome: 'refused', reason: 'MALFORMED' });
  });

  it('refuses control characters in names and free text, but keeps tabs and line breaks', async () => {
    const escape = deploymentBody();
    escape.change.summary = 'fix \u001b[2J\u001b[Hall clear';
    expectRefused(await cast.http.post('/v1/deployments', cast.ci.token, escape), 400, /^change\.summary contains a control character \(U\+001B\)/);
    const author = deploymentBody();
    author.change.authors = ['alice@example.com', 'mallory\u0007@example.com'];
    expectRefused(await cast.http.post('/v1/deployments', cast.ci.token, author), 400, /^change\.authors\[1\] contains a control character \(U\+0007\)/);
    const c1 = deploymentBody({ environment: 'staging\u009b' });
    expectRefused(await cast.http.post('/v1/deployments', cast.ci.token, c1), 400, /^environment contains a control character \(U\+009B\)/);
    const key = await cast.http.request('POST', '/v1/deployments', { token: cast.ci.token, raw: '{"service":"web","\\u0000":1}' });
    expectRefused(key, 400, /a key of the body contains a NUL character/);

    const { id, body } = await pendingDeployment({ environment: 'staging', change: { ...deploymentBody().change, summary: 'line one\nline two\r\n\tindented' } });
    const approved = await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: body.artifact.digest, comment: 'checked:\n\t- tests\r\n\t- diff' });
    expect(approved.status).toBe(200);
    expect(approved.body.approvals[0].comment).toBe('checked:\n\t- tests\r\n\t- diff');
  });

  it('writes an event whose text PostgreSQL cannot store with U+FFFD and a note, instead of failing forever', async () => {
    // Defence in depth behind the API's refusal: an activity or a caller that slips one through.
    const eventId = `hostile:${Date.now()}:1`;
    await appendAuditEvents(harness.dataSource, [{
      eventId, deploymentId: '', type: 'test.unstorable', actor: 'tester\u0000', at: new Date().toISOString(),
      outcome: 'ok', reason: 'lone \ud800 surrogate', data: { comment: 'a\u0000b', ['k\u0000']: ['\udc00'] },
    }]);
    const [row] = await harness.dataSource.query('SELECT actor, reason, data FROM audit_events WHERE event_id = $1', [eventId]);
    expect(row.actor).toBe('tester\ufffd');
    expect(row.reason).toBe('lone \ufffd surrogate');
    expect(row.data).toMatchObject({ comment: 'a\ufffdb', 'k\ufffd': ['\ufffd'] });
    expect(row.data.unstorableReplaced).toEqual(expect.arrayContaining(['actor', 'reason', 'data.comment']));
    expect(await verifyAuditChain(harness.dataSource)).toMatchObject({ ok: true });

    const { id } = await pendingDeployment({ environment: 'staging' });
    const [indexed] = await harness.dataSource.query('SELECT view FROM deployments WHERE id = $1', [id]);
    const view = { ...(indexed.view as DeploymentView), version: 1_000_000, change: { ...indexed.view.change, summary: 'nul \u0000 here' } };
    expect(await writeDeploymentView(harness.dataSource, view)).toBe(true);
    const [after] = await harness.dataSource.query('SELECT view FROM deployments WHERE id = $1', [id]);
    expect(after.view.change.summary).toBe('nul \ufffd here');
  });
});

describe('malformed input is a 4xx that says what to fix, never a 5xx', () => {
  it('refuses a NUL, a lone surrogate or broken percent-encoding in a path id', async () => {
    for (const path of ['/v1/deployments/%00', '/v1/deployments/abc%00def/approvals', '/v1/principals/%ED%A0%80', '/v1/deployments/%E0%A4%A', '/v1/principals/%zz/tokens', '/v1/deployments/%1B%5B2J']) {
      const response = await cast.http.request(path.endsWith('approvals') ? 'POST' : 'GET', path, { token: cast.admin, body: path.endsWith('approvals') ? { digest: digestOf('x') } : undefined });
      expectRefused(response, 400, /the path segment ".+" (contains|is not valid percent-encoded UTF-8)/);
    }
  });

  it('refuses NUL and control characters in query parameters, naming the parameter', async () => {
    expectRefused(await cast.http.get('/v1/deployments?service=%00', cast.admin), 400, /the query parameter "service" contains a NUL character/);
    expectRefused(await cast.http.get('/v1/audit?actor=a%07b', cast.admin), 400, /the query parameter "actor" contains a control character \(U\+0007\)/);
    expectRefused(await cast.http.get('/v1/audit?deployment=%ED%A0%80%00', cast.admin), 400, /"deployment" contains a NUL/);
  });

  it('refuses a repeated query parameter by name instead of failing on an array', async () => {
    const response = await cast.http.get('/v1/deployments?status=PENDING&status=DEPLOYED', cast.admin);
    expectRefused(response, 400, /the query parameter "status" must be given once/);
    expect(response.body.parameter).toBe('status');
    expectRefused(await cast.http.get('/v1/audit?limit=1&limit=2', cast.admin), 400, /"limit" must be given once/);
    expectRefused(await cast.http.post('/v1/audit/reconcile?deployment=a&deployment=b', cast.admin), 400, /"deployment" must be given once/);
  });

  it('refuses out-of-range and malformed times in since, until and before', async () => {
    for (const since of ['275761-01-01', '9999999999999999', '-271821-04-19', '2026-13-45', '1e400', 'yesterday', '20260131']) {
      expectRefused(await cast.http.get(`/v1/audit?since=${encodeURIComponent(since)}`, cast.admin), 400, /^since (must be|is not a real)/);
    }
    expectRefused(await cast.http.get('/v1/audit?until=%2B275760-09-13T00%3A00%3A00Z', cast.admin), 400, /^until must be/);
    expectRefused(await cast.http.post('/v1/audit/reconcile?since=275761-01-01', cast.admin), 400, /^since must be/);
    expect((await cast.http.get('/v1/audit?since=2026-01-31&until=2026-02-01T00:00:00Z', cast.admin)).status).toBe(200);
    // A forged cursor with an impossible time, or NUL in its id.
    for (const cursor of [['275761-01-01T00:00:00Z', 'x'], ['+275760-09-13T00:00:00.000Z', 'x'], ['2026-01-01T00:00:00Z', 'a\u0000']]) {
      const before = Buffer.from(JSON.stringify(cursor)).toString('base64url');
      expectRefused(await cast.http.get(`/v1/deployments?before=${before}`, cast.admin), 422, /before must be the `next` cursor/);
    }
  });

  it('refuses 60 000-deep arrays inside roles and scopes without overflowing the stack', async () => {
    for (const [method, path] of [['POST', '/v1/principals'], ['PATCH', '/v1/principals/alice']]) {
      for (const field of ['roles', 'scopes']) {
        const raw = `{${method === 'POST' ? '"id":"deep",' : ''}"${field}":${deepArray(60_000)}}`;
        const response = await cast.http.request(method, path, { token: cast.admin, raw });
        expectRefused(response, 400, new RegExp(`^${field}(\\[0\\])+ nests deeper than 32 levels`));
      }
    }
    // A wide body is refused too, before a validator walks it.
    const wide = `{"id":"wide","roles":["approver"],"scopes":[${Array.from({ length: 6_000 }, () => '{"service":"a"}').join(',')}]}`;
    expectRefused(await cast.http.request('POST', '/v1/principals', { token: cast.admin, raw: wide }), 400, /more than 10000 values/);
  });

  it('answers 413 to a body over 1 MiB and 400 to one that is not JSON', async () => {
    const huge = JSON.stringify({ digest: digestOf('x'), comment: 'x'.repeat(1_100_000) });
    expectRefused(await cast.http.request('POST', '/v1/deployments/some-id/approvals', { token: cast.bob.token, raw: huge }), 413, /larger than 1 MiB/);
    expectRefused(await cast.http.request('POST', '/v1/deployments', { token: cast.ci.token, raw: '{"service": "web",' }), 400, /not valid JSON/);
  });
});

// Values that broke, or could break, a route: control characters, NUL, surrogates, huge text,
// impossible dates, percent-encoding that does not decode.
const hostileText = fc.oneof(
  fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\u0000b', '\u001b[31mred', '\u007f', '\u009b', '\ud83d\ude00', '\ufeff', '', ' ', '..', '%', '\\'),
  fc.constantFrom('275761-01-01', '9999999999999999', '-271821-04-19T00:00:00Z', '2026-02-30', '0000-00-00', 'NaN', 'Infinity', '1e400', '-1'),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 1_000, max: 300_000 }).map((length) => 'x'.repeat(length)),
);

/** Text for a URL: each UTF-16 unit as UTF-8 where it can be, else as a byte that cannot decode. */
const urlText = fc.oneof(
  hostileText.map((text) => [...text.slice(0, 2000)].map((char) => (char.length === 1 && char >= '\ud800' && char <= '\udfff' ? '%ED%A0%80' : encodeURIComponent(char))).join('')),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%2e%2e%2f', '%FF', 'a%2Fb'),
);

const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileText,
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, [], {}, [[[[[[[[[[[]]]]]]]]]]]),
  fc.array(hostileText, { maxLength: 5 }),
  fc.dictionary(hostileText, hostileText, { maxKeys: 3 }),
);

/** A valid body with one field replaced (or one key added) by something hostile, or a hostile whole. */
function mutated(base: () => Record<string, unknown>): fc.Arbitrary<string> {
  const paths = (value: unknown, prefix: string[] = []): string[][] =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.entries(value).flatMap(([key, inner]) => [[...prefix, key], ...paths(inner, [...prefix, key])])
      : [];
  const found = paths(base());
  const candidates = found.length > 0 ? found : [['extra']];
  return fc.oneof(
    fc.tuple(fc.constantFrom(...candidates), hostileJson).map(([path, value]) => {
      const body = base();
      let target = body as Record<string, unknown>;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
      target[path[path.length - 1]] = value;
      return JSON.stringify(body);
    }),
    fc.tuple(hostileText, hostileJson).map(([key, value]) => JSON.stringify({ ...base(), [key]: value })),
    // The body stays valid but for one character slipped into one of its strings.
    fc.tuple(fc.constantFrom(...candidates), fc.constantFrom('\u0000', '\ud800', '\udfff', '\u001b', '\u0085', '\u0007')).map(([path, char]) => {
      const body = base();
      let target = body as Record<string, unknown>;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
      const last = path[path.length - 1];
      const value = target[last];
      target[last] = typeof value === 'string' ? `${value.slice(0, 1)}${char}${value.slice(1)}` : Array.isArray(value) && typeof value[0] === 'string' ? [`${char}${value[0]}`] : char;
      return JSON.stringify(body);
    }),
    fc.integer({ min: 33, max: 60_000 }).map((depth) => `{"${candidates[0]?.[0] ?? 'x'}":${deepArray(depth)}}`),
    fc.constantFrom('[]', '"text"', '{"a":', 'null', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{}}}'),
  );
}

interface Route {
  method: string;
  path: (id: string) => string;
  token: () => string;
  query?: string[];
  body?: () => Record<string, unknown>;
}

describe('every route, fuzzed', () => {
  let target: { id: string; body: ReturnType<typeof deploymentBody> };
  const principal = 'fuzz-target';

  beforeAll(async () => {
    target = await pendingDeployment();
    const created = await cast.http.post('/v1/principals', cast.admin, { id: principal, roles: ['approver'], emails: ['fuzz@example.com'] });
    expect(created.status).toBe(201);
  });

  const routes: Record<string, Route> = {
    'POST /v1/deployments': { method: 'POST', path: () => '/v1/deployments', token: () => cast.ci.token, body: () => deploymentBody() },
    'GET /v1/deployments': { method: 'GET', path: () => '/v1/deployments', token: () => cast.admin, query: ['service', 'environment', 'status', 'limit', 'before', 'overridden', 'reviewOverdue'] },
    'GET /v1/deployments/{id}': { method: 'GET', path: (id) => `/v1/deployments/${id}`, token: () => cast.admin },
    'POST /v1/deployments/{id}/approvals': { method: 'POST', path: (id) => `/v1/deployments/${id}/approvals`, token: () => cast.erin.token, body: () => ({ digest: target.body.artifact.digest, comment: 'ok' }) },
    'POST /v1/deployments/{id}/rejections': { method: 'POST', path: (id) => `/v1/deployments/${id}/rejections`, token: () => cast.dave.token, body: () => ({ comment: 'no' }) },
    'POST /v1/deployments/{id}/cancel': { method: 'POST', path: (id) => `/v1/deployments/${id}/cancel`, token: () => cast.otherCi.token, body: () => ({ reason: 'stop' }) },
    'POST /v1/deployments/{id}/override': { method: 'POST', path: (id) => `/v1/deployments/${id}/override`, token: () => cast.bob.token, body: () => ({ reason: 'an outage needs it now' }) },
    'POST /v1/deployments/{id}/review': { method: 'POST', path: (id) => `/v1/deployments/${id}/review`, token: () => cast.carol.token, body: () => ({ comment: 'reviewed' }) },
    'GET /v1/deployments/{id}/evidence': { method: 'GET', path: (id) => `/v1/deployments/${id}/evidence`, token: () => cast.admin },
    'GET /v1/deployments/{id}/evidence/{sha256}': { method: 'GET', path: (id) => `/v1/deployments/${target.id}/evidence/${id}`, token: () => cast.admin },
    'POST /v1/principals': { method: 'POST', path: () => '/v1/principals', token: () => cast.admin, body: () => ({ id: 'fuzzed', displayName: 'F', emails: ['f@example.com'], logins: ['f'], subjects: ['s'], roles: ['approver'], groups: ['g'], scopes: [{ service: 'web', environment: 'staging' }] }) },
    'GET /v1/principals': { method: 'GET', path: () => '/v1/principals', token: () => cast.admin },
    'GET /v1/principals/{id}': { method: 'GET', path: (id) => `/v1/principals/${id}`, token: () => cast.admin },
    'PATCH /v1/principals/{id}': { method: 'PATCH', path: () => `/v1/principals/${principal}`, token: () => cast.admin, body: () => ({ displayName: 'F', emails: ['fuzz@example.com'], roles: ['approver'], groups: ['g'], scopes: [{ service: 'web' }] }) },
    'POST /v1/principals/{id}/tokens': { method: 'POST', path: (id) => `/v1/principals/${id}/tokens`, token: () => cast.admin, body: () => ({ expiresIn: '1d' }) },
    'GET /v1/principals/{id}/tokens': { method: 'GET', path: (id) => `/v1/principals/${id}/tokens`, token: () => cast.admin },
    'DELETE /v1/principals/{id}/tokens/{tokenId}': { method: 'DELETE', path: (id) => `/v1/principals/${principal}/tokens/${id}`, token: () => cast.admin },
    'GET /v1/audit': { method: 'GET', path: () => '/v1/audit', token: () => cast.admin, query: ['deployment', 'since', 'until', 'actor', 'type', 'after', 'limit'] },
    'GET /v1/audit/verify': { method: 'GET', path: () => '/v1/audit/verify', token: () => cast.admin },
    'POST /v1/audit/reconcile': { method: 'POST', path: () => '/v1/audit/reconcile', token: () => cast.admin, query: ['deployment', 'since'] },
    'GET /v1/policy': { method: 'GET', path: () => '/v1/policy', token: () => cast.admin },
    'POST /v1/policy/reload': { method: 'POST', path: () => '/v1/policy/reload', token: () => cast.admin, body: () => ({}) },
    'POST /v1/webhooks/git': { method: 'POST', path: () => '/v1/webhooks/git', token: () => '', body: () => ({ ref: 'refs/tags/deploy/production', after: 'a'.repeat(40), pusher: { name: 'alice', email: 'alice@example.com' } }) },
    'GET /v1/keys': { method: 'GET', path: () => '/v1/keys', token: () => cast.admin },
  };

  it.each(Object.keys(routes))('%s answers hostile input with a 4xx problem, never a 5xx', async (name) => {
    const route = routes[name];
    const hasId = route.path('ID').includes('ID');
    const request = fc.record({
      id: hasId ? urlText : fc.constant('ID'),
      query: route.query
        ? fc.array(fc.tuple(fc.constantFrom(...route.query), urlText), { minLength: 1, maxLength: 3 })
        : fc.array(fc.tuple(urlText, urlText), { maxLength: 1 }),
      body: route.body ? mutated(route.body) : fc.constant(undefined),
    });
    await fc.assert(
      fc.asyncProperty(request, async ({ id, query, body }) => {
        const search = query.map(([key, value]) => `${key.slice(0, 100) || 'q'}=${value}`).join('&');
        const url = `${route.path(id || 'x')}${search ? `?${search}` : ''}`;
        const headers: Record<string, string> = route.method === 'POST' && name.includes('webhooks') ? { 'x-github-event': 'push', 'x-hub-signature-256': 'sha256=00' } : {};
        const response = await cast.http.request(route.method, url, { token: route.token() || undefined, raw: body, headers });
        const what = `${route.method} ${url.slice(0, 200)} ${String(body).slice(0, 200)}`;
        expectAnswered(response, what);
        // Nothing PostgreSQL cannot store is ever accepted (it would reach the gate but not the trail).
        if (response.status < 300 && body !== undefined && unstorable(body)) throw new Error(`${what}: accepted ${response.status} with unstorable text`);
      }),
      { numRuns: 20, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000), verbose: 1 },
    );
  });

  it('still answers the gate and keeps the chain after all of it', async () => {
    expect((await cast.http.get(`/v1/deployments/${target.id}`, cast.admin)).status).toBe(200);
    expect((await cast.http.get('/v1/audit/verify', cast.admin)).body).toMatchObject({ ok: true });
    expect((await cast.http.get('/readyz')).status).toBe(200);
    await waitForStatus(cast.http, cast.admin, target.id, ['PENDING', 'APPROVED', 'DEPLOYING', 'DEPLOYED', 'REJECTED', 'CANCELLED'], 5_000);
  });
});
