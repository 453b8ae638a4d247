// One way to reach the database, for the API, the worker, the CLI and the tests.

import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { AuditEventEntity } from './entities/audit-event.entity';
import { DeployRunEntity } from './entities/deploy-run.entity';
import { DeploymentEntity } from './entities/deployment.entity';
import { EvidenceRecordEntity } from './entities/evidence-record.entity';
import { NotificationDeliveryEntity } from './entities/notification-delivery.entity';
import { PrincipalIdentityEntity } from './entities/principal-identity.entity';
import { PrincipalEntity } from './entities/principal.entity';
import { TokenEntity } from './entities/token.entity';
import { UiSessionEntity, UiSignInEntity } from './entities/ui-session.entity';
import { isDatabaseUnavailable } from './unavailable';
import { InitialSchema1764547200000 } from './migrations/1764547200000-initial-schema';
import { EvidenceRecords1764806400000 } from './migrations/1764806400000-evidence-records';
import { PrincipalIdentities1764900000000 } from './migrations/1764900000000-principal-identities';
import { DeployRunOutcomes1764950000000 } from './migrations/1764950000000-deploy-run-outcomes';
import { DeploymentListingIndexes1765000000000 } from './migrations/1765000000000-deployment-listing-indexes';
import { DeploymentChangeNotify1765100000000 } from './migrations/1765100000000-deployment-change-notify';
import { Notifications1765300000000 } from './migrations/1765300000000-notifications';
import { UiSessions1765400000000 } from './migrations/1765400000000-ui-sessions';

export const ENTITIES = [
  PrincipalEntity, TokenEntity, DeploymentEntity, AuditEventEntity, DeployRunEntity, EvidenceRecordEntity, PrincipalIdentityEntity,
  NotificationDeliveryEntity, UiSessionEntity, UiSignInEntity,
];
export const MIGRATIONS = [
  InitialSchema1764547200000, EvidenceRecords1764806400000, PrincipalIdentities1764900000000, DeployRunOutcomes1764950000000,
  DeploymentListingIndexes1765000000000, DeploymentChangeNotify1765100000000, Notifications1765300000000, UiSessions1765400000000,
];

export const CONNECT_TIMEOUT_MS = 5_000;

export function createDataSource(url: string, options: { poolSize?: number } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    // Shipping schema changes go through migrations only.
    synchronize: false,
    migrationsRun: false,
    // A request waits at most this long for a connection: an unreachable database is then an
    // error the API answers 503 (api/problem.ts), never a request that hangs.
    extra: { max: options.poolSize ?? 10, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true },
  });
}

/** Connects and brings the schema up to date. Concurrent callers are serialised by TypeORM's lock. */
export async function openDatabase(url: string, options: { poolSize?: number } = {}): Promise<DataSource> {
  const dataSource = createDataSource(url, options);
  try {
    await dataSource.initialize();
  } catch (err) {
    throw new Error(
      `cannot connect to PostgreSQL at ${redactUrl(url)}: ${(err as Error).message}. ` +
        'Check DATABASE_URL, or leave it unset to run an embedded PostgreSQL.',
      { cause: err },
    );
  }
  try {
    await migrateUnderLock(dataSource);
  } catch (err) {
    await dataSource.destroy().catch(() => undefined);
    throw err;
  }
  return dataSource;
}

/**
 * Opens the database as `openDatabase` does, waiting with back-off (logging what it waits for)
 * while PostgreSQL cannot be reached: the API and the worker may start before it. Any other
 * error (a wrong password, a missing database) is thrown at once.
 */
export async function waitForDatabase(
  url: string,
  options: { poolSize?: number; log?: (line: string) => void; maxDelayMs?: number; deadlineMs?: number } = {},
): Promise<DataSource> {
  const log = options.log ?? ((line: string) => console.log(line));
  const maxDelay = options.maxDelayMs ?? 10_000;
  const deadline = options.deadlineMs === undefined ? Infinity : Date.now() + options.deadlineMs;
  let delay = 500;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const dataSource = await openDatabase(url, options);
      if (attempt > 1) log(`[countersign] PostgreSQL at ${redactUrl(url)} answers (after ${attempt} tries)`);
      return dataSource;
    } catch (err) {
      if (!isDatabaseUnavailable(err) || Date.now() + delay > deadline) throw err;
      const reason = rootMessage(err);
      log(`[countersign] waiting for PostgreSQL at ${redactUrl(url)} (${reason}); trying again in ${(delay / 1000).toFixed(1)} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(maxDelay, delay * 2);
    }
  }
}

function rootMessage(err: unknown): string {
  let current = err as { message?: string; cause?: unknown; driverError?: unknown } | undefined;
  while (current && (current.cause ?? current.driverError)) current = (current.cause ?? current.driverError) as typeof current;
  return current?.message || (err as Error)?.message || String(err);
}

// The API and the worker may start together against one database: one migrates, the other waits.
// A session-level advisory lock has no TypeORM expression, so these two statements stay SQL.
const MIGRATION_LOCK = 7_270_001;

async function migrateUnderLock(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
