// One way to reach the database, for the API, the worker, the CLI and the tests.

import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { AuditEventEntity } from './entities/audit-event.entity';
import { DeployRunEntity } from './entities/deploy-run.entity';
import { DeploymentEntity } from './entities/deployment.entity';
import { EvidenceRecordEntity } from './entities/evidence-record.entity';
import { PrincipalIdentityEntity } from './entities/principal-identity.entity';
import { PrincipalEntity } from './entities/principal.entity';
import { TokenEntity } from './entities/token.entity';
import { InitialSchema1764547200000 } from './migrations/1764547200000-initial-schema';
import { EvidenceRecords1764806400000 } from './migrations/1764806400000-evidence-records';
import { PrincipalIdentities1764900000000 } from './migrations/1764900000000-principal-identities';
import { DeployRunOutcomes1764950000000 } from './migrations/1764950000000-deploy-run-outcomes';

export const ENTITIES = [PrincipalEntity, TokenEntity, DeploymentEntity, AuditEventEntity, DeployRunEntity, EvidenceRecordEntity, PrincipalIdentityEntity];
export const MIGRATIONS = [InitialSchema1764547200000, EvidenceRecords1764806400000, PrincipalIdentities1764900000000, DeployRunOutcomes1764950000000];

export function createDataSource(url: string, options: { poolSize?: number } = {}): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    // Shipping schema changes go through migrations only.
    synchronize: false,
    migrationsRun: false,
    extra: { max: options.poolSize ?? 10 },
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
    );
  }
  await migrateUnderLock(dataSource);
  return dataSource;
}

// The API and the worker may start together against one database: one migrates, the other waits.
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
