import type { MigrationInterface, QueryRunner } from 'typeorm';
import { principalIdentityKeys } from '../../policy/confusables';

/**
 * One identity, one principal, enforced by PostgreSQL. A check-then-write in the API let two
 * concurrent requests each give one email to a different principal, and two such principals
 * then filled a two-person quorum. `principal_identities.key` is a primary key: the second
 * claim of a key fails inside its transaction, whatever the timing.
 *
 * The backfill computes each principal's keys with the running code (canonical keys and their
 * UTS #39 skeletons), the same keys the API compares, and keeps `principals.identity_keys` in
 * step. Where two principals already claim one key, the older keeps it in this table and the
 * newer is named in a warning: both stay excluded as authors (identity_keys keeps it), and an
 * admin must take it from one of them before the other can be edited.
 */
export class PrincipalIdentities1764900000000 implements MigrationInterface {
  name = 'PrincipalIdentities1764900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE principal_identities (
        key          text PRIMARY KEY,
        principal_id text NOT NULL REFERENCES principals(id) ON DELETE CASCADE
      )`);
    await db.query(`CREATE INDEX principal_identities_principal ON principal_identities (principal_id)`);
    const principals = (await db.query(`SELECT id, emails, logins, subjects FROM principals ORDER BY created_at, id`)) as Array<{
      id: string;
      emails: string[];
      logins: string[];
      subjects: string[];
    }>;
    for (const principal of principals) {
      const keys = principalIdentityKeys(principal);
      await db.query(`UPDATE principals SET identity_keys = $2::text[] WHERE id = $1`, [principal.id, keys]);
      if (keys.length === 0) continue;
      const claimed = (await db.query(
        `INSERT INTO principal_identities (key, principal_id) SELECT unnest($2::text[]), $1
         ON CONFLICT (key) DO NOTHING RETURNING key`,
        [principal.id, keys],
      )) as Array<{ key: string }>;
      const taken = keys.filter((key) => !claimed.some((row) => row.key === key));
      if (taken.length > 0) {
        console.warn(
          `countersign: principal ${principal.id} claims ${taken.join(', ')}, already claimed by an older principal; ` +
            `one identity names one person: PATCH one of them to remove it`,
        );
      }
    }
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE principal_identities`);
  }
}
