import { Inject, Injectable, Logger } from '@nestjs/common';
import { ArrayContains, type DataSource } from 'typeorm';
import { PrincipalEntity } from '../../database/entities/principal.entity';
import { TokenEntity } from '../../database/entities/token.entity';
import { DATA_SOURCE } from '../tokens';
import type { Actor } from './actor';
import { hashSecret, sameHash } from './secrets';

export type Authentication = { ok: true; actor: Actor } | { ok: false; reason: string };

/** A token's `lastUsedAt` is kept to the minute: at most one write a minute for each token. */
export const LAST_USED_PRECISION_MS = 60_000;

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
  private readonly logger = new Logger('Auth');
  /** Tokens whose `lastUsedAt` is being written now: a burst of requests writes once. */
  private readonly touching = new Set<string>();

  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async authenticateToken(secret: string): Promise<Authentication> {
    const hash = hashSecret(secret);
    // One query, the token joined to its principal. Not `findOne`: with a relation and its
    // implicit LIMIT 1, TypeORM reads the ids first and the rows in a second query. The hash is
    // unique, so the join answers one row at most without a limit.
    const token = await this.db
      .getRepository(TokenEntity)
      .createQueryBuilder('token')
      .innerJoinAndSelect('token.principal', 'principal')
      .where('token.secretHash = :hash', { hash })
      .getOne();
    if (!token?.principal || !sameHash(hash, token.secretHash)) return { ok: false, reason: 'unknown token' };
    if (token.revokedAt) return { ok: false, reason: `token ${token.id} was revoked` };
    if (token.expiresAt && token.expiresAt.getTime() <= Date.now()) return { ok: false, reason: `token ${token.id} expired` };
    this.touch(token);
    return { ok: true, actor: actorOf(token.principal, 'token', token.id) };
  }

  /**
   * Records that the token was used, when its `lastUsedAt` is a minute old or more. Not awaited:
   * authentication never waits for it, and a lost write only leaves the time a little older.
   * The condition in the UPDATE keeps concurrent API processes to one write a minute too.
   */
  private touch(token: TokenEntity): void {
    if (token.lastUsedAt && Date.now() - token.lastUsedAt.getTime() < LAST_USED_PRECISION_MS) return;
    if (this.touching.has(token.id)) return;
    this.touching.add(token.id);
    this.db
      .getRepository(TokenEntity)
      .createQueryBuilder()
      .update()
      .set({ lastUsedAt: () => 'now()' })
      .where('id = :id', { id: token.id })
      .andWhere('(last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => :seconds))', { seconds: LAST_USED_PRECISION_MS / 1000 })
      .execute()
      .catch((err: unknown) => this.logger.warn(`could not record the use of token ${token.id}: ${(err as Error).message}`))
      .finally(() => this.touching.delete(token.id));
  }

  /** For OIDC: the principal that claims this subject. */
  async principalBySubject(subject: string): Promise<PrincipalEntity | undefined> {
    const principal = await this.db.getRepository(PrincipalEntity).findOne({
      where: { identityKeys: ArrayContains([`subject:${subject}`]) },
    });
    return principal ?? undefined;
  }
}
