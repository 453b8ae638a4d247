import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The evidence documents a git tag names by their sha256, kept byte for byte: a deployment's
 * evidence can still change after it is tagged (a retrospective review, a late refused
 * attempt), and the tag must keep pointing at something an auditor can fetch and check.
 */
export class EvidenceRecords1764806400000 implements MigrationInterface {
  name = 'EvidenceRecords1764806400000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE evidence_records (
        sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        deployment_id text NOT NULL,
        document      text NOT NULL,
        recorded_for  text NOT NULL,
        recorded_at   timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX evidence_records_deployment ON evidence_records (deployment_id, recorded_at)`);
    // What a tag names must not change under it, so the database refuses it as it does for the audit trail.
    await db.query(`
      CREATE FUNCTION evidence_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'evidence_records is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await db.query(`
      CREATE TRIGGER evidence_records_no_update_delete BEFORE UPDATE OR DELETE ON evidence_records
      FOR EACH ROW EXECUTE FUNCTION evidence_records_append_only()`);
    await db.query(`
      CREATE TRIGGER evidence_records_no_truncate BEFORE TRUNCATE ON evidence_records
      FOR EACH STATEMENT EXECUTE FUNCTION evidence_records_append_only()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE evidence_records`);
    await db.query(`DROP FUNCTION evidence_records_append_only`);
  }
}
