// The approver page's sessions: server-side, in PostgreSQL (ui_sessions). The browser holds a
// random id in an HttpOnly cookie; the table keeps only its SHA-256. A session is bound to its
// principal, read afresh on every request (roles and groups as they are now), and to the token
// it was opened with, if any (revoked or expired, the session ends). It ends when unused for
// `auth.ui.sessionIdle`, at `auth.ui.sessionMaxAge` after sign-in whatever the use, and at
// sign-out. Every sign-in opens a new session with a new id: an id planted in a browser before
// sign-in (session fixation) is never the one that gets signed in.
//
// CSRF: every form carries a synchronizer token derived from the session id (HMAC-SHA256 keyed
// by the id), so only a page that was served to this session can post; the sign-in form, before
// any session, is bound the same way to a random pre-sign-in cookie.

import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { Brackets, type DataSource, LessThanOrEqual } from 'typeorm';
import { UiSessionEntity, UiSignInEntity } from '../../database/entities/ui-session.entity';
import type { UiSettings } from '../../policy/config';
import type { PolicyHolder } from '../../settings/policy-file';
import type { Actor } from '../auth/actor';
import { actorOf } from '../auth/auth.service';
import { hashSecret } from '../auth/secrets';
import { DATA_SOURCE, POLICY } from '../tokens';

export const SESSION_COOKIE = 'countersign_session';
export const SIGN_IN_COOKIE = 'countersign_sign_in';
export const OIDC_STATE_COOKIE = 'countersign_oidc';
/** Cookies are sent to the page's paths only, never to /v1 (which takes bearer tokens). */
export const COOKIE_PATH = '/ui';

/** An OIDC sign-in must come back from the provider within this. */
export const SIGN_IN_TTL_MS = 10 * 60_000;

const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export type Resumed = { ok: true; actor: Actor; id: string; via: string; expiresAt: Date } | { ok: false; reason: string };

export function newOpaqueId(): string {
  return randomBytes(32).toString('base64url');
}

/** The form token of a session (or of a pre-sign-in cookie): HMAC-SHA256 keyed by its secret id. */
export function csrfTokenFor(secretId: string): string {
  return createHmac('sha256', secretId).update('countersign-ui-csrf-v1').digest('base64url');
}

export function csrfMatches(secretId: string | undefined, given: unknown): boolean {
  if (!secretId || typeof given !== 'string' || given.length === 0) return false;
  const expected = Buffer.from(csrfTokenFor(secretId));
  const sent = Buffer.from(given);
  return expected.length === sent.length && timingSafeEqual(expected, sent);
}

/** IPv4 peers as IPv4 ("::ffff:127.0.0.1" is 127.0.0.1). */
function peerAddress(req: Request): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * Whether the browser reached us over TLS: our own TLS socket, or a trusted proxy
 * (`auth.ui.trustedProxies`, by peer address) that says so in X-Forwarded-Proto. Anyone else's
 * X-Forwarded-Proto is ignored.
 */
export function cameOverTls(req: Request, settings: UiSettings): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  if (!settings.trustedProxies.includes(peerAddress(req))) return false;
  const forwarded = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}

