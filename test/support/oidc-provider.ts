// A small but real OIDC provider for the tests, over HTTP on a free port: discovery, an
// authorization endpoint that issues a code bound to the PKCE challenge, the redirect URI and
// the nonce, a token endpoint that checks the client's secret, the code (once) and the
// code_verifier against the challenge (S256), and id_tokens signed with a test key (jose).

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';

interface Issued {
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce?: string;
  subject: string;
  used: boolean;
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who signs in at the authorization endpoint next (as if they had typed their password). */
  subject: string;
  /** Tamper with the next id_token, for the refusals. */
  next: { nonce?: string; audience?: string; expiresIn?: number; signWithOtherKey?: boolean };
  /** What the token endpoint was sent and how it answered, in order. */
  tokenRequests: Array<{ form: Record<string, string>; status: number; error?: string }>;
  authorizeRequests: URL[];
  close(): Promise<void>;
}

export async function startOidcProvider(options: { clientId?: string; clientSecret?: string } = {}): Promise<TestOidcProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, Issued>();
  const clientId = options.clientId ?? 'countersign-ui';
  const clientSecret = options.clientSecret ?? `secret-${randomBytes(8).toString('hex')}`;

  let issuer = '';
  const provider: TestOidcProvider = {
    issuer: '',
    clientId,
    clientSecret,
    subject: '',
    next: {},
    tokenRequests: [],
    authorizeRequests: [],
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const refuse = (error: string, status = 400) => {
      provider.tokenRequests.push({ form, status, error });
      json(res, status, { error });
    };
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, secret] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent) : [];
    if (user !== clientId || secret !== clientSecret) return refuse('invalid_client', 401);
    if (form.grant_type !== 'authorization_code') return refuse('unsupported_grant_type');
    const issued = codes.get(form.code ?? '');
    if (!issued || issued.used) return refuse('invalid_grant');
    issued.used = true;
    if (issued.clientId !== form.client_id || issued.redirectUri !== form.redirect_uri) return refuse('invalid_grant');
    // PKCE (RFC 7636): BASE64URL(SHA256(code_verifier)) must be the challenge sent at authorize.
    if (!form.code_verifier || createHash('sha256').update(form.code_verifier).digest('base64url') !== issued.challenge) return refuse('invalid_grant');
    const tamper = provider.next;
    provider.next = {};
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({ nonce: tamper.nonce ?? issued.nonce, email: `${issued.subject}@example.com` })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setIssuer(issuer)
      .setSubject(issued.subject)
      .setAudience(tamper.audience ?? clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + (tamper.expiresIn ?? 300))
      .sign((tamper.signWithOtherKey ? other.privateKey : privateKey) as KeyLike);
    provider.tokenRequests.push({ form, status: 200 });
    json(res, 200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken });
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (req.method === 'GET' && url.pathname === '/authorize') {
      provider.authorizeRequests.push(url);
      const q = url.searchParams;
      if (q.get('client_id') !== clientId || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !q.get('redirect_uri')) {
        return json(res, 400, { error: 'invalid_request' });
      }
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { clientId, redirectUri: q.get('redirect_uri')!, challenge: q.get('code_challenge')!, nonce: q.get('nonce') ?? undefined, subject: provider.subject, used: false });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      token(req, res).catch((err: unknown) => json(res, 500, { error: String(err) }));
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider.issuer = issuer;
  return provider;
}
