// Who the CLI acts as: a Countersign token, or a CI system's own identity token, sent as the
// bearer JWT that the server's `auth.oidc` accepts, so that a pipeline needs no stored secret.
//
// In order: COUNTERSIGN_TOKEN; in GitHub Actions (a job with `permissions: id-token: write`),
// a token fetched from ACTIONS_ID_TOKEN_REQUEST_URL with ACTIONS_ID_TOKEN_REQUEST_TOKEN for the
// audience COUNTERSIGN_AUDIENCE (default `countersign`), fetched again before it expires; in
// GitLab CI, the JWT that `id_tokens:` puts in COUNTERSIGN_ID_TOKEN.

import { type CliIo, CliError, EXIT, type TokenSource, unreachable, usageError } from './common';

export const DEFAULT_AUDIENCE = 'countersign';
/** A token closer than this to its expiry is fetched again. */
const RENEW_BEFORE_MS = 60_000;

/** The `exp` of a JWT in ms, when it has one (the payload is not verified here: the server does). */
export function jwtExpiry(jwt: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function githubActionsToken(io: CliIo, requestUrl: string, requestToken: string, audience: string): TokenSource {
  let cached: { token: string; expires?: number } | undefined;
  return {
    origin: `the GitHub Actions OIDC token (audience ${audience})`,
    async get() {
      if (cached && (cached.expires === undefined || cached.expires - Date.now() > RENEW_BEFORE_MS)) return cached.token;
      let url: URL;
      try {
        url = new URL(requestUrl);
      } catch {
        throw usageError('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
      }
      url.searchParams.set('audience', audience);
      let response: Response;
      try {
        response = await io.fetch(url, {
          headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json; api-version=2.0' },
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        throw unreachable(`the GitHub Actions token endpoint (${url.origin})`, err);
      }
      const text = await response.text();
      let value: unknown;
      try {
        value = (JSON.parse(text) as { value?: unknown }).value;
      } catch {
        value = undefined;
      }
      if (!response.ok || typeof value !== 'string' || !value) {
        throw new CliError(EXIT.SERVER,
          `the GitHub Actions token endpoint answered ${response.status} without a token; ` +
            'does the job have `permissions: id-token: write`?');
      }
      cached = { token: value, expires: jwtExpiry(value) };
      return value;
    },
  };
}

/** The token source the environment provides; a usage error (exit 2) when it provides none. */
export function tokenSource(io: CliIo): TokenSource {
  const env = io.env;
  const token = env.COUNTERSIGN_TOKEN?.trim();
  if (token) return { origin: 'COUNTERSIGN_TOKEN', get: async () => token };
  const audience = env.COUNTERSIGN_AUDIENCE?.trim() || DEFAULT_AUDIENCE;
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL?.trim();
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN?.trim();
  if (requestUrl && requestToken) return githubActionsToken(io, requestUrl, requestToken, audience);
  const idToken = env.COUNTERSIGN_ID_TOKEN?.trim();
  if (idToken) return { origin: 'COUNTERSIGN_ID_TOKEN', get: async () => idToken };
  throw usageError(
    'no credentials: set COUNTERSIGN_TOKEN to a Countersign token; or, in GitHub Actions, give the job ' +
      '`permissions: id-token: write` (the CLI then fetches an OIDC token for the audience COUNTERSIGN_AUDIENCE, default ' +
      `${DEFAULT_AUDIENCE}); or, in GitLab CI, declare \`id_tokens: COUNTERSIGN_ID_TOKEN: aud: ${DEFAULT_AUDIENCE}\``,
  );
}
