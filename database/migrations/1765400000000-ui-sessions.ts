import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The approver page's server-side sessions (api/ui). The browser holds a random session id in an
 * HttpOnly cookie; the table keeps only its SHA-256, so a copy of the database signs nobody in.
 * A session belongs to a principal (deleted with it) and, when it was opened with a token, to
 * that token (ended with it: a revoked or expired token ends its sessions). `ui_sign_ins` keeps
 * an OIDC sign-in between the redirect to the provider and its callback: the hash of its
 * `state`, the PKCE code_verifier and the nonce, for a few minutes and one use.
 */
export class UiSessions1765400000000 implements MigrationInterface {
  name = 'UiSessions1765400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE ui_sessions (
        id_hash      text PRIMARY KEY,
        principal_id text NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
        token_id     text REFERENCES tokens(id) ON DELETE CASCADE,
        via          text NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX ui_sessions_principal ON ui_sessions (principal_id)`);
    await db.query(`CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at)`);
    await db.query(`
      CREATE TABLE ui_sign_ins (
        state_hash    text PRIMARY KEY,
        code_verifier text NOT NULL,
        nonce         text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz NOT NULL
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE ui_sign_ins`);
    await db.query(`DROP TABLE ui_sessions`);
  }
}
