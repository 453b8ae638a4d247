import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notifications (issue 11): `notification_deliveries` records each message of each event on each
 * channel, so a send retried after a crash never goes out twice and a failing channel is on
 * record; `principals.slack` holds the Slack user ids a principal answers from Slack as (its
 * `slack:` identity keys are claimed in `principal_identities` like every other identity).
 */
export class Notifications1765300000000 implements MigrationInterface {
  name = 'Notifications1765300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE notification_deliveries (
        key           text PRIMARY KEY,
        deployment_id text NOT NULL,
        event         text NOT NULL,
        sequence      integer NOT NULL,
        channel       text NOT NULL,
        channel_type  text NOT NULL,
        status        text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
        attempts      integer NOT NULL DEFAULT 0,
        recipients    text[] NOT NULL DEFAULT '{}',
        error         text,
        slack_channel text,
        slack_ts      text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX notification_deliveries_deployment ON notification_deliveries (deployment_id, created_at)`);
    await db.query(`CREATE INDEX notification_deliveries_failed ON notification_deliveries (channel) WHERE status = 'failed'`);
    await db.query(`ALTER TABLE principals ADD COLUMN slack text[] NOT NULL DEFAULT '{}'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE principals DROP COLUMN slack`);
    await db.query(`DROP TABLE notification_deliveries`);
  }
}
