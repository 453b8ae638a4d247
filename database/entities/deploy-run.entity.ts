import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The one deploy of a deployment: makes the deploy activity idempotent across retries. */
@Entity('deploy_runs')
export class DeployRunEntity {
  @PrimaryColumn({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  @Column({ type: 'text' })
  status!: 'running' | 'succeeded' | 'failed';

  @Column({ type: 'text' })
  digest!: string;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'text', nullable: true })
  output!: string | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
