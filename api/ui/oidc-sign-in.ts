// Signing in to the approver page through an OIDC provider (`auth.ui.oidc`): the authorization
// code flow with PKCE (S256), a `state` bound to the browser by a cookie, and a `nonce` bound
// into the id_token. The id_token is verified with the provider's JWKS (signature, issuer,
// audience = our client id, expiry, nonce); the claim `principalClaim` names the principal
// exactly as a bearer JWT's does (api/auth/oidc.ts): a principal whose `subjects` hold it.

import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { UiOidcProvider } from '../../policy/config';
import type { PrincipalEntity } from '../../database/entities/principal.entity';
import { AuthService } from '../auth/auth.service';

interface Endpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUrl: string;
}

const FETCH_TIMEOUT_MS = 10_000;

export class SignInError extends Error {}

@Injectable()
export class UiOidc {
  private readonly discovered = new Map<string, Promise<Endpoints>>();
  private readonly keySets = new Map<string, JWTVerifyGetKey>();

  constructor(private readonly auth: AuthService) {}

  /** The provider's endpoints: as configured, else from its discovery document (kept once read). */
  private async endpoints(provider: UiOidcProvider): Promise<Endpoints> {
    const { authorizationEndpoint, tokenEndpoint, jwksUrl } = provider;
    if (authorizationEndpoint && tokenEndpoint && jwksUrl) return { authorizationEndpoint, tokenEndpoint, jwksUrl };
    let found = this.discovered.get(provider.issuer);
    if (!found) {
      found = discover(provider);
      this.discovered.set(provider.issuer, found);
      // A provider that was down is asked again next time.
      found.catch(() => this.discovered.delete(provider.issuer));
    }
    return found;
  }

  /** Where to send the browser, and what to keep until it comes back. */
  async start(provider: UiOidcProvider, redirectUri: string): Promise<{ url: string; state: string; codeVerifier: string; nonce: string }> {
    const { authorizationEndpoint } = await this.endpoints(provider);
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    const codeVerifier = randomBytes(32).toString('base64url');
    const url = new URL(authorizationEndpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', provider.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('scope', provider.scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('nonce', nonce);
    url.searchParams.set('code_challenge', createHash('sha256').update(codeVerifier).digest('base64url'));
    url.searchParams.set('code_challenge_method', 'S256');
    return { url: url.toString(), state, codeVerifier, nonce };
  }

  /** Redeems the code (with the PKCE verifier), verifies the id_token, and names its principal. */
  async finish(provider: UiOidcProvider, input: { code: string; redirectUri: string; codeVerifier: string; nonce: string }): Promise<PrincipalEntity> {
    const { tokenEndpoint, jwksUrl } = await this.endpoints(provider);
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: input.redirectUri,
      client_id: provider.clientId,
      code_verifier: input.codeVerifier,
    });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (provider.clientSecret) {
      // client_secret_basic (RFC 6749 2.3.1): both parts form-encoded, then base64.
      const user = encodeURIComponent(provider.clientId);
      const secret = encodeURIComponent(provider.clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
    }
    let answer: Response;
    try {
      answer = await fetch(tokenEndpoint, { method: 'POST', headers, body: form, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
    } catch (err) {
      throw new SignInError(`the sign-in provider's token endpoint could not be reached (${(err as Error).message}); try again`);
    }
    const body = (await answer.json().catch(() => undefined)) as { id_token?: unknown; error?: unknown; error_description?: unknown } | undefined;
    if (!answer.ok || typeof body?.id_token !== 'string') {
      const error = typeof body?.error === 'string' ? body.error : `HTTP ${answer.status}`;
      throw new SignInError(`the sign-in provider refused the code (${error.slice(0, 100)}); start the sign-in again`);
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(body.id_token, this.keySet(jwksUrl), {
        issuer: provider.issuer,
        audience: provider.clientId,
        clockTolerance: 30,
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (err) {
      throw new SignInError(`the sign-in provider's id_token was refused: ${(err as Error).message}`);
    }
    if (payload.nonce !== input.nonce) throw new SignInError('the id_token does not carry the nonce of this sign-in; start the sign-in again');
    const claim = payload[provider.principalClaim];
    if (typeof claim !== 'string' || claim === '') throw new SignInError(`the id_token has no ${provider.principalClaim} claim to name you by`);
    const principal = await this.auth.principalBySubject(claim);
    if (!principal) throw new SignInError(`no principal claims the subject ${claim}; ask an admin to add it to your principal's subjects`);
    return principal;
  }

  private keySet(jwksUrl: string): JWTVerifyGetKey {
    let keys = this.keySets.get(jwksUrl);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      this.keySets.set(jwksUrl, keys);
    }
    return keys;
  }
}

async function discover(provider: UiOidcProvider): Promise<Endpoints> {
  const url = `${provider.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let document: Record<string, unknown>;
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    document = (await answer.json()) as Record<string, unknown>;
  } catch (err) {
    throw new SignInError(`the sign-in provider's discovery document ${url} could not be read (${(err as Error).message})`);
  }
  if (document.issuer !== provider.issuer) {
    throw new SignInError(`the discovery document names issuer ${String(document.issuer)}, not the configured ${provider.issuer}`);
  }
  const pick = (configured: string | undefined, key: string): string => {
    const value = configured ?? document[key];
    if (typeof value !== 'string' || !/^https?:\/\//.test(value)) throw new SignInError(`the discovery document ${url} has no ${key}`);
    return value;
  };
  return {
    authorizationEndpoint: pick(provider.authorizationEndpoint, 'authorization_endpoint'),
    tokenEndpoint: pick(provider.tokenEndpoint, 'token_endpoint'),
    jwksUrl: pick(provider.jwksUrl, 'jwks_uri'),
  };
}
