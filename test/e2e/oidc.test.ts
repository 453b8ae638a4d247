// OIDC bearer JWTs from configured issuers, beside stored tokens: a CI system's workload
// identity requests deployments, SSO users approve. The issuers' JWKS are served from loopback
// with keys generated here. HTTP API, real Temporal, real PostgreSQL, real worker.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type KeyLike, SignJWT, UnsecuredJWT } from 'jose';
import { DEFAULT_POLICY, type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, eventually } from '../support/fixtures';
import { Http } from '../support/http';

const CI_ISSUER = 'https://ci.example.test';
const SSO_ISSUER = 'https://sso.example.test';
const AUDIENCE = 'countersign';
const PIPELINE_SUBJECT = 'repo:acme/web:ref:refs/heads/main';

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyLike;
  publicKey: KeyLike;
}

async function signingKey(kid: string, alg: SigningKey['alg']): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey };
}

async function jwks(...keys: SigningKey[]) {
  return { keys: await Promise.all(keys.map(async (key) => ({ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: key.alg, use: 'sig' }))) };
}

let ciKey: SigningKey;
let ssoKey: SigningKey;
let jwksServer: Server;
let jwksRequests = 0;
let harness: Harness;
let http: Http;
let admin: string;

/** A JWT as an issuer would mint it; `tweak` changes what a test needs wrong. */
async function jwt(
  options: {
    key?: SigningKey;
    kid?: string;
    issuer?: string;
    audience?: string | string[];
    subject?: string;
    expiresAt?: number;
    notBefore?: number;
    noExpiry?: boolean;
    claims?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const key = options.key ?? ciKey;
  const now = Math.floor(Date.now() / 1000);
  let token = new SignJWT({ ...(options.claims ?? {}) })
    .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
    .setIssuer(options.issuer ?? CI_ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject(options.subject ?? PIPELINE_SUBJECT)
    .setIssuedAt(now)
    .setJti(randomBytes(8).toString('hex'));
  if (!options.noExpiry) token = token.setExpirationTime(options.expiresAt ?? now + 300);
  if (options.notBefore !== undefined) token = token.setNotBefore(options.notBefore);
  return token.sign(key.privateKey);
}

beforeAll(async () => {
  ciKey = await signingKey('ci-2024', 'RS256');
  ssoKey = await signingKey('sso-1', 'ES256');
  // A second CI key in the set, as issuers publish during rotation.
  const ciRotated = await signingKey('ci-2025', 'RS256');
  const sets: Record<string, unknown> = {
    '/ci/jwks': await jwks(ciRotated, ciKey),
    '/sso/jwks': await jwks(ssoKey),
  };
  jwksServer = createServer((req, res) => {
    jwksRequests += 1;
    const set = sets[req.url ?? ''];
    res.writeHead(set ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(set ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const port = (jwksServer.address() as AddressInfo).port;

  harness = await startCountersign({
    policy: `${DEFAULT_POLICY}
auth:
  oidc:
    - { issuer: "${CI_ISSUER}", audience: "${AUDIENCE}", jwksUrl: "http://127.0.0.1:${port}/ci/jwks", principalClaim: "sub" }
    - { issuer: "${SSO_ISSUER}", audience: "${AUDIENCE}", jwksUrl: "http://127.0.0.1:${port}/sso/jwks", principalClaim: "sub" }
`,
  });
  http = new Http(harness.url);
  admin = harness.adminToken;
  await Promise.all([
    createPrincipal(http, admin, { id: 'web-pipeline', roles: ['pipeline'], subjects: [PIPELINE_SUBJECT] }),
    createPrincipal(http, admin, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'], subjects: ['sso|bob'] }),
    createPrincipal(http, admin, { id: 'carol', roles: ['approver'], emails: ['carol@example.com'], logins: ['carol-gh'], subjects: ['sso|carol'] }),
  ]);
});

afterAll(async () => {
  await harness?.close();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

const sso = (subject: string) => jwt({ key: ssoKey, issuer: SSO_ISSUER, subject });

async function requestAsPipeline(authors: string[]) {
  const body = deploymentBody();
  const response = await http.post('/v1/deployments', await jwt(), { ...body, change: { ...body.change, authors } });
  return { response, body };
}

describe('a valid JWT', () => {
  it('lets the CI pipeline request a deployment as its principal', async () => {
    const { response } = await requestAsPipeline(['alice@example.com']);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ status: 'PENDING', requestedBy: 'web-pipeline', tier: 'high' });
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it('is accepted beside stored tokens', async () => {
    expect((await http.get('/v1/deployments', admin)).status).toBe(200);
    expect((await http.get('/v1/deployments', await jwt())).status).toBe(200);
  });

  it('lets an SSO approver approve, and the author is still refused when she signs in by SSO', async () => {
    const { response, body } = await requestAsPipeline(['Carol <carol@example.com>']);
    const id = response.body.id;
    const author = await http.post(`/v1/deployments/${id}/approvals`, await sso('sso|carol'), { digest: body.artifact.digest });
    expect(author.status).toBe(403);
    expect(author.body.reason).toBe('AUTHOR');
    expect(author.body.detail).toContain('carol');

    const approved = await http.post(`/v1/deployments/${id}/approvals`, await sso('sso|bob'), { digest: body.artifact.digest, comment: 'via SSO' });
    expect(approved.status).toBe(200);
    expect(approved.body.approvals).toEqual([expect.objectContaining({ approver: 'bob', comment: 'via SSO' })]);
  });

  it('refuses an SSO approver who is an author by login', async () => {
    const { response, body } = await requestAsPipeline(['bob@example.com', '@Carol-GH']);
    const author = await http.post(`/v1/deployments/${response.body.id}/approvals`, await sso('sso|carol'), { digest: body.artifact.digest });
    expect(author.status).toBe(403);
    expect(author.body.reason).toBe('AUTHOR');
  });

  it('carries the principal\'s roles, not more: an approver\'s JWT cannot request a deployment', async () => {
    const response = await http.post('/v1/deployments', await sso('sso|bob'), deploymentBody());
    expect(response.status).toBe(403);
    expect(response.body.detail).toContain('pipeline');
  });
});

describe('a JWT is refused (401) with the reason when', () => {
  let attackerKey: SigningKey;

  beforeAll(async () => {
    attackerKey = await signingKey('ci-2024', 'RS256');
  });

  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['it is signed by another key under the issuer\'s key id', () => jwt({ key: attackerKey }), /signature verification failed/],
    ['it is signed by a key the issuer does not publish', () => jwt({ key: attackerKey, kid: 'attacker' }), /no applicable key/],
    ['it is signed by another configured issuer\'s key', () => jwt({ key: ciKey, issuer: SSO_ISSUER, subject: 'sso|bob' }), /no applicable key|signature/],
    ['its issuer is not configured', () => jwt({ issuer: 'https://evil.example.test' }), /issuer https:\/\/evil\.example\.test is not configured/],
    ['its issuer differs only by a trailing slash', () => jwt({ issuer: `${CI_ISSUER}/` }), /is not configured/],
    ['its audience is another service', () => jwt({ audience: 'someone-else' }), /"aud" claim/],
    ['it has expired', () => jwt({ expiresAt: now() - 600 }), /"exp" claim timestamp check failed/],
    ['it is not valid yet (nbf in the future)', () => jwt({ notBefore: now() + 600 }), /"nbf" claim timestamp check failed/],
    ['it has no expiry', () => jwt({ noExpiry: true }), /"exp" claim/],
    ['no principal claims its subject', () => jwt({ subject: 'repo:acme/evil:ref:refs/heads/main' }), /no principal claims subject repo:acme\/evil/],
    ['its subject differs from a principal\'s only in case', () => jwt({ subject: PIPELINE_SUBJECT.toUpperCase() }), /no principal claims subject/],
    [
      'it is unsigned (alg none)',
      async () => new UnsecuredJWT({}).setIssuer(CI_ISSUER).setAudience(AUDIENCE).setSubject(PIPELINE_SUBJECT).setExpirationTime('5m').encode(),
      /alg/,
    ],
    [
      'it is HMAC-signed (alg HS256) with a secret of the attacker\'s choosing',
      async () => hs256({ iss: CI_ISSUER, aud: AUDIENCE, sub: PIPELINE_SUBJECT, exp: now() + 300 }),
      /no applicable key|alg/,
    ],
    ['its signature was cut off', async () => (await jwt()).replace(/\.[^.]+$/, '.'), /alg|signature|JWS/],
    ['its payload was altered after signing', async () => tamper(await jwt(), { sub: 'repo:acme/web:ref:refs/heads/main', aud: AUDIENCE, iss: CI_ISSUER, exp: now() + 86_400 }), /signature verification failed/],
  ];

  it.each(cases)('%s', async (_label, token, reason) => {
    const response = await http.post('/v1/deployments', await token(), deploymentBody());
    expect(response.status).toBe(401);
    expect(response.contentType).toContain('application/problem+json');
    expect(response.headers.get('www-authenticate')).toContain('Bearer');
    expect(response.body.detail).toMatch(reason);
  });

  it('keeps each refusal, with its reason and without the token, in the audit trail', async () => {
    const token = await jwt({ audience: 'someone-else' });
    await http.get('/v1/deployments', token);
    const events = await eventually(
      async () => (await http.get('/v1/audit?type=auth.refused', admin)).body.events as any[],
      (list) => list.some((event) => /"aud" claim/.test(event.reason)),
    );
    expect(JSON.stringify(events)).not.toContain(token);
  });
});

/** An HS256 JWT: the classic confusion attack, using a secret the attacker knows. */
function hs256(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'HS256', typ: 'JWT', kid: 'ci-2024' })}.${encode(payload)}`;
  return `${signingInput}.${createHmac('sha256', 'attacker-secret').update(signingInput).digest('base64url')}`;
}

/** The same header and signature over another payload. */
function tamper(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
}
