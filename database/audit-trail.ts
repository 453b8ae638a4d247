// The append-only, hash-chained audit trail. Each event's hash covers the previous event's
// hash and the event itself, so removing, reordering or editing any event breaks every link
// after it; `verifyAuditChain` names the first broken one.

import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { AuditEventInput } from '../activities/types';
import { canonicalJson } from '../policy/canonical-json';
import { storableJson } from './storable';

export const GENESIS_HASH = '0'.repeat(64);

// Appends are serialised so that each event's prev_hash is the hash of the event before it.
const AUDIT_APPEND_LOCK = 7_270_002;

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
  const run = async (manager: EntityManager): Promise<number> => {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
    const present = new Set<string>(
      (
        (await manager.query('SELECT event_id FROM audit_events WHERE event_id = ANY($1)', [
          events.map((event) => event.eventId),
        ])) as Array<{ event_id: string }>
      ).map((row) => row.event_id),
    );
    const [last] = (await manager.query(
      'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
    )) as Array<{ seq: string; hash: string }>;
    let seq = last ? BigInt(last.seq) : 0n;
    let prevHash = last?.hash ?? GENESIS_HASH;
    let written = 0;
    for (const input of events) {
      if (present.has(input.eventId)) continue;
      present.add(input.eventId);
      const event = chained(input);
      const hash = eventHash(prevHash, event);
      seq += 1n;
      await manager.query(
        `INSERT INTO audit_events (seq, event_id, deployment_id, type, actor, at, outcome, reason, data, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [seq.toString(), event.eventId, event.deploymentId, event.type, event.actor, event.at,
          event.outcome, event.reason, JSON.stringify(event.data), prevHash, hash],
      );
      prevHash = hash;
      written += 1;
    }
    return written;
  };
  return db.transaction(run);
}

export interface AuditRow {
  seq: string;
  event_id: string;
  deployment_id: string | null;
  type: string;
  actor: string;
  at: Date;
  outcome: string | null;
  reason: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export function rowToEvent(row: AuditRow): ChainedEvent {
  return {
    eventId: row.event_id,
    deploymentId: row.deployment_id,
    type: row.type,
    actor: row.actor,
    at: new Date(row.at).toISOString(),
    outcome: row.outcome,
    reason: row.reason,
    data: row.data,
  };
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
    const rows = (await db.query(
      'SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2',
      [expectedSeq.toString(), pageSize],
    )) as AuditRow[];
    if (rows.length === 0) return { ok: true, events: count, head: prevHash };
    for (const row of rows) {
      const at = { seq: String(row.seq), eventId: row.event_id };
      if (BigInt(row.seq) !== expectedSeq) {
        return { ok: false, events: count, brokenAt: at, reason: `event ${expectedSeq} is missing before event ${row.seq}` };
      }
      if (row.prev_hash !== prevHash) {
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
