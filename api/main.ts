// `npm run api`: the HTTP API alone, against given servers (TEMPORAL_ADDRESS, DATABASE_URL).

import { Client } from '@temporalio/client';
import { waitForDatabase } from '../database/data-source';
import { loadEvidenceKey } from '../evidence/keys';
import { PolicyHolder } from '../settings/policy-file';
import { readSettings, requireServers, type Settings } from '../settings/settings';
import { connectTemporal, ensureSearchAttributes } from '../settings/temporal';
import { TASK_QUEUE } from '../workflows/definitions';
import { newSecret } from './auth/secrets';
import { createApiServer } from './server';

/** Starts the API against the servers `settings` names, waiting for PostgreSQL while it is out. */
export async function startApi(settings: Settings = readSettings(), log: (line: string) => void = console.log) {
  const { temporalAddress, databaseUrl } = requireServers(settings, 'the API');
  const policy = new PolicyHolder(settings.configPath, settings.policyEnv);
  policy.reloadOnSighup();
  const dataSource = await waitForDatabase(databaseUrl, { log });
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
    logLevels: process.env.COUNTERSIGN_LOG_LEVEL === 'debug' ? ['error', 'warn', 'log', 'debug'] : ['error', 'warn'],
    options: { namespace: settings.temporalNamespace, taskQueue: TASK_QUEUE, temporalUiUrl: settings.temporalUiUrl, answerTimeoutMs: 30_000 },
  });
  log(`[countersign] API listening on ${server.url} (OpenAPI ${server.url}/docs)`);
  if (!settings.adminToken) log(`[countersign] admin token (generated; set COUNTERSIGN_ADMIN_TOKEN to choose one): ${adminToken}`);
  return {
    url: server.url,
    async close() {
      await server.close();
      await connection.close();
      await dataSource.destroy();
    },
  };
}

async function main(): Promise<void> {
  const api = await startApi();
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
  main().catch((err: unknown) => {
    console.error(`[countersign] API failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
