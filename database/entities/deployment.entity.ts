import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { DeploymentRequest, DeploymentStatus, DeploymentView } from '../../policy/types';

/**
 * The listing index of deployments. The workflow is the source of truth while it runs; this
 * row follows it (newest version wins) and keeps the final state after its history is gone.
 */
@Entity('deployments')
@Index(['service', 'environment', 'status'])
export class DeploymentEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'workflow_id', type: 'text' })
  workflowId!: string;

  @Column({ type: 'text' })
  service!: string;

  @Column({ type: 'text' })
  environment!: string;

  @Column({ type: 'text' })
  status!: DeploymentStatus;

  @Column({ type: 'text' })
  tier!: string;

  @Column({ name: 'requested_by', type: 'text' })
  requestedBy!: string;

  @Column({ name: 'artifact_digest', type: 'text' })
  artifactDigest!: string;

  @Column({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'jsonb' })
  view!: DeploymentView;

  /**
   * Computed by PostgreSQL from `view` (generated, stored: see the migration
   * 1765000000000-deployment-listing-indexes), for the listing's indexes; never written here.
   */
  @Column({ type: 'boolean', generatedType: 'STORED', asExpression: `view ? 'override'`, insert: false, update: false })
  overridden!: boolean;

  /** Overridden, its review overdue and not yet given (generated from `view` as `overridden` is). */
  @Column({
    name: 'review_overdue',
    type: 'boolean',
    generatedType: 'STORED',
    asExpression: `COALESCE((view->'override'->>'reviewOverdue') = 'true' AND NOT (view->'override' ? 'review'), false)`,
    insert: false,
    update: false,
  })
  reviewOverdue!: boolean;

  /** The request exactly as the workflow received it, to restart it or explain it later. */
  @Column({ type: 'jsonb', nullable: true })
  request!: DeploymentRequest | null;
}
