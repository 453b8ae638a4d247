import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Evidence as a git tag named it: the exact bytes, kept append-only (see the migration). */
@Entity('evidence_records')
export class EvidenceRecordEntity {
  /** Hex sha256 of `document`. */
  @PrimaryColumn({ type: 'text' })
  sha256!: string;

  @Column({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  /** The DSSE envelope's JSON, byte for byte as it was hashed. */
  @Column({ type: 'text' })
  document!: string;

  /** Why it was kept, e.g. `git tag deploy/production/<id>`. */
  @Column({ name: 'recorded_for', type: 'text' })
  recordedFor!: string;

  @Column({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt!: Date;
}
