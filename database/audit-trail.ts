// The append-only, hash-chained audit trail. Each event's hash covers the previous event's
// hash and the event itself, so removing, reordering or editing any event breaks every link
// after it; `verifyAuditChain` names the first broken one.

import { createHash } from 'node:crypto';
import { And, type DataSource, type EntityManager, type FindOptionsWhere, LessThan, MoreThan, MoreThanOrEqual } from 'typeorm';
import type { AuditEventInput } from '../activities/types';
import { canonicalJson } from '../policy/canonical-json';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AuditEventEntity } from './entities/audit-event.entity';
import { storableJson } from './storable';

export const GENESIS_HASH = '0'.repeat(64);

// Appends are serialised so that each event's prev_hash is the hash of the event before it.
const AUDIT_APPEND_LOCK = 7_270_002;
/** Rows per INSERT statement (ten parameters each). */
const INSERT_ROWS = 500;

export interface ChainedEvent {
  eventId: string;
  deploymentId: string | null;
  type: string;
  actor: string;
  at: string;
  outcome: string | null;
  reason: string | null;
  data: Record<string, unknown>;
}

export function eventHash(prevHash: string, event: ChainedEvent): string {
  return createHash('sha256').update(`${prevHash}\n${canonicalJson(event)}`).digest('hex');
}

/**
 * The event as it is hashed and stored. A character PostgreSQL cannot store (NUL, a lone
 * surrogate) is replaced with U+FFFD, an unreadable time with the time of writing, and the
 * event names where (`data.unstorableReplaced`):
 * the record of what happened is kept, never lost to a write that can only fail.
 */
export function chained(event: AuditEventInput): ChainedEvent {
  const at = new Date(event.at);
  // What jsonb gives back is what gets hashed: drop undefined, keep plain JSON.
  const { value, replaced } = storableJson({
    eventId: event.eventId,
    deploymentId: event.deploymentId || null,
    type: event.type,
    actor: event.actor,
    at: Number.isNaN(at.getTime()) ? new Date().toISOString() : at.toISOString(),
    outcome: event.outcome ?? null,
    reason: event.reason ?? null,
    data: (event.data ?? {}) as Record<string, unknown>,
  } satisfies ChainedEvent);
  if (Number.isNaN(at.getTime())) replaced.push('at');
  if (replaced.length > 0) value.data = { ...value.data, unstorableReplaced: replaced };
  return value;
}

/** Appends events in order; an event whose id is already in the trail is skipped (retries). */
export async function appendAuditEvents(
  db: DataSource,
  events: readonly AuditEventInput[],
): Promise<number> {
  if (events.length === 0) return 0;
  return db.transaction((manager) => appendAuditEventsIn(manager, events));
}

/**
 * `appendAuditEvents` inside the caller's transaction (the worker writes the index row in the
 * same one). The chain's lock is held until that transaction ends, so take it last.
 */
export async function appendAuditEventsIn(manager: EntityManager, events: readonly AuditEventInput[]): Promise<number> {
  if (events.length === 0) return 0;
  // A transaction-scoped advisory lock: TypeORM has no expression for one, so this stays SQL.
  // It serialises appends, so each event's prev_hash is the hash of the one before it.
  await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
  const trail = manager.getRepository(AuditEventEntity);
  // The events already written (a retried write) and the chain's last link, in one round trip:
  // the lock above is held until the commit, so every one of them counts. (TypeORM's builder
  // cannot put the two in one statement.)
  const [{ present: written, seq: lastSeq, hash: lastHash }]: Array<{ present: string[]; seq: string | null; hash: string | null }> =
    await manager.query(
      `SELECT ARRAY(SELECT event_id FROM audit_events WHERE event_id = ANY($1::text[])) AS present, last.seq, last.hash
       FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS last ON true`,
      [events.map((event) => event.eventId)],
    );
  const present = new Set<string>(written);
  let seq = lastSeq === null ? 0n : BigInt(lastSeq);
  let prevHash = lastHash ?? GENESIS_HASH;
  const rows: Array<QueryDeepPartialEntity<AuditEventEntity>> = [];
  for (const input of events) {
    if (present.has(input.eventId)) continue;
    present.add(input.eventId);
    const event = chained(input);
    const hash = eventHash(prevHash, event);
    seq += 1n;
    rows.push({ seq: seq.toString(), ...event, at: new Date(event.at), data: event.data as QueryDeepPartialEntity<Record<string, unknown>>, prevHash, hash });
    prevHash = hash;
  }
  // Few statements for a batch, so the chain's lock is held briefly (each within PostgreSQL's
  // limit of parameters per statement).
  for (let from = 0; from < rows.length; from += INSERT_ROWS) await trail.insert(rows.slice(from, from + INSERT_ROWS));
  return rows.length;
}

