import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1764547200000 implements MigrationInterface {
  name = 'InitialSchema1764547200000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE principals (
        id            text PRIMARY KEY,
        display_name  text NOT NULL,
        emails        text[] NOT NULL DEFAULT '{}',
        logins        text[] NOT NULL DEFAULT '{}',
        subjects      text[] NOT NULL DEFAULT '{}',
        identity_keys text[] NOT NULL DEFAULT '{}',
        roles         text[] NOT NULL DEFAULT '{}',
        groups        text[] NOT NULL DEFAULT '{}',
        scopes        jsonb  NOT NULL DEFAULT '[]',
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX principals_identity_keys ON principals USING gin (identity_keys)`);

    await db.query(`
      CREATE TABLE tokens (
        id           text PRIMARY KEY,
        principal_id text NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
        secret_hash  text NOT NULL UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz,
        revoked_at   timestamptz,
        last_used_at timestamptz
      )`);
    await db.query(`CREATE INDEX tokens_principal ON tokens (principal_id)`);

    await db.query(`
      CREATE TABLE deployments (
        id              text PRIMARY KEY,
        workflow_id     text NOT NULL,
        service         text NOT NULL,
        environment     text NOT NULL,
        status          text NOT NULL,
        tier            text NOT NULL,
        requested_by    text NOT NULL,
        artifact_digest text NOT NULL,
        requested_at    timestamptz NOT NULL,
        version         integer NOT NULL,
        view            jsonb NOT NULL,
        request         jsonb
      )`);
    await db.query(`CREATE INDEX deployments_listing ON deployments (service, environment, status, requested_at DESC)`);
    await db.query(`CREATE INDEX deployments_newest ON deployments (requested_at DESC)`);

    await db.query(`
      CREATE TABLE audit_events (
        seq           bigint PRIMARY KEY,
        event_id      text NOT NULL UNIQUE,
        deployment_id text,
        type          text NOT NULL,
        actor         text NOT NULL,
        at            timestamptz NOT NULL,
        outcome       text,
        reason        text,
        data          jsonb NOT NULL,
        prev_hash     text NOT NULL,
        hash          text NOT NULL
      )`);
    await db.query(`CREATE INDEX audit_events_deployment ON audit_events (deployment_id, seq)`);
    await db.query(`CREATE INDEX audit_events_actor ON audit_events (actor, seq)`);
    await db.query(`CREATE INDEX audit_events_at ON audit_events (at)`);
    // The trail is append-only: the database itself refuses to change or remove an event.
    await db.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await db.query(`
      CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await db.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);

    await db.query(`
      CREATE TABLE deploy_runs (
        deployment_id text PRIMARY KEY,
        status        text NOT NULL,
        digest        text NOT NULL,
        attempts      integer NOT NULL DEFAULT 0,
        output        text,
        error         text,
        started_at    timestamptz NOT NULL,
        finished_at   timestamptz
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE deploy_runs`);
    await db.query(`DROP TABLE audit_events`);
    await db.query(`DROP FUNCTION audit_events_append_only`);
    await db.query(`DROP TABLE deployments`);
    await db.query(`DROP TABLE tokens`);
    await db.query(`DROP TABLE principals`);
  }
}
