// A CI system's identity tokens, for real: a local HTTP server that publishes an issuer's JWKS
// and plays GitHub Actions' token endpoint (GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=… with
// $ACTIONS_ID_TOKEN_REQUEST_TOKEN as bearer answers {"value": "<JWT>"}), minting RS256 JWTs
// that a Countersign configured with `auth.oidc` for this issuer accepts.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type KeyLike, SignJWT } from 'jose';

export interface CiIssuer {
  issuer: string;
  /** Base URL of the local server. */
  url: string;
  jwksUrl: string;
  /** What a GitHub Actions job gets in ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN. */
  actionsEnv(subject: string): Record<string, string>;
  mint(audience: string, subject: string, expiresIn?: number): Promise<string>;
  /** The audiences asked of the token endpoint, in order. */
  requests: Array<{ audience: string | null; subject: string; authorized: boolean }>;
  /** The `auth.oidc` entry that trusts it. */
  oidcConfig(audience?: string): string;
  close(): Promise<void>;
}

export async function startCiIssuer(issuer = 'https://token.actions.example.test'): Promise<CiIssuer> {
  const { privateKey, publicKey }: { privateKey: KeyLike; publicKey: KeyLike } = await generateKeyPair('RS256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'ci-1', alg: 'RS256', use: 'sig' }] };
  const requestTokens = new Map<string, string>();
  const requests: CiIssuer['requests'] = [];
  const mint = async (audience: string, subject: string, expiresIn = 300) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'ci-1', typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + expiresIn)
      .sign(privateKey);
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      return;
    }
    if (url.pathname === '/_apis/actions/idtoken') {
      const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const subject = requestTokens.get(presented);
      requests.push({ audience: url.searchParams.get('audience'), subject: subject ?? '', authorized: subject !== undefined });
      if (!subject) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Bad credentials"}');
        return;
      }
      void mint(url.searchParams.get('audience') ?? 'https://github.com/acme', subject).then((value) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value }));
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    url: base,
    jwksUrl: `${base}/jwks`,
    requests,
    mint,
    actionsEnv(subject) {
      const token = `actions-${randomBytes(12).toString('hex')}`;
      requestTokens.set(token, subject);
      return { ACTIONS_ID_TOKEN_REQUEST_URL: `${base}/_apis/actions/idtoken?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: token };
    },
    oidcConfig(audience = 'countersign') {
      return `{ issuer: "${issuer}", audience: ${audience}, jwksUrl: "${base}/jwks", principalClaim: sub }`;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
