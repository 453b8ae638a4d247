import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every change of a deployment's index row is announced on the PostgreSQL channel
 * `countersign_deployment` (payload `<id> <version>`), so the API can push it to whoever follows
 * the deployment (`GET /v1/deployments/{id}/events`) without polling. The trigger fires for the
 * index writer's insert and for an update that advanced the row (an older snapshot updates
 * nothing, so announces nothing); NOTIFY is delivered at commit, after the row is readable.
 */
export const DEPLOYMENT_CHANNEL = 'countersign_deployment';

export class DeploymentChangeNotify1765100000000 implements MigrationInterface {
  name = 'DeploymentChangeNotify1765100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION countersign_notify_deployment() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${DEPLOYMENT_CHANNEL}', NEW.id || ' ' || NEW.version);
        RETURN NULL;
      END
      $$`);
    await db.query(`
      CREATE TRIGGER deployments_notify_change
      AFTER INSERT OR UPDATE OF version, status, view ON deployments
      FOR EACH ROW EXECUTE FUNCTION countersign_notify_deployment()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER deployments_notify_change ON deployments`);
    await db.query(`DROP FUNCTION countersign_notify_deployment()`);
  }
}
