import { Inject, Injectable } from '@nestjs/common';
import { ArrayOverlap, type DataSource, type EntityManager, In, QueryFailedError } from 'typeorm';
import { PrincipalIdentityEntity } from '../../database/entities/principal-identity.entity';
import { PrincipalEntity, type Role, type Scope } from '../../database/entities/principal.entity';
import { TokenEntity } from '../../database/entities/token.entity';
import { parseDuration } from '../../policy/duration';
import { principalIdentityKeys } from '../../policy/confusables';
import { hashSecret, newSecret, newTokenId } from '../auth/secrets';
import { conflict, invalid, notFound } from '../problem';
import { DATA_SOURCE } from '../tokens';

export interface PrincipalInput {
  id: string;
  displayName?: string;
  emails?: string[];
  logins?: string[];
  subjects?: string[];
  slack?: string[];
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
    slack: principal.slack ?? [],
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

type Identities = { emails?: string[]; logins?: string[]; subjects?: string[]; slack?: string[] };

const principalExists = (id: string) =>
  conflict('principal-exists', `principal ${id} already exists; PATCH /v1/principals/${id} to change it`, { principal: id });

/** Which of the caller's own identities a key stands for, in the words they used. */
function identityFor(key: string, identities: Identities): string {
  const kinds: Array<[keyof Identities, string]> = [['emails', 'email'], ['logins', 'login'], ['subjects', 'subject'], ['slack', 'Slack user']];
  for (const [field, kind] of kinds) {
    for (const identity of identities[field] ?? []) {
      if (principalIdentityKeys({ [field]: [identity] }).includes(key)) return `${kind} ${identity}`;
    }
  }
  return key;
}

/**
 * 409 naming each identity taken and the principal that holds it (only admins manage
 * principals, and they may read the directory). A skeleton key is a look-alike (UTS #39).
 */
function identityTaken(holders: Array<{ key: string; principalId: string }>, identities: Identities) {
  const parts = holders.map(({ key, principalId }) => {
    const identity = identityFor(key, identities);
    return key.startsWith('skeleton:')
      ? `${identity} looks like an identity of principal ${principalId} (Unicode confusables, UTS #39)`
      : `${identity} already belongs to principal ${principalId}`;
  });
  return conflict(
    'identity-taken',
    `${parts.join('; ')}. One identity names one person, or an author could approve as her second principal: ` +
      `remove it from this request, or PATCH /v1/principals/${holders[0].principalId} to take it from there first`,
    {
      identities: holders.map(({ key, principalId }) => ({ identity: identityFor(key, identities), key, principal: principalId })),
    },
  );
}

const raceLost = (id: string) =>
  conflict('identity-taken', `an identity of principal ${id} was claimed or released by another request at the same moment; GET /v1/principals and retry`);

/**
 * A unique violation that slipped past the insert-or-nothing paths (a retry, an older writer)
 * is still a conflict, never a 500.
 */
async function uniqueOr409<T>(id: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof QueryFailedError && (err.driverError as { code?: string })?.code === '23505') {
      const constraint = (err.driverError as { constraint?: string }).constraint ?? '';
      if (constraint === 'principals_pkey') throw principalExists(id);
      throw raceLost(id);
    }
    // Two edits that each take an identity the other gives up can deadlock; PostgreSQL ends one.
    if (err instanceof QueryFailedError && ['40P01', '40001'].includes((err.driverError as { code?: string })?.code ?? '')) {
      throw raceLost(id);
    }
    throw err;
  }
}

@Injectable()
export class PrincipalsService {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /**
   * One identity belongs to one person: otherwise "not the author" could be dodged. The database
   * decides, not a check before the write: `principal_identities.key` is a primary key, so of two
   * concurrent claims of one key exactly one commits (the other waits for it, then finds the key
   * taken). Replaces the principal's claims inside the caller's transaction.
   */
  private async claimIdentities(manager: EntityManager, principalId: string, keys: string[], identities: Identities): Promise<void> {
    // Give up what is no longer claimed; keep (never delete and re-insert) what still is.
    const release = manager.createQueryBuilder().delete().from(PrincipalIdentityEntity).where('principal_id = :principalId', { principalId });
    if (keys.length > 0) release.andWhere('key NOT IN (:...keys)', { keys });
    await release.execute();
    if (keys.length === 0) return;
    // One order for every writer, so that two claims wait for each other rather than deadlock.
    const sorted = [...keys].sort();
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(PrincipalIdentityEntity)
      .values(sorted.map((key) => ({ key, principalId })))
      .orIgnore()
      .returning(['key'])
      .execute();
    const claimed = new Set((inserted.raw as Array<{ key: string }>).map((row) => row.key));
    const conflicting = sorted.filter((key) => !claimed.has(key));
    if (conflicting.length === 0) return;
    const holders = await manager.find(PrincipalIdentityEntity, { where: { key: In(conflicting) }, order: { key: 'ASC' } });
    const others = holders.filter((holder) => holder.principalId !== principalId);
    if (others.length > 0) throw identityTaken(others, identities);
    // A key that was taken at the insert and is free now: the other writer just let it go.
    if (holders.length < conflicting.length) throw raceLost(principalId);
  }

