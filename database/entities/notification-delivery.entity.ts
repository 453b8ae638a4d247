import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One message of one event on one channel (activities/notify): the row that makes its send
 * idempotent. A retry finds it `sent` and sends nothing; a channel that keeps failing ends
 * `failed`, visible here, in the audit trail and in /metrics.
 */
@Entity('notification_deliveries')
export class NotificationDeliveryEntity {
  /** `<deployment id>.<event>.<sequence>.<channel>`: also the email's Message-ID and the webhook's X-Countersign-Delivery. */
  @PrimaryColumn({ type: 'text' })
  key!: string;

  @Column({ name: 'deployment_id', type: 'text' })
  deploymentId!: string;

  @Column({ type: 'text' })
  event!: string;

  @Column({ type: 'integer' })
  sequence!: number;

  @Column({ type: 'text' })
  channel!: string;

  @Column({ name: 'channel_type', type: 'text' })
  channelType!: string;

  @Column({ type: 'text' })
  status!: 'sending' | 'sent' | 'failed' | 'skipped';

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  /** Principal ids the message went to (email), for the record. */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  recipients!: string[];

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** Where chat.postMessage put the message, so later events can update it (chat.update). */
  @Column({ name: 'slack_channel', type: 'text', nullable: true })
  slackChannel!: string | null;

  @Column({ name: 'slack_ts', type: 'text', nullable: true })
  slackTs!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
