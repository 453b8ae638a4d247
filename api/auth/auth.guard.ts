import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuditService } from '../audit/audit.service';
import { Problem } from '../problem';
import { type AuthenticatedRequest, PUBLIC_ROUTE, REQUIRED_ROLES } from './actor';
import { AuthService, type Authentication } from './auth.service';
import { OidcAuthenticator } from './oidc';
import { AuthFailures } from './rate-limit';
import type { Role } from '../../database/entities/principal.entity';

const unauthorized = (detail: string) =>
  new Problem(401, 'unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="countersign"' });

/** Every route needs a bearer token (or OIDC JWT) unless marked @Public(); roles per route. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    private readonly oidc: OidcAuthenticator,
    private readonly audit: AuditService,
    private readonly failures: AuthFailures,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';

    this.failures.assertMayTry(client, 'token');

    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    let result: Authentication;
    if (!header) result = { ok: false, reason: 'no Authorization header' };
    else if (!match) result = { ok: false, reason: 'Authorization header is not "Bearer <token>"' };
    else if (this.oidc.looksLikeJwt(match[1])) result = await this.oidc.authenticate(match[1]);
    else result = await this.auth.authenticateToken(match[1]);

    if (!result.ok) {
      this.failures.record(client);
      // The presented secret is never stored: only that it failed, and why.
      await this.audit.record({
        type: 'auth.refused',
        actor: `client:${client}`,
        outcome: 'refused',
        reason: result.reason,
        data: { method: req.method, path: req.path },
      });
      throw unauthorized(
        header
          ? `authentication failed: ${result.reason}; send a valid token as "Authorization: Bearer <token>"`
          : 'this route needs "Authorization: Bearer <token>"; ask an admin for a token',
      );
    }

    req.actor = result.actor;
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets);
    if (roles && !roles.some((role) => result.actor.roles.includes(role))) {
      await this.audit.record({
        type: 'authz.refused',
        actor: result.actor.id,
        outcome: 'refused',
        reason: `needs role ${roles.join(' or ')}`,
        data: { method: req.method, path: req.path },
      });
      throw new Problem(403, 'missing-role',
        `${result.actor.id} has role${result.actor.roles.length === 1 ? '' : 's'} ${result.actor.roles.join(', ') || 'none'}; ` +
          `this route needs ${roles.join(' or ')}. Ask an admin to grant it.`);
    }
    return true;
  }
}