/** Reads a cookie by name from the Cookie header; a cookie sent twice counts as not sent. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  const found = header.split(';').map((part) => part.trim()).filter((part) => part.startsWith(`${name}=`));
  if (found.length !== 1) return undefined;
  const value = found[0].slice(name.length + 1);
  return ID_SHAPE.test(value) ? value : undefined;
}

@Injectable()
export class UiSessions {
  private readonly logger = new Logger('UiSessions');

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(POLICY) private readonly policy: PolicyHolder,
  ) {}

  settings(): UiSettings {
    return this.policy.current().ui;
  }

  /** Sets a cookie of the page: HttpOnly, SameSite=Lax, Path=/ui, Secure when the browser used TLS. */
  setCookie(req: Request, res: Response, name: string, value: string, maxAgeMs: number): void {
    res.cookie(name, value, { httpOnly: true, sameSite: 'lax', secure: cameOverTls(req, this.settings()), path: COOKIE_PATH, maxAge: maxAgeMs });
  }

  clearCookie(req: Request, res: Response, name: string): void {
    res.clearCookie(name, { httpOnly: true, sameSite: 'lax', secure: cameOverTls(req, this.settings()), path: COOKIE_PATH });
  }

  /** A new session for the principal, with a new id; returns the id (the cookie's value). */
  async open(principalId: string, via: 'token' | 'oidc', tokenId?: string): Promise<{ id: string; maxAgeMs: number }> {
    const { sessionMaxAgeMs } = this.settings();
    const id = newOpaqueId();
    const now = new Date();
    await this.db.getRepository(UiSessionEntity).insert({
      idHash: hashSecret(id),
      principalId,
      tokenId: tokenId ?? null,
      via,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: new Date(now.getTime() + sessionMaxAgeMs),
    });
    this.sweep().catch((err: unknown) => this.logger.warn(`could not remove ended sessions: ${(err as Error).message}`));
    return { id, maxAgeMs: sessionMaxAgeMs };
  }

  /** The session's principal as it is now, or why there is none (the session is then deleted). */
  async resume(id: string | undefined): Promise<Resumed> {
    if (!id) return { ok: false, reason: 'not signed in' };
    const idHash = hashSecret(id);
    const row = await this.db
      .getRepository(UiSessionEntity)
      .createQueryBuilder('session')
      .innerJoinAndSelect('session.principal', 'principal')
      .leftJoinAndSelect('session.token', 'token')
      .where('session.idHash = :idHash', { idHash })
      .getOne();
    if (!row?.principal) return { ok: false, reason: 'your session has ended or was never valid' };
    const now = Date.now();
    const { sessionIdleMs } = this.settings();
    let ended: string | undefined;
    if (row.expiresAt.getTime() <= now) ended = 'your session reached its maximum age';
    else if (row.lastSeenAt.getTime() + sessionIdleMs <= now) ended = 'your session ended after a time without use';
    else if (row.token?.revokedAt) ended = 'the token you signed in with was revoked';
    else if (row.token?.expiresAt && row.token.expiresAt.getTime() <= now) ended = 'the token you signed in with expired';
    if (ended) {
      await this.db.getRepository(UiSessionEntity).delete({ idHash });
      return { ok: false, reason: ended };
    }
    // Seen now, to a precision well inside the idle time: at most one write a minute per session.
    if (now - row.lastSeenAt.getTime() >= Math.min(60_000, sessionIdleMs / 4)) {
      await this.db.getRepository(UiSessionEntity).update({ idHash }, { lastSeenAt: new Date(now) });
    }
    return { ok: true, actor: actorOf(row.principal, row.via === 'oidc' ? 'oidc' : 'token', row.tokenId ?? undefined), id, via: row.via, expiresAt: row.expiresAt };
  }

  async close(id: string | undefined): Promise<void> {
    if (id) await this.db.getRepository(UiSessionEntity).delete({ idHash: hashSecret(id) });
  }

  /** Sessions past their maximum age or idle time, and OIDC sign-ins never completed. */
  private async sweep(): Promise<void> {
    const now = new Date();
    const idleSince = new Date(now.getTime() - this.settings().sessionIdleMs);
    await this.db
      .getRepository(UiSessionEntity)
      .createQueryBuilder()
      .delete()
      .where(new Brackets((where) => where.where('expires_at <= :now', { now }).orWhere('last_seen_at <= :idleSince', { idleSince })))
      .execute();
    await this.db.getRepository(UiSignInEntity).delete({ expiresAt: LessThanOrEqual(now) });
  }

  /** Keeps an OIDC sign-in until its callback; `state` is the key (kept hashed). */
  async beginSignIn(state: string, codeVerifier: string, nonce: string): Promise<void> {
    const now = new Date();
    // Sign-ins never completed are dropped as new ones start: the table stays minutes deep.
    await this.db.getRepository(UiSignInEntity).delete({ expiresAt: LessThanOrEqual(now) });
    await this.db.getRepository(UiSignInEntity).insert({
      stateHash: hashSecret(state),
      codeVerifier,
      nonce,
      createdAt: now,
      expiresAt: new Date(now.getTime() + SIGN_IN_TTL_MS),
    });
  }

  /** Takes an OIDC sign-in back, once: a second callback with the same state finds nothing. */
  async takeSignIn(state: string): Promise<{ codeVerifier: string; nonce: string } | undefined> {
    const result = await this.db
      .getRepository(UiSignInEntity)
      .createQueryBuilder()
      .delete()
      .where('state_hash = :stateHash', { stateHash: hashSecret(state) })
      .returning('*')
      .execute();
    const row = (result.raw as Array<{ code_verifier: string; nonce: string; expires_at: Date }>)[0];
    if (!row || new Date(row.expires_at).getTime() <= Date.now()) return undefined;
    return { codeVerifier: row.code_verifier, nonce: row.nonce };
  }
}