export function rowToEvent(row: AuditEventEntity): ChainedEvent {
  return {
    eventId: row.eventId,
    deploymentId: row.deploymentId,
    type: row.type,
    actor: row.actor,
    at: new Date(row.at).toISOString(),
    outcome: row.outcome,
    reason: row.reason,
    data: row.data,
  };
}

export interface AuditFilter {
  deploymentId?: string;
  actor?: string;
  type?: string;
  /** From this time (inclusive) to `until` (exclusive). */
  since?: Date;
  until?: Date;
  /** Events after this seq, in chain order. */
  after?: string;
  limit: number;
}

/** A page of the trail in chain order, and the `after` of the next page when there is one. */
export async function listAuditEvents(db: DataSource, filter: AuditFilter): Promise<{ events: AuditEventEntity[]; next: string | null }> {
  const where: FindOptionsWhere<AuditEventEntity> = {};
  if (filter.deploymentId) where.deploymentId = filter.deploymentId;
  if (filter.actor) where.actor = filter.actor;
  if (filter.type) where.type = filter.type;
  if (filter.since && filter.until) where.at = And(MoreThanOrEqual(filter.since), LessThan(filter.until));
  else if (filter.since) where.at = MoreThanOrEqual(filter.since);
  else if (filter.until) where.at = LessThan(filter.until);
  if (filter.after !== undefined) where.seq = MoreThan(filter.after);
  const rows = await db.getRepository(AuditEventEntity).find({ where, order: { seq: 'ASC' }, take: filter.limit + 1 });
  const page = rows.slice(0, filter.limit);
  return { events: page, next: rows.length > filter.limit ? String(page[page.length - 1].seq) : null };
}

export type ChainVerdict =
  | { ok: true; events: number; head: string }
  | { ok: false; events: number; brokenAt: { seq: string; eventId: string }; reason: string };

/** Walks the whole chain in order, a page at a time. */
export async function verifyAuditChain(db: DataSource, pageSize = 1000): Promise<ChainVerdict> {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1n;
  let count = 0;
  for (;;) {
    const rows = await db.getRepository(AuditEventEntity).find({
      where: { seq: MoreThanOrEqual(expectedSeq.toString()) },
      order: { seq: 'ASC' },
      take: pageSize,
    });
    if (rows.length === 0) return { ok: true, events: count, head: prevHash };
    for (const row of rows) {
      const at = { seq: String(row.seq), eventId: row.eventId };
      if (BigInt(row.seq) !== expectedSeq) {
        return { ok: false, events: count, brokenAt: at, reason: `event ${expectedSeq} is missing before event ${row.seq}` };
      }
      if (row.prevHash !== prevHash) {
        return { ok: false, events: count, brokenAt: at, reason: `prev_hash does not match the hash of event ${expectedSeq - 1n}` };
      }
      if (eventHash(prevHash, rowToEvent(row)) !== row.hash) {
        return { ok: false, events: count, brokenAt: at, reason: 'the event was altered: its content no longer matches its hash' };
      }
      prevHash = row.hash;
      expectedSeq += 1n;
      count += 1;
    }
  }
}
