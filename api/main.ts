// `npm run api`: the HTTP API alone, against given servers (TEMPORAL_ADDRESS, DATABASE_URL).

import { Client } from '@temporalio/client';
import { openDatabase } from '../database/data-source';
import { loadEvidenceKey } from '../evidence/keys';
import { PolicyHolder } from '../runtime/policy-file';
import { readSettings, requireServers } from '../runtime/settings';
import { connectTemporal, ensureSearchAttributes } from '../runtime/temporal';
import { TASK_QUEUE } from '../workflows/definitions';
import { newSecret } from './auth/secrets';
import { createApiServer } from './server';

async function main(): Promise<void> {
  const settings = readSettings();
  const { temporalAddress, databaseUrl } = requireServers(settings, 'the API');
  const policy = new PolicyHolder(settings.configPath);
  policy.reloadOnSighup();
  const dataSource = await openDatabase(databaseUrl);
  const connection = await connectTemporal(temporalAddress, settings.temporalConnection);
  await ensureSearchAttributes(connection, settings.temporalNamespace);
  const temporal = new Client({ connection, namespace: settings.temporalNamespace });
  const adminToken = settings.adminToken ?? newSecret();
  const server = await createApiServer({
    dataSource,
    temporal,
    policy,
    evidenceKey: loadEvidenceKey({ dataDir: settings.dataDir }),
    port: settings.port,
    adminToken,
    logLevels: process.env.COUNTERSIGN_LOG_LEVEL === 'debug' ? ['error', 'warn', 'log', 'debug'] : ['error', 'warn'],
    options: { namespace: settings.temporalNamespace, taskQueue: TASK_QUEUE, temporalUiUrl: settings.temporalUiUrl, answerTimeoutMs: 30_000 },
  });
  console.log(`[countersign] API listening on ${server.url} (OpenAPI ${server.url}/docs)`);
  if (!settings.adminToken) console.log(`[countersign] admin token (generated; set COUNTERSIGN_ADMIN_TOKEN to choose one): ${adminToken}`);

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await server.close();
    await connection.close();
    await dataSource.destroy();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(`[countersign] API failed: ${(err as Error).message}`);
  process.exit(1);
});
