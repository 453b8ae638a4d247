// The approver page's defences, over real HTTP against the real API, worker, Temporal and
// PostgreSQL: the session cookie and its server-side record, session fixation, expiry, sign-out,
// CSRF on every form, the security headers, and hostile text shown as text.

import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { UiSessionEntity } from '../../database/entities/ui-session.entity';
import { AuditEventEntity } from '../../database/entities/audit-event.entity';
import { DEFAULT_POLICY, type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, eventually, standardCast } from '../support/fixtures';
import { cookieFlags, csrfOf, UiClient } from '../support/ui-client';

const SESSION = 'countersign_session';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const policyWith = (ui: string) => `${DEFAULT_POLICY}\nauth:\n  ui: ${ui}\n`;

describe('the approver page: sessions, CSRF, headers and hostile text', () => {
  let harness: Harness;
  let cast: Awaited<ReturnType<typeof standardCast>>;
  const ui = () => new UiClient(harness.url);

  beforeAll(async () => {
    harness = await startCountersign({ policy: policyWith('{ trustedProxies: ["127.0.0.1"], sessionIdle: 30m, sessionMaxAge: 12h }'), answerTimeoutMs: 4_000 });
    cast = await standardCast(harness);
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  async function request(overrides: Record<string, unknown> = {}) {
    const body = deploymentBody(overrides);
    const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(created.status).toBe(201);
    return { id: created.body.id as string, body };
  }

  async function signedIn(token: string) {
    const client = ui();
    const answer = await client.signIn(token);
    expect(answer.status).toBe(303);
    return client;
  }

  async function approvalsOf(id: string): Promise<string[]> {
    return ((await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body.approvals as Array<{ approver: string }>).map((a) => a.approver);
  }

  describe('headers', () => {
    it('serves every page with a strict CSP, no framing, no caching and no referrer', async () => {
      const page = await ui().get('/ui/sign-in');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
      const csp = page.headers.get('content-security-policy') ?? '';
      const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
      expect(directives).toEqual({
        'default-src': "'none'",
        'style-src': "'self'",
        'img-src': "'self'",
        'form-action': "'self'",
        'frame-ancestors': "'none'",
        'base-uri': "'none'",
      });
      expect(csp).not.toContain('script-src');
      expect(csp).not.toContain('unsafe-inline');
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      // No script anywhere, and no inline style either.
      expect(page.text).not.toMatch(/<script|style=|javascript:/i);
    });

    it('serves the one stylesheet under a hashed name with a year-long immutable cache', async () => {
      const page = await ui().get('/ui/sign-in');
      const href = /<link rel="stylesheet" href="(\/ui\/static\/app\.[0-9a-f]{16}\.css)">/.exec(page.text)?.[1];
      expect(href).toBeDefined();
      const css = await ui().get(href!);
      expect(css.status).toBe(200);
      expect(css.headers.get('content-type')).toMatch(/^text\/css/);
      expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(href).toContain(sha256(css.text).slice(0, 16));
      expect((await ui().get('/ui/static/app.0000000000000000.css')).status).toBe(404);
    });

    it('takes forms only: a JSON body to a page is answered 415 and signs nobody in', async () => {
      const answer = await ui().request('POST', '/ui/sign-in', { body: JSON.stringify({ token: cast.bob.token }), headers: { 'content-type': 'application/json' } });
      expect(answer.status).toBe(415);
      expect(answer.setCookies.filter((line) => line.startsWith(`${SESSION}=`))).toEqual([]);
    });
  });

  describe('signing in', () => {
    it('sends a visitor without a session to sign in, keeping the page they asked for', async () => {
      const answer = await ui().get('/ui/deployments/abc');
      expect(answer.status).toBe(303);
      expect(answer.location).toBe('/ui/sign-in?next=%2Fui%2Fdeployments%2Fabc');
      const form = await ui().get(answer.location!);
      expect(form.text).toContain('name="next" value="/ui/deployments/abc"');
    });

    it('never sends a person elsewhere after sign-in, whatever next says', async () => {
      for (const next of ['https://evil.example/', '//evil.example/ui/', '/ui/../v1/principals', '/ui//evil.example', '/v1/audit']) {
        const client = ui();
        const form = await client.get(`/ui/sign-in?next=${encodeURIComponent(next)}`);
        expect(form.text).not.toContain('name="next"');
        const answer = await client.post('/ui/sign-in', { csrf: csrfOf(form.text), token: cast.bob.token, next });
        expect(answer.status).toBe(303);
        expect(answer.location).toBe('/ui/');
      }
    });

    it('sets an HttpOnly, SameSite=Lax session cookie for /ui only, not Secure over plain HTTP, and keeps only its hash', async () => {
      const client = ui();
      const answer = await client.signIn(cast.bob.token);
      expect(answer.status).toBe(303);
      expect(answer.location).toBe('/ui/');
      const line = answer.setCookies.find((cookie) => cookie.startsWith(`${SESSION}=`))!;
      const flags = cookieFlags(line);
      expect(flags.httponly).toBe(true);
      expect(flags.samesite).toBe('Lax');
      expect(flags.path).toBe('/ui');
      expect(flags.secure).toBeUndefined();
      const id = client.cookies.get(SESSION)!;
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const rows = await harness.dataSource.getRepository(UiSessionEntity).findBy({ principalId: 'bob' });
      expect(rows.map((row) => row.idHash)).toContain(sha256(id));
      expect(JSON.stringify(rows)).not.toContain(id);
      const home = await client.get('/ui/');
      expect(home.status).toBe(200);
      expect(home.text).toContain('Signed in as');
    });

    it('marks the cookie Secure when a trusted proxy says the browser used TLS, and believes nobody else', async () => {
      const behindTls = ui();
      const form = await behindTls.get('/ui/sign-in');
      const answer = await behindTls.post('/ui/sign-in', { csrf: csrfOf(form.text), token: cast.bob.token }, { 'x-forwarded-proto': 'https' });
      expect(cookieFlags(answer.setCookies.find((cookie) => cookie.startsWith(`${SESSION}=`))!).secure).toBe(true);

      // The same header from a peer that is not a trusted proxy is ignored.
      writeFileSync(harness.policyFile, policyWith('{ trustedProxies: ["10.9.8.7"] }'));
      expect((await cast.http.post('/v1/policy/reload', cast.admin)).status).toBe(200);
      try {
        const direct = ui();
        const again = await direct.get('/ui/sign-in');
        const signed = await direct.post('/ui/sign-in', { csrf: csrfOf(again.text), token: cast.bob.token }, { 'x-forwarded-proto': 'https' });
        expect(signed.status).toBe(303);
        expect(cookieFlags(signed.setCookies.find((cookie) => cookie.startsWith(`${SESSION}=`))!).secure).toBeUndefined();
      } finally {
        writeFileSync(harness.policyFile, policyWith('{ trustedProxies: ["127.0.0.1"], sessionIdle: 30m, sessionMaxAge: 12h }'));
        expect((await cast.http.post('/v1/policy/reload', cast.admin)).status).toBe(200);
      }
    });

    it('refuses the sign-in form without its form token, or with another browser\'s (403), and signs nobody in', async () => {
      const other = ui();
      const otherToken = csrfOf((await other.get('/ui/sign-in')).text);
      const client = ui();
      await client.get('/ui/sign-in');
      const forms: Array<Record<string, string>> = [{ token: cast.bob.token }, { token: cast.bob.token, csrf: '' }, { token: cast.bob.token, csrf: otherToken }, { token: cast.bob.token, csrf: 'x'.repeat(43) }];
      for (const form of forms) {
        const answer = await client.post('/ui/sign-in', form);
        expect(answer.status).toBe(403);
        expect(answer.text).toContain('This sign-in form has expired');
        expect(client.cookies.has(SESSION)).toBe(false);
      }
    });

    it('refuses an unknown token (401), says so, and records the refusal without the token', async () => {
      const wrong = `cs_${randomBytes(32).toString('base64url')}`;
      const client = ui();
      const answer = await client.signIn(wrong);
      expect(answer.status).toBe(401);
      expect(answer.text).toContain('That token was not accepted (unknown token)');
      expect(client.cookies.has(SESSION)).toBe(false);
      const events = await harness.dataSource.getRepository(AuditEventEntity).findBy({ type: 'ui.sign-in.refused' });
      expect(events.length).toBeGreaterThan(0);
      expect(JSON.stringify(events)).not.toContain(wrong);
    });

    it('refuses a pipeline (403): the page is for people who answer or audit', async () => {
      const client = ui();
      const answer = await client.signIn(cast.ci.token);
      expect(answer.status).toBe(403);
      expect(answer.text).toContain('ci has no approver or admin role');
      expect(client.cookies.has(SESSION)).toBe(false);
    });

    it('opens a new session at every sign-in: an id planted before sign-in is never the one signed in', async () => {
      // An attacker's own valid session, planted in the victim's browser.
      const attacker = await signedIn(cast.erin.token);
      const planted = attacker.cookies.get(SESSION)!;
      const victim = ui();
      const form = await victim.get('/ui/sign-in');
      victim.cookies.set(SESSION, planted);
      const answer = await victim.post('/ui/sign-in', { csrf: csrfOf(form.text), token: cast.bob.token });
      expect(answer.status).toBe(303);
      const fresh = victim.cookies.get(SESSION)!;
      expect(fresh).not.toBe(planted);
      // The planted id was ended, not signed in as bob; the victim is bob under the new id.
      expect((await attacker.get('/ui/')).status).toBe(303);
      expect((await victim.get('/ui/')).text).toContain('(bob)');

      // An id the server never issued is never adopted either.
      const invented = randomBytes(32).toString('base64url');
      const other = ui();
      other.cookies.set(SESSION, invented);
      await other.signIn(cast.bob.token);
      expect(other.cookies.get(SESSION)).not.toBe(invented);
      expect(await harness.dataSource.getRepository(UiSessionEntity).countBy({ idHash: sha256(invented) })).toBe(0);
    });
  });

  describe('CSRF on every form', () => {
    it('refuses an approval posted without the form token, with a wrong one or with another session\'s (403), and counts nothing', async () => {
      const { id, body } = await request();
      const bob = await signedIn(cast.bob.token);
      const erin = await signedIn(cast.erin.token);
      const erinsToken = csrfOf((await erin.get('/ui/')).text);
      for (const csrf of [undefined, '', 'wrong', erinsToken]) {
        const form: Record<string, string> = { digest: body.artifact.digest };
        if (csrf !== undefined) form.csrf = csrf;
        const answer = await bob.post(`/ui/deployments/${id}/approve`, form);
        expect(answer.status).toBe(403);
        expect(answer.text).toContain('Nothing was changed');
      }
      expect(await approvalsOf(id)).toEqual([]);
      const trail = await harness.dataSource.getRepository(AuditEventEntity).findBy({ deploymentId: id });
      expect(trail.filter((event) => event.type.startsWith('approval.'))).toEqual([]);
    });

    it('refuses a rejection posted without the form token (403), and the request stays PENDING', async () => {
      const { id } = await request();
      const carol = await signedIn(cast.carol.token);
      const answer = await carol.post(`/ui/deployments/${id}/reject`, { reason: 'forged' });
      expect(answer.status).toBe(403);
      expect((await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body.status).toBe('PENDING');
    });

    it('refuses a sign-out without the form token (403), and the session goes on', async () => {
      const bob = await signedIn(cast.bob.token);
      expect((await bob.post('/ui/sign-out', {})).status).toBe(403);
      expect((await bob.get('/ui/')).status).toBe(200);
    });

    it('takes an approval with the session\'s own form token, as the session\'s principal whatever the form says', async () => {
      const { id, body } = await request();
      const bob = await signedIn(cast.bob.token);
      const page = await bob.get(`/ui/deployments/${id}`);
      const answer = await bob.post(`/ui/deployments/${id}/approve`, { csrf: csrfOf(page.text), digest: body.artifact.digest, approver: 'erin', actor: 'erin' });
      expect(answer.status).toBe(303);
      expect(answer.location).toBe(`/ui/deployments/${id}?answered=approval`);
      expect(await approvalsOf(id)).toEqual(['bob']);
    });
  });

  describe('the session ends', () => {
    it('at sign-out: the cookie is cleared, and the old cookie is refused afterwards, for pages and forms', async () => {
      const { id, body } = await request();
      const bob = await signedIn(cast.bob.token);
      const old = bob.cookies.get(SESSION)!;
      const page = await bob.get(`/ui/deployments/${id}`);
      const token = csrfOf(page.text);
      const out = await bob.post('/ui/sign-out', { csrf: token });
      expect(out.status).toBe(303);
      expect(out.location).toBe('/ui/sign-in?signed-out');
      expect(out.setCookies.some((line) => line.startsWith(`${SESSION}=;`) && /Expires=Thu, 01 Jan 1970/.test(line))).toBe(true);
      expect(await harness.dataSource.getRepository(UiSessionEntity).countBy({ idHash: sha256(old) })).toBe(0);

      const replay = ui();
      replay.cookies.set(SESSION, old);
      const home = await replay.get('/ui/');
      expect(home.status).toBe(303);
      expect(home.location).toBe('/ui/sign-in?ended');
      const post = await replay.post(`/ui/deployments/${id}/approve`, { csrf: token, digest: body.artifact.digest });
      expect(post.status).toBe(401);
      expect(post.text).toContain('nothing was sent');
      expect(await approvalsOf(id)).toEqual([]);
    });

    it('after sessionIdle without use, and at sessionMaxAge whatever the use', async () => {
      const sessions = harness.dataSource.getRepository(UiSessionEntity);
      const idle = await signedIn(cast.bob.token);
      await sessions.update({ idHash: sha256(idle.cookies.get(SESSION)!) }, { lastSeenAt: new Date(Date.now() - 31 * 60_000) });
      const idleAnswer = await idle.get('/ui/');
      expect(idleAnswer.status).toBe(303);
      expect(idleAnswer.location).toBe('/ui/sign-in?ended');

      const old = await signedIn(cast.bob.token);
      await sessions.update({ idHash: sha256(old.cookies.get(SESSION)!) }, { expiresAt: new Date(Date.now() - 1000) });
      expect((await old.get('/ui/')).status).toBe(303);

      // Used a moment ago: it goes on.
      const used = await signedIn(cast.bob.token);
      await sessions.update({ idHash: sha256(used.cookies.get(SESSION)!) }, { lastSeenAt: new Date(Date.now() - 29 * 60_000) });
      expect((await used.get('/ui/')).status).toBe(200);
    });

    it('when the token it was opened with is revoked', async () => {
      const dave = await createPrincipal(cast.http, cast.admin, { id: `dave-${randomBytes(3).toString('hex')}`, roles: ['approver'] });
      const tokens = (await cast.http.get(`/v1/principals/${dave.id}/tokens`, cast.admin)).body;
      const tokenId = (Array.isArray(tokens) ? tokens : tokens.tokens)[0].id as string;
      const client = await signedIn(dave.token);
      expect((await client.get('/ui/')).status).toBe(200);
      expect((await cast.http.request('DELETE', `/v1/principals/${dave.id}/tokens/${tokenId}`, { token: cast.admin })).status).toBe(204);
      expect((await client.get('/ui/')).status).toBe(303);
    });
  });

  describe('answers', () => {
    it('refuses a rejection without a reason (422), says why, and keeps the attempt in the audit trail', async () => {
      const { id } = await request();
      const carol = await signedIn(cast.carol.token);
      const page = await carol.get(`/ui/deployments/${id}`);
      const answer = await carol.post(`/ui/deployments/${id}/reject`, { csrf: csrfOf(page.text), reason: '   ' });
      expect(answer.status).toBe(422);
      expect(answer.text).toContain('a rejection needs a reason');
      expect((await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body.status).toBe('PENDING');
      await eventually(
        () => harness.dataSource.getRepository(AuditEventEntity).findBy({ deploymentId: id, type: 'rejection.refused' }),
        (events) => events.length === 1 && events[0].actor === 'carol' && events[0].reason === 'MALFORMED',
      );
    });

    it('refuses an approval that names no digest (422) and counts nothing', async () => {
      const { id } = await request();
      const bob = await signedIn(cast.bob.token);
      const page = await bob.get(`/ui/deployments/${id}`);
      const answer = await bob.post(`/ui/deployments/${id}/approve`, { csrf: csrfOf(page.text), digest: 'looks fine to me' });
      expect(answer.status).toBe(422);
      expect(answer.text).toContain('is not a digest');
      expect(await approvalsOf(id)).toEqual([]);
    });

    it('answers a form holding a control character with a page that says so (400), and sends nothing', async () => {
      const { id } = await request();
      const carol = await signedIn(cast.carol.token);
      const page = await carol.get(`/ui/deployments/${id}`);
      const answer = await carol.post(`/ui/deployments/${id}/reject`, { csrf: csrfOf(page.text), reason: 'bell \u0007 and escape \u001b[2J' });
      expect(answer.status).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
      expect(answer.text).toContain('reason contains a control character (U+0007)');
      expect((await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body.status).toBe('PENDING');
      const signIn = await ui().request('POST', '/ui/sign-in', { form: { csrf: 'x', token: 'a\u0000b' } });
      expect(signIn.status).toBe(400);
      expect(signIn.text).toContain('The form could not be read');
    });

    it('answers 404 in words for a deployment that does not exist', async () => {
      const bob = await signedIn(cast.bob.token);
      const answer = await bob.get('/ui/deployments/no-such-deployment');
      expect(answer.status).toBe(404);
      expect(answer.text).toContain('no deployment no-such-deployment');
    });
  });

  describe('hostile text', () => {
    it('shows tags, quotes, bidi overrides and javascript: links from a request as text, never as markup', async () => {
      const hostile = '<script>alert(1)</script>"\'><img src=x onerror=alert(1)> \u202Egnp.exe';
      const { id } = await request({
        artifact: { name: `registry.example.com/<b>web</b>:"1'`, digest: `sha256:${sha256(randomBytes(8).toString('hex'))}` },
        change: {
          commit: sha256('x').slice(0, 40),
          authors: ['alice@example.com', '"><svg onload=alert(1)>'],
          summary: hostile,
          url: 'javascript:alert(1)',
        },
      });
      const bob = await signedIn(cast.bob.token);
      const page = (await bob.get(`/ui/deployments/${id}`)).text;
      expect(page).not.toContain('<script>alert');
      expect(page).not.toContain('<img src=x');
      expect(page).not.toContain('<svg');
      expect(page).not.toContain('<b>web</b>');
      expect(page).not.toContain('\u202E');
      expect(page).not.toMatch(/href="javascript:/i);
      expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(1)&gt; [U+202E]gnp.exe');
      expect(page).toContain('registry.example.com/&lt;b&gt;web&lt;/b&gt;:&quot;1&#39;');
      expect(page).toContain('&quot;&gt;&lt;svg onload=alert(1)&gt;');
      expect(page).toContain('javascript:alert(1)'); // shown, as text
      // The waiting list shows the same summary, escaped.
      const list = (await bob.get('/ui/')).text;
      expect(list).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(list).not.toContain('<script>alert');
    });

    it('shows a hostile rejection reason as text in the timeline', async () => {
      const { id } = await request();
      const carol = await signedIn(cast.carol.token);
      const page = await carol.get(`/ui/deployments/${id}`);
      const reason = '</textarea><script>alert(1)</script> \u2066nope\u2069';
      const answer = await carol.post(`/ui/deployments/${id}/reject`, { csrf: csrfOf(page.text), reason });
      expect(answer.status).toBe(303);
      const after = await eventually(() => carol.get(`/ui/deployments/${id}`), (view) => view.text.includes('rejected'));
      expect(after.text).not.toContain('<script>alert');
      expect(after.text).not.toContain('</textarea><script>');
      expect(after.text).toContain('&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt; [U+2066]nope[U+2069]');
    });
  });

  describe('races and faults', () => {
    it('counts the same approval posted 20 times at once once, and says why the others were not counted', async () => {
      const { id, body } = await request();
      const bob = await signedIn(cast.bob.token);
      const csrf = csrfOf((await bob.get(`/ui/deployments/${id}`)).text);
      const answers = await Promise.all(Array.from({ length: 20 }, () => bob.post(`/ui/deployments/${id}/approve`, { csrf, digest: body.artifact.digest })));
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 303).length).toBeLessThanOrEqual(1);
      // The others: DUPLICATE (409); once bob's refusals are used up, turned away (429); and on a
      // loaded machine, not confirmed within the answer timeout (503), which the gate settles later.
      expect(statuses.filter((status) => status !== 303).every((status) => [409, 429, 503].includes(status))).toBe(true);
      for (const answer of answers.filter((a) => a.status === 409)) expect(answer.text).toContain('You have already approved this request');
      for (const answer of answers.filter((a) => a.status === 429)) expect(answer.text).toContain('refused too many times');
      for (const answer of answers.filter((a) => a.status === 503)) expect(answer.text).toContain('Your approval is not confirmed yet');
      // Counted once, whatever each answer said.
      await eventually(() => harness.dataSource.getRepository(AuditEventEntity).findBy({ deploymentId: id, type: 'approval.accepted' }), (events) => events.length >= 1, 30_000);
      expect(await approvalsOf(id)).toEqual(['bob']);
    }, 60_000);

    it('while the worker is down: shows the last recorded state and says an answer is not confirmed (503), then works again', async () => {
      const { id, body } = await request();
      const bob = await signedIn(cast.bob.token);
      const csrf = csrfOf((await bob.get(`/ui/deployments/${id}`)).text);
      await harness.stopWorker();
      try {
        const page = await bob.get(`/ui/deployments/${id}`);
        expect(page.status).toBe(200);
        expect(page.text).toContain('The gate did not answer just now');
        const answer = await bob.post(`/ui/deployments/${id}/approve`, { csrf, digest: body.artifact.digest });
        expect(answer.status).toBe(503);
        expect(answer.text).toContain('Your approval is not confirmed yet');
        expect(answer.headers.get('retry-after')).toBeNull();
      } finally {
        await harness.startWorker();
      }
      const back = await eventually(() => bob.get(`/ui/deployments/${id}`), (page) => page.status === 200 && !page.text.includes('The gate did not answer just now'), 60_000);
      expect(back.text).toContain('What is asked');
    }, 120_000);
  });
});

describe('the approver page: failed sign-ins count against the API\'s limit per client', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startCountersign({ authFailuresPerMinute: 3 });
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('answers 429 with Retry-After once a client has used up its failures, even for a good token', async () => {
    const client = new UiClient(harness.url);
    for (let attempt = 0; attempt < 3; attempt += 1) expect((await client.signIn(`cs_wrong_${attempt}`)).status).toBe(401);
    const limited = await client.signIn(harness.adminToken);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.text).toContain('too many failed authentications from this client');
    expect(client.cookies.has(SESSION)).toBe(false);
    // The API's bearer routes share the budget.
    expect((await fetch(`${harness.url}/v1/deployments`, { headers: { authorization: `Bearer ${harness.adminToken}` } })).status).toBe(429);
  });
});
