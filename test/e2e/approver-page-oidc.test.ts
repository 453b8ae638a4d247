// Signing in to the approver page through OIDC (authorization code + PKCE), against a real
// local OIDC provider (test/support/oidc-provider.ts) that checks the code_verifier and signs
// id_tokens with its own key, and the real API, worker, Temporal and PostgreSQL.

import { createHash } from 'node:crypto';
import { UiSessionEntity, UiSignInEntity } from '../../database/entities/ui-session.entity';
import { DEFAULT_POLICY, type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, standardCast } from '../support/fixtures';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider';
import { csrfOf, UiClient } from '../support/ui-client';

const SESSION = 'countersign_session';

describe('the approver page: single sign-on with OIDC (authorization code + PKCE)', () => {
  let provider: TestOidcProvider;
  let harness: Harness;
  let cast: Awaited<ReturnType<typeof standardCast>>;

  beforeAll(async () => {
    provider = await startOidcProvider();
    harness = await startCountersign({
      env: { COUNTERSIGN_TEST_UI_OIDC_SECRET: provider.clientSecret },
      policy: `${DEFAULT_POLICY}
auth:
  ui:
    oidc:
      issuer: "${provider.issuer}"
      clientId: "${provider.clientId}"
      clientSecret: "\${COUNTERSIGN_TEST_UI_OIDC_SECRET}"
      scopes: [email]
      label: Sign in with Example SSO
`,
    });
    cast = await standardCast(harness);
    await createPrincipal(cast.http, cast.admin, { id: 'frank', roles: ['approver'], emails: ['frank@example.com'], subjects: ['sso|frank'] });
    await createPrincipal(cast.http, cast.admin, { id: 'sso-pipeline', roles: ['pipeline'], subjects: ['sso|robot'] });
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await provider?.close();
  });

  /** The browser's round trip: to the provider, which signs `subject` in, and back. */
  async function throughProvider(client: UiClient) {
    const start = await client.get('/ui/oidc/start');
    expect(start.status).toBe(303);
    const authorize = new URL(start.location!);
    const answer = await fetch(authorize, { redirect: 'manual' });
    expect(answer.status).toBe(302);
    const callback = new URL(answer.headers.get('location')!);
    return { authorize, callback, path: `${callback.pathname}${callback.search}` };
  }

  it('offers the provider on the sign-in page', async () => {
    const page = await new UiClient(harness.url).get('/ui/sign-in');
    expect(page.text).toContain('<a class="button" href="/ui/oidc/start">Sign in with Example SSO</a>');
  });

  it('signs in through the provider with PKCE (S256), as the principal whose subjects hold the id_token\'s sub', async () => {
    provider.subject = 'sso|frank';
    const client = new UiClient(harness.url);
    const { authorize, path } = await throughProvider(client);
    const q = authorize.searchParams;
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${provider.issuer}/authorize`);
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe(provider.clientId);
    expect(q.get('redirect_uri')).toBe(`${harness.url}/ui/oidc/callback`);
    expect(q.get('scope')).toBe('openid email');
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.has('code_verifier')).toBe(false);

    const done = await client.get(path);
    expect(done.status).toBe(303);
    expect(done.location).toBe('/ui/');
    // The provider was sent the verifier the challenge was made from, and checked it.
    const redeemed = provider.tokenRequests.at(-1)!;
    expect(redeemed.status).toBe(200);
    expect(createHash('sha256').update(redeemed.form.code_verifier).digest('base64url')).toBe(q.get('code_challenge'));
    expect(redeemed.form.client_secret).toBeUndefined(); // sent as HTTP Basic, not in the form

    const home = await client.get('/ui/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('(frank)');
    const session = await harness.dataSource.getRepository(UiSessionEntity).findOneBy({ idHash: createHash('sha256').update(client.cookies.get(SESSION)!).digest('hex') });
    expect(session).toMatchObject({ principalId: 'frank', via: 'oidc', tokenId: null });
    // Kept only until the callback.
    expect(await harness.dataSource.getRepository(UiSignInEntity).countBy({ stateHash: createHash('sha256').update(q.get('state')!).digest('hex') })).toBe(0);
  });

  it('lets the SSO approver answer, as themselves', async () => {
    provider.subject = 'sso|frank';
    const body = deploymentBody();
    const id = (await cast.http.post('/v1/deployments', cast.ci.token, body)).body.id as string;
    const client = new UiClient(harness.url);
    await client.get((await throughProvider(client)).path);
    const page = await client.get(`/ui/deployments/${id}`);
    const answer = await client.post(`/ui/deployments/${id}/approve`, { csrf: csrfOf(page.text), digest: body.artifact.digest });
    expect(answer.status).toBe(303);
    const view = (await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body;
    expect(view.approvals.map((approval: { approver: string }) => approval.approver)).toEqual(['frank']);
  });

  it('refuses a callback this browser did not start: no state cookie, or another sign-in\'s state (403)', async () => {
    provider.subject = 'sso|frank';
    const started = new UiClient(harness.url);
    const { path } = await throughProvider(started);
    // Login CSRF: the attacker's callback URL opened in a victim's browser.
    const victim = new UiClient(harness.url);
    const answer = await victim.get(path);
    expect(answer.status).toBe(403);
    expect(answer.text).toContain('was not started in this browser');
    expect(victim.cookies.has(SESSION)).toBe(false);
    // A browser that started its own sign-in, given another's callback.
    const other = new UiClient(harness.url);
    await other.get('/ui/oidc/start');
    expect((await other.get(path)).status).toBe(403);
    expect(other.cookies.has(SESSION)).toBe(false);
  });

  it('takes each sign-in once: the same callback again is refused', async () => {
    provider.subject = 'sso|frank';
    const client = new UiClient(harness.url);
    const { path } = await throughProvider(client);
    const state = client.cookies.get('countersign_oidc')!;
    expect((await client.get(path)).status).toBe(303);
    const replay = new UiClient(harness.url);
    replay.cookies.set('countersign_oidc', state);
    const again = await replay.get(path);
    expect(again.status).toBe(403);
    expect(again.text).toContain('already used');
    expect(replay.cookies.has(SESSION)).toBe(false);
  });

  it('fails when the verifier sent is not the one the challenge was made from: the provider refuses the code', async () => {
    provider.subject = 'sso|frank';
    const client = new UiClient(harness.url);
    const { authorize, path } = await throughProvider(client);
    const stateHash = createHash('sha256').update(authorize.searchParams.get('state')!).digest('hex');
    await harness.dataSource.getRepository(UiSignInEntity).update({ stateHash }, { codeVerifier: 'A'.repeat(43) });
    const answer = await client.get(path);
    expect(answer.status).toBe(401);
    expect(answer.text).toContain('the sign-in provider refused the code (invalid_grant)');
    expect(provider.tokenRequests.at(-1)).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(client.cookies.has(SESSION)).toBe(false);
  });

  it.each([
    ['another nonce', { nonce: 'not-the-nonce' }, 'does not carry the nonce'],
    ['another audience', { audience: 'someone-else' }, '&quot;aud&quot; claim'],
    ['an expiry in the past', { expiresIn: -600 }, '&quot;exp&quot; claim'],
    ['a key the provider does not publish', { signWithOtherKey: true }, 'signature verification failed'],
  ])('refuses an id_token with %s (401)', async (_name, tamper, words) => {
    provider.subject = 'sso|frank';
    provider.next = tamper;
    const client = new UiClient(harness.url);
    const { path } = await throughProvider(client);
    const answer = await client.get(path);
    expect(answer.status).toBe(401);
    expect(answer.text).toContain(words);
    expect(client.cookies.has(SESSION)).toBe(false);
  });

  it('refuses a subject no principal claims, and a pipeline\'s', async () => {
    provider.subject = 'sso|nobody';
    const client = new UiClient(harness.url);
    const stranger = await client.get((await throughProvider(client)).path);
    expect(stranger.status).toBe(401);
    expect(stranger.text).toContain('no principal claims the subject sso|nobody');
    provider.subject = 'sso|robot';
    const robot = new UiClient(harness.url);
    const answer = await robot.get((await throughProvider(robot)).path);
    expect(answer.status).toBe(403);
    expect(robot.cookies.has(SESSION)).toBe(false);
  });

  it('shows the provider\'s own refusal (?error=access_denied) in words', async () => {
    const client = new UiClient(harness.url);
    await client.get('/ui/oidc/start');
    const state = client.cookies.get('countersign_oidc')!;
    const answer = await client.get(`/ui/oidc/callback?error=access_denied&state=${state}`);
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('the provider answered access_denied');
  });
});
