import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The deploy of a deployment, across its runs: makes the deploy activity idempotent across retries. */
@Entity('deploy_runs')
export class DeployRunEntity {
  @PrimaryColumn({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  @Column({ type: 'text' })
  status!: 'running' | 'succeeded' | 'failed';

  @Column({ type: 'text' })
  digest!: string;

  /** Runs started: the attempt number the deployer receives. */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  /** Runs the deployer itself failed; at three the deployment ends FAILED. */
  @Column({ type: 'integer', default: 0 })
  failures!: number;

  /** The run recorded as succeeded; no run starts after it. */
  @Column({ name: 'succeeded_attempt', type: 'integer', nullable: true })
  succeededAttempt!: number | null;

  @Column({ type: 'text', nullable: true })
  output!: string | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
