import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A deploy is at least once: a run interrupted by a crash starts again. The row tells the runs
 * apart: `attempts` counts runs started (the number a deployer receives), `failures` counts runs
 * the deployer itself failed (the deployment ends FAILED at three), and `succeeded_attempt` is
 * the run recorded as succeeded, after which no run starts.
 */
export class DeployRunOutcomes1764950000000 implements MigrationInterface {
  name = 'DeployRunOutcomes1764950000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE deploy_runs ADD COLUMN failures integer NOT NULL DEFAULT 0`);
    await db.query(`ALTER TABLE deploy_runs ADD COLUMN succeeded_attempt integer`);
    // Rows from before: a failed row failed on each of its attempts; a succeeded one on its last.
    await db.query(`UPDATE deploy_runs SET failures = attempts WHERE status = 'failed'`);
    await db.query(`UPDATE deploy_runs SET succeeded_attempt = attempts WHERE status = 'succeeded'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE deploy_runs DROP COLUMN succeeded_attempt`);
    await db.query(`ALTER TABLE deploy_runs DROP COLUMN failures`);
  }
}
