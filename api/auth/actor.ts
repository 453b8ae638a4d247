import { applyDecorators, createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiSecurity } from '@nestjs/swagger';
import type { Request } from 'express';
import type { Role, Scope } from '../../database/entities/principal.entity';
import { withSkeletons } from '../../policy/confusables';
import type { Person } from '../../policy/types';

/** Who is calling, as authentication established it. Never taken from a request body. */
export interface Actor {
  id: string;
  displayName: string;
  roles: Role[];
  groups: string[];
  identityKeys: string[];
  scopes: Scope[];
  via: 'token' | 'oidc' | 'git-webhook' | 'slack';
  tokenId?: string;
}

export function asPerson(actor: Actor): Person {
  // Skeletons too (stored ones may predate a newer confusables table): a look-alike author is this person.
  return { id: actor.id, identities: withSkeletons(actor.identityKeys), groups: actor.groups };
}

export const PUBLIC_ROUTE = 'countersign:public';
export const REQUIRED_ROLES = 'countersign:roles';

/** No authentication: health, readiness, metrics and the API documentation (and /docs says so). */
export const Public = () => applyDecorators(SetMetadata(PUBLIC_ROUTE, true), ApiSecurity({}));

/** The caller needs at least one of these roles. */
export const Roles = (...roles: Role[]) => SetMetadata(REQUIRED_ROLES, roles);

export interface AuthenticatedRequest extends Request {
  actor?: Actor;
  rawBody?: Buffer;
}

export const CurrentActor = createParamDecorator((_: unknown, context: ExecutionContext): Actor => {
  const actor = context.switchToHttp().getRequest<AuthenticatedRequest>().actor;
  if (!actor) throw new Error('CurrentActor used on a public route');
  return actor;
});
