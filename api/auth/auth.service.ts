import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { PrincipalEntity } from '../../database/entities/principal.entity';
import { DATA_SOURCE } from '../tokens';
import type { Actor } from './actor';
import { hashSecret, sameHash } from './secrets';

export type Authentication = { ok: true; actor: Actor } | { ok: false; reason: string };

export function actorOf(principal: PrincipalEntity, via: Actor['via'], tokenId?: string): Actor {
  return {
    id: principal.id,
    displayName: principal.displayName,
    roles: principal.roles,
    groups: principal.groups,
    identityKeys: principal.identityKeys,
    scopes: principal.scopes,
    via,
    tokenId,
  };
}

@Injectable()
export class AuthService {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async authenticateToken(secret: string): Promise<Authentication> {
    const hash = hashSecret(secret);
    const [row] = (await this.db.query(
      `SELECT t.id AS token_id, t.secret_hash, t.expires_at, t.revoked_at, p.*
         FROM tokens t JOIN principals p ON p.id = t.principal_id
        WHERE t.secret_hash = $1`,
      [hash],
    )) as Array<Record<string, unknown>>;
    if (!row || !sameHash(hash, row.secret_hash as string)) return { ok: false, reason: 'unknown token' };
    if (row.revoked_at) return { ok: false, reason: `token ${row.token_id} was revoked` };
    if (row.expires_at && new Date(row.expires_at as string).getTime() <= Date.now()) {
      return { ok: false, reason: `token ${row.token_id} expired` };
    }
    return { ok: true, actor: actorOf(rowToPrincipal(row), 'token', row.token_id as string) };
  }

  /** For OIDC: the principal that claims this subject. */
  async principalBySubject(subject: string): Promise<PrincipalEntity | undefined> {
    const [row] = (await this.db.query(`SELECT * FROM principals WHERE identity_keys @> ARRAY[$1]::text[]`, [
      `subject:${subject}`,
    ])) as Array<Record<string, unknown>>;
    return row ? rowToPrincipal(row) : undefined;
  }
}

export function rowToPrincipal(row: Record<string, unknown>): PrincipalEntity {
  return {
    id: row.id,
    displayName: row.display_name,
    emails: row.emails,
    logins: row.logins,
    subjects: row.subjects,
    identityKeys: row.identity_keys,
    roles: row.roles,
    groups: row.groups,
    scopes: row.scopes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  } as PrincipalEntity;
}
