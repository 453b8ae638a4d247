import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One event of the append-only audit trail. `hash` chains each event to the one before it;
 * the database refuses UPDATE, DELETE and TRUNCATE on this table (see the migration).
 */
@Entity('audit_events')
export class AuditEventEntity {
  @PrimaryColumn({ type: 'bigint' })
  seq!: string;

  @Column({ name: 'event_id', type: 'text', unique: true })
  eventId!: string;

  @Column({ name: 'deployment_id', type: 'text', nullable: true })
  deploymentId!: string | null;

  @Column({ type: 'text' })
  type!: string;

  @Column({ type: 'text' })
  actor!: string;

  @Column({ type: 'timestamptz' })
  at!: Date;

  @Column({ type: 'text', nullable: true })
  outcome!: string | null;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ type: 'jsonb' })
  data!: Record<string, unknown>;

  @Column({ name: 'prev_hash', type: 'text' })
  prevHash!: string;

  @Column({ type: 'text' })
  hash!: string;
}
