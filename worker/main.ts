// `npm run worker`: the worker alone, against given servers (TEMPORAL_ADDRESS, DATABASE_URL).

import { DefaultLogger, Runtime } from '@temporalio/worker';
import { waitForDatabase } from '../database/data-source';
import { loadEvidenceKey } from '../evidence/keys';
import { PolicyHolder } from '../settings/policy-file';
import { readSettings, requireServers } from '../settings/settings';
import { connectTemporal, ensureSearchAttributes } from '../settings/temporal';
import { describeTemporalConnection } from '../settings/temporal-connection';
import { createWorker } from './worker';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger((process.env.COUNTERSIGN_LOG_LEVEL ?? 'WARN').toUpperCase() as 'WARN') });
  const settings = readSettings();
  const { temporalAddress, databaseUrl } = requireServers(settings, 'the worker');
  const policy = new PolicyHolder(settings.configPath, settings.policyEnv);
  policy.reloadOnSighup();
  const dataSource = await waitForDatabase(databaseUrl);
  const connection = await connectTemporal(temporalAddress, settings.temporalConnection);
  await ensureSearchAttributes(connection, settings.temporalNamespace);
  await connection.close();
  const { worker } = await createWorker({
    temporalAddress,
    temporalConnection: settings.temporalConnection,
    namespace: settings.temporalNamespace,
    dataSource,
    policy: () => policy.current(),
    workflowBundlePath: settings.workflowBundlePath,
    dataDir: settings.dataDir,
    evidenceKey: loadEvidenceKey({ dataDir: settings.dataDir, keyPath: settings.evidenceKeyPath }),
    temporalUiUrl: settings.temporalUiUrl,
  });
  console.log(`[countersign] worker polling ${worker.options.taskQueue} on ${temporalAddress} (${settings.temporalNamespace}, ${describeTemporalConnection(settings.temporalConnection)})`);
  // Worker.run() shuts down gracefully on SIGINT and SIGTERM.
  await worker.run();
  await dataSource.destroy();
}

main().catch((err: unknown) => {
  console.error(`[countersign] worker failed: ${(err as Error).message}`);
  process.exit(1);
});
