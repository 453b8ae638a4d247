// OIDC bearer JWTs from configured issuers (a CI system's workload identity, or SSO users),
// accepted beside stored tokens. The claim the issuer's configuration names is matched against
// the principals' `subjects`.

import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { OidcIssuer } from '../../policy/config';
import type { PolicyHolder } from '../../settings/policy-file';
import { POLICY } from '../tokens';
import { actorOf, AuthService, type Authentication } from './auth.service';

// The signature may be empty: an unsigned JWT (alg none) is still a JWT, refused for that reason.
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

@Injectable()
export class OidcAuthenticator {
  private readonly keySets = new Map<string, JWTVerifyGetKey>();

  constructor(
    @Inject(POLICY) private readonly policy: PolicyHolder,
    private readonly auth: AuthService,
  ) {}

  looksLikeJwt(token: string): boolean {
    return JWT_SHAPE.test(token);
  }

  private keySet(issuer: OidcIssuer): JWTVerifyGetKey {
    let keys = this.keySets.get(issuer.jwksUrl);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(issuer.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      this.keySets.set(issuer.jwksUrl, keys);
    }
    return keys;
  }

  async authenticate(token: string): Promise<Authentication> {
    let claimedIssuer: string | undefined;
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
      claimedIssuer = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'malformed JWT' };
    }
    if (!alg || alg.toLowerCase() === 'none') {
      return { ok: false, reason: `JWT is unsigned (alg ${JSON.stringify(alg ?? null)}); only signed JWTs are accepted` };
    }
    const issuer = this.policy.current().oidc.find((entry) => entry.issuer === claimedIssuer);
    if (!issuer) return { ok: false, reason: `JWT issuer ${claimedIssuer ?? '(none)'} is not configured under auth.oidc` };
    let claim: unknown;
    try {
      // Signature, issuer, audience, expiry and not-before, with a small allowance for clock skew.
      const { payload } = await jwtVerify(token, this.keySet(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        clockTolerance: 30,
        requiredClaims: ['exp'],
      });
      claim = payload[issuer.principalClaim];
    } catch (err) {
      return { ok: false, reason: `JWT from ${issuer.issuer} refused: ${(err as Error).message}` };
    }
    if (typeof claim !== 'string' || claim === '') {
      return { ok: false, reason: `JWT has no ${issuer.principalClaim} claim to name its principal` };
    }
    const principal = await this.auth.principalBySubject(claim);
    if (!principal) return { ok: false, reason: `no principal claims subject ${claim}` };
    return { ok: true, actor: actorOf(principal, 'oidc') };
  }
}
