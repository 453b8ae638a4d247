import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `GET /v1/deployments` answers from an index whatever its filters, at any number of rows.
 * The listing sorts by (requested_at DESC, id DESC) and pages with a keyset cursor on the same
 * pair, so each index ends in those two columns: PostgreSQL walks it in order and stops after
 * one page, without sorting. One index per filter a page is narrowed by (the pipeline's own
 * requests, service, environment, status, and status with each of the first two); `overridden` and
 * `review_overdue` are columns PostgreSQL computes from `view` itself (generated, stored), so
 * the workflow's snapshot stays the one source of truth and the index writer is unchanged, and
 * each has a partial index over its few rows.
 */
export class DeploymentListingIndexes1765000000000 implements MigrationInterface {
  name = 'DeploymentListingIndexes1765000000000';

  async up(db: QueryRunner): Promise<void> {
    // The same conditions the listing used to evaluate on `view` for every row it read.
    await db.query(`ALTER TABLE deployments ADD COLUMN overridden boolean NOT NULL GENERATED ALWAYS AS (view ? 'override') STORED`);
    await db.query(`
      ALTER TABLE deployments ADD COLUMN review_overdue boolean NOT NULL GENERATED ALWAYS AS (
        COALESCE((view->'override'->>'reviewOverdue') = 'true' AND NOT (view->'override' ? 'review'), false)
      ) STORED`);
    await db.query(`DROP INDEX deployments_newest`);
    await db.query(`DROP INDEX deployments_listing`);
    await db.query(`CREATE INDEX deployments_newest ON deployments (requested_at DESC, id DESC)`);
    await db.query(`CREATE INDEX deployments_by_requester ON deployments (requested_by, requested_at DESC, id DESC)`);
    // A pipeline polling its own PENDING requests, a dashboard of one service's: the pairs whose
    // columns go together (a pipeline that never deployed, a service with nothing pending), where
    // walking one column's index for the other's value would read all of it.
    await db.query(`CREATE INDEX deployments_by_requester_status ON deployments (requested_by, status, requested_at DESC, id DESC)`);
    await db.query(`CREATE INDEX deployments_by_service ON deployments (service, requested_at DESC, id DESC)`);
    await db.query(`CREATE INDEX deployments_by_service_status ON deployments (service, status, requested_at DESC, id DESC)`);
    await db.query(`CREATE INDEX deployments_by_environment ON deployments (environment, requested_at DESC, id DESC)`);
    await db.query(`CREATE INDEX deployments_by_status ON deployments (status, requested_at DESC, id DESC)`);
    await db.query(`CREATE INDEX deployments_overridden ON deployments (requested_at DESC, id DESC) WHERE overridden`);
    await db.query(`CREATE INDEX deployments_review_overdue ON deployments (requested_at DESC, id DESC) WHERE review_overdue`);
    await db.query(`ANALYZE deployments`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const index of ['review_overdue', 'overridden', 'by_status', 'by_environment', 'by_service_status', 'by_service', 'by_requester_status', 'by_requester', 'newest']) {
      await db.query(`DROP INDEX deployments_${index}`);
    }
    await db.query(`ALTER TABLE deployments DROP COLUMN review_overdue`);
    await db.query(`ALTER TABLE deployments DROP COLUMN overridden`);
    await db.query(`CREATE INDEX deployments_listing ON deployments (service, environment, status, requested_at DESC)`);
    await db.query(`CREATE INDEX deployments_newest ON deployments (requested_at DESC)`);
  }
}
