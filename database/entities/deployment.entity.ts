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

  /** The request exactly as the workflow received it, to restart it or explain it later. */
  @Column({ type: 'jsonb', nullable: true })
  request!: DeploymentRequest | null;
}