  async create(input: PrincipalInput): Promise<{ principal: PrincipalEntity; token: string; tokenId: string }> {
    const identityKeys = principalIdentityKeys(input);
    return uniqueOr409(input.id, () =>
      this.db.transaction(async (manager) => {
        // Insert-or-nothing, not find-then-save: of concurrent creates of one id, one inserts and
        // the others (waiting on its row) find it there, whatever the timing.
        const inserted = await manager
          .createQueryBuilder()
          .insert()
          .into(PrincipalEntity)
          .values({
            id: input.id,
            displayName: input.displayName ?? input.id,
            emails: input.emails ?? [],
            logins: input.logins ?? [],
            subjects: input.subjects ?? [],
            slack: input.slack ?? [],
            identityKeys,
            roles: input.roles,
            groups: input.groups ?? [],
            scopes: scopesOf(input.scopes),
          })
          .orIgnore()
          .returning(['id'])
          .execute();
        if ((inserted.raw as unknown[]).length === 0) throw principalExists(input.id);
        await this.claimIdentities(manager, input.id, identityKeys, input);
        const principal = await manager.findOneByOrFail(PrincipalEntity, { id: input.id });
        const { token, tokenId } = await this.issueToken(manager.connection, input.id, undefined, manager);
        return { principal, token, tokenId };
      }),
    );
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
    await uniqueOr409(id, () =>
      this.db.transaction(async (manager) => {
        // The row lock serialises edits of one principal; the identities table, edits of two.
        const principal = await manager.findOne(PrincipalEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
        if (!principal) throw notFound(`no principal ${id}; GET /v1/principals lists them`);
        const next = {
          displayName: patch.displayName ?? principal.displayName,
          emails: patch.emails ?? principal.emails,
          logins: patch.logins ?? principal.logins,
          subjects: patch.subjects ?? principal.subjects,
          slack: patch.slack ?? principal.slack ?? [],
          roles: patch.roles ?? principal.roles,
          groups: patch.groups ?? principal.groups,
          scopes: patch.scopes ? scopesOf(patch.scopes) : principal.scopes,
        };
        const identityKeys = principalIdentityKeys(next);
        await this.claimIdentities(manager, id, identityKeys, next);
        await manager.update(PrincipalEntity, { id }, { ...next, identityKeys });
      }),
    );
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
    // Revoking twice keeps the first time.
    const result = await this.db
      .getRepository(TokenEntity)
      .createQueryBuilder()
      .update()
      .set({ revokedAt: () => 'COALESCE(revoked_at, now())' })
      .where({ id: tokenId, principalId })
      .execute();
    if (result.affected === 0) {
      throw notFound(`principal ${principalId} has no token ${tokenId}; GET /v1/principals/${principalId}/tokens lists them`);
    }
  }

  /** The bootstrap admin: its token is whatever COUNTERSIGN_ADMIN_TOKEN (or start-up) says now. */
  async ensureBootstrapAdmin(secret: string): Promise<void> {
    await this.db.transaction(async (manager) => {
      await manager.createQueryBuilder().insert().into(PrincipalEntity)
        .values({ id: 'admin', displayName: 'Bootstrap admin', roles: ['admin'] })
        .orIgnore()
        .execute();
      await manager.delete(TokenEntity, { id: 'tok_bootstrap' });
      // The same secret already on another token: that token stands (the secret is the key).
      await manager.createQueryBuilder().insert().into(TokenEntity)
        .values({ id: 'tok_bootstrap', principalId: 'admin', secretHash: hashSecret(secret) })
        .orIgnore()
        .execute();
    });
  }

  async findByIdentityKeys(keys: string[]): Promise<PrincipalEntity[]> {
    if (keys.length === 0) return [];
    return this.db.getRepository(PrincipalEntity).find({ where: { identityKeys: ArrayOverlap(keys) }, order: { id: 'ASC' } });
  }
}
