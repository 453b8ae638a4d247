// `npm run api`: the HTTP API alone, against given servers (TEMPORAL_ADDRESS, DATABASE_URL).

import { Client } from '@temporalio/client';
import { waitForDatabase } from '../database/data-source';
import { loadEvidenceKey } from '../evidence/keys';
import { createLogger, type Logger } from '../settings/logger';
import { PolicyHolder } from '../settings/policy-file';
import { readSettings, requireServers, type Settings } from '../settings/settings';
import { connectTemporal, ensureSearchAttributes } from '../settings/temporal';
import { TASK_QUEUE } from '../workflows/definitions';
import { newSecret } from './auth/secrets';
import { createApiServer } from './server';

/** Starts the API against the servers `settings` names, waiting for PostgreSQL while it is out. */
export async function startApi(settings: Settings = readSettings(), logger: Logger = createLogger({ level: settings.logLevel, name: 'api' })) {
  const log = (line: string) => logger.info(line);
  const { temporalAddress, databaseUrl } = requireServers(settings, 'the API');
  const policy = new PolicyHolder(settings.configPath, settings.policyEnv);
  policy.reloadOnSighup(log);
  const dataSource = await waitForDatabase(databaseUrl, { log, poolSize: settings.databasePoolSize });
  const connection = await connectTemporal(temporalAddress, settings.temporalConnection);
  await ensureSearchAttributes(connection, settings.temporalNamespace);
  const temporal = new Client({ connection, namespace: settings.temporalNamespace });
  const adminToken = settings.adminToken ?? newSecret();
  const server = await createApiServer({
    dataSource,
    temporal,
    policy,
    evidenceKey: loadEvidenceKey({ dataDir: settings.dataDir, keyPath: settings.evidenceKeyPath }),
    port: settings.port,
    adminToken,
    logger,
    options: { namespace: settings.temporalNamespace, taskQueue: TASK_QUEUE, temporalUiUrl: settings.temporalUiUrl, answerTimeoutMs: 30_000, publicBaseUrl: settings.publicBaseUrl },
  });
  log(`API listening on ${server.url} (OpenAPI ${server.url}/docs)`);
  // The one secret ever written to the log, on purpose: without it nobody could sign in.
  if (!settings.adminToken) logger.warn(`admin token (generated; set COUNTERSIGN_ADMIN_TOKEN to choose one): ${adminToken}`);
  return {
    url: server.url,
    async close() {
      await server.close();
      await connection.close();
      await dataSource.destroy();
    },
  };
}

async function main(logger: Logger): Promise<void> {
  const api = await startApi(readSettings(), logger);
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await api.close();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (require.main === module) {
  // Settings that cannot be read stop the API before a logger can be built from them.
  let logger: Logger;
  try {
    logger = createLogger({ level: readSettings().logLevel, name: 'api' });
  } catch (err) {
    console.error(`[countersign] API failed: ${(err as Error).message}`);
    process.exit(1);
  }
  main(logger).catch((err: unknown) => {
    logger.fatal({ err }, `API failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
