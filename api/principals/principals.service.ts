import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { PrincipalEntity, type Role, type Scope } from '../../database/entities/principal.entity';
import { TokenEntity } from '../../database/entities/token.entity';
import { parseDuration } from '../../policy/duration';
import { principalKeys } from '../../policy/identity';
import { rowToPrincipal } from '../auth/auth.service';
import { hashSecret, newSecret, newTokenId } from '../auth/secrets';
import { conflict, invalid, notFound } from '../problem';
import { DATA_SOURCE } from '../tokens';

export interface PrincipalInput {
  id: string;
  displayName?: string;
  emails?: string[];
  logins?: string[];
  subjects?: string[];
  roles: Role[];
  groups?: string[];
  scopes?: Array<Partial<Scope>>;
}

export type PrincipalPatch = Partial<Omit<PrincipalInput, 'id'>>;

export function principalView(principal: PrincipalEntity) {
  return {
    id: principal.id,
    displayName: principal.displayName,
    emails: principal.emails,
    logins: principal.logins,
    subjects: principal.subjects,
    roles: principal.roles,
    groups: principal.groups,
    scopes: principal.scopes,
    createdAt: new Date(principal.createdAt).toISOString(),
    updatedAt: new Date(principal.updatedAt).toISOString(),
  };
}

function tokenView(token: TokenEntity) {
  const now = Date.now();
  return {
    id: token.id,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    active: !token.revokedAt && (!token.expiresAt || token.expiresAt.getTime() > now),
  };
}

const scopesOf = (scopes?: Array<Partial<Scope>>): Scope[] =>
  (scopes ?? []).map((scope) => ({ service: scope.service ?? '*', environment: scope.environment ?? '*' }));

@Injectable()
export class PrincipalsService {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /** One identity belongs to one person: otherwise "not the author" could be dodged. */
  private async assertIdentitiesFree(keys: string[], exceptId?: string, manager = this.db.manager): Promise<void> {
    if (keys.length === 0) return;
    const rows = (await manager.query(
      `SELECT id, identity_keys FROM principals WHERE identity_keys && $1::text[] AND id <> $2`,
      [keys, exceptId ?? ''],
    )) as Array<{ id: string; identity_keys: string[] }>;
    if (rows.length > 0) {
      const taken = rows[0].identity_keys.filter((key) => keys.includes(key));
      throw conflict('identity-taken', `${taken.join(', ')} already belongs to principal ${rows[0].id}; one identity names one person`);
    }
  }

  async create(input: PrincipalInput): Promise<{ principal: PrincipalEntity; token: string; tokenId: string }> {
    const identityKeys = principalKeys(input);
    return this.db.transaction(async (manager) => {
      if (await manager.findOne(PrincipalEntity, { where: { id: input.id } })) {
        throw conflict('principal-exists', `principal ${input.id} already exists; PATCH /v1/principals/${input.id} to change it`);
      }
      await this.assertIdentitiesFree(identityKeys, undefined, manager);
      const principal = manager.create(PrincipalEntity, {
        id: input.id,
        displayName: input.displayName ?? input.id,
        emails: input.emails ?? [],
        logins: input.logins ?? [],
        subjects: input.subjects ?? [],
        identityKeys,
        roles: input.roles,
        groups: input.groups ?? [],
        scopes: scopesOf(input.scopes),
      });
      await manager.save(principal);
      const { token, tokenId } = await this.issueToken(manager.connection, input.id, undefined, manager);
      return { principal, token, tokenId };
    });
  }

  async list(): Promise<PrincipalEntity[]> {
    return this.db.getRepository(PrincipalEntity).find({ order: { id: 'ASC' } });
  }

  async get(id: string): Promise<PrincipalEntity> {
    const principal = await this.db.getRepository(PrincipalEntity).findOne({ where: { id } });
    if (!principal) throw notFound(`no principal ${id}; GET /v1/principals lists them`);
    return principal;
  }

  async update(id: string, patch: PrincipalPatch): Promise<PrincipalEntity> {
    const principal = await this.get(id);
    const next = {
      displayName: patch.displayName ?? principal.displayName,
      emails: patch.emails ?? principal.emails,
      logins: patch.logins ?? principal.logins,
      subjects: patch.subjects ?? principal.subjects,
      roles: patch.roles ?? principal.roles,
      groups: patch.groups ?? principal.groups,
      scopes: patch.scopes ? scopesOf(patch.scopes) : principal.scopes,
    };
    const identityKeys = principalKeys(next);
    await this.assertIdentitiesFree(identityKeys, id);
    await this.db.getRepository(PrincipalEntity).update({ id }, { ...next, identityKeys });
    return this.get(id);
  }

  async issueToken(
    db: DataSource,
    principalId: string,
    expiresIn?: string,
    manager = db.manager,
  ): Promise<{ token: string; tokenId: string; expiresAt: Date | null }> {
    let expiresAt: Date | null = null;
    if (expiresIn !== undefined) {
      const ms = parseDuration(expiresIn);
      if (!ms) throw invalid(`expiresIn must be a duration such as 30s, 15m, 24h or 30d, got ${JSON.stringify(expiresIn)}`);
      expiresAt = new Date(Date.now() + ms);
    }
    const token = newSecret();
    const tokenId = newTokenId();
    await manager.insert(TokenEntity, { id: tokenId, principalId, secretHash: hashSecret(token), expiresAt, revokedAt: null, lastUsedAt: null });
    return { token, tokenId, expiresAt };
  }

  async createToken(principalId: string, expiresIn?: string) {
    await this.get(principalId);
    return this.issueToken(this.db, principalId, expiresIn);
  }

  async listTokens(principalId: string) {
    await this.get(principalId);
    const tokens = await this.db.getRepository(TokenEntity).find({ where: { principalId }, order: { createdAt: 'ASC' } });
    return tokens.map(tokenView);
  }

  async revokeToken(principalId: string, tokenId: string): Promise<void> {
    const result = await this.db.query(
      `UPDATE tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND principal_id = $2`,
      [tokenId, principalId],
    );
    if ((result as [unknown, number])[1] === 0) {
      throw notFound(`principal ${principalId} has no token ${tokenId}; GET /v1/principals/${principalId}/tokens lists them`);
    }
  }

  /** The bootstrap admin: its token is whatever COUNTERSIGN_ADMIN_TOKEN (or start-up) says now. */
  async ensureBootstrapAdmin(secret: string): Promise<void> {
    await this.db.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO principals (id, display_name, roles) VALUES ('admin', 'Bootstrap admin', '{admin}')
         ON CONFLICT (id) DO NOTHING`,
      );
      await manager.query(`DELETE FROM tokens WHERE id = 'tok_bootstrap'`);
      await manager.query(
        `INSERT INTO tokens (id, principal_id, secret_hash) VALUES ('tok_bootstrap', 'admin', $1)
         ON CONFLICT (secret_hash) DO NOTHING`,
        [hashSecret(secret)],
      );
    });
  }

  async findByIdentityKeys(keys: string[]): Promise<PrincipalEntity[]> {
    if (keys.length === 0) return [];
    const rows = (await this.db.query(`SELECT * FROM principals WHERE identity_keys && $1::text[]`, [keys])) as Array<Record<string, unknown>>;
    return rows.map(rowToPrincipal);
  }
}
