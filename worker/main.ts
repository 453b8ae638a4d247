// `npm run worker`: the worker alone, against given servers (TEMPORAL_ADDRESS, DATABASE_URL).

import { Runtime } from '@temporalio/worker';
import { waitForDatabase } from '../database/data-source';
import { loadEvidenceKey } from '../evidence/keys';
import { createLogger, type Logger, temporalLogger, temporalLogLevel } from '../settings/logger';
import { PolicyHolder } from '../settings/policy-file';
import { readSettings, requireServers, type Settings } from '../settings/settings';
import { connectTemporal, ensureSearchAttributes } from '../settings/temporal';
import { describeTemporalConnection } from '../settings/temporal-connection';
import { createWorker } from './worker';

async function main(settings: Settings, logger: Logger): Promise<void> {
  const log = (line: string) => logger.info(line);
  // The SDK's lines, the workflows' and activities' `log`, and (forwarded) the native core's
  // lines all come out as this process's JSON lines.
  Runtime.install({
    logger: temporalLogger(logger),
    telemetryOptions: { logging: { filter: { core: temporalLogLevel(settings.logLevel), other: 'ERROR' }, forward: {} } },
  });
  const { temporalAddress, databaseUrl } = requireServers(settings, 'the worker');
  const policy = new PolicyHolder(settings.configPath, settings.policyEnv);
  policy.reloadOnSighup(log);
  const dataSource = await waitForDatabase(databaseUrl, { log });
  const connection = await connectTemporal(temporalAddress, settings.temporalConnection);
  await ensureSearchAttributes(connection, settings.temporalNamespace);
  await connection.close();
  const { worker } = await createWorker({
    temporalAddress,
    temporalConnection: settings.temporalConnection,
    namespace: settings.temporalNamespace,
    dataSource,
    policy: () => policy.current(),
    // The calendar as the file has it now: a freeze written there holds deploys without a SIGHUP.
    calendarPolicy: () => policy.freshCalendar(log),
    workflowBundlePath: settings.workflowBundlePath,
    maxCachedWorkflows: settings.workerMaxCachedWorkflows,
    dataDir: settings.dataDir,
    evidenceKey: loadEvidenceKey({ dataDir: settings.dataDir, keyPath: settings.evidenceKeyPath }),
    temporalUiUrl: settings.temporalUiUrl,
    publicBaseUrl: settings.publicBaseUrl,
  });
  log(`worker polling ${worker.options.taskQueue} on ${temporalAddress} (${settings.temporalNamespace}, ${describeTemporalConnection(settings.temporalConnection)})`);
  // Worker.run() shuts down gracefully on SIGINT and SIGTERM.
  await worker.run();
  await dataSource.destroy();
}

// Settings that cannot be read stop the worker before a logger can be built from them.
let settings: Settings;
let logger: Logger;
try {
  settings = readSettings();
  logger = createLogger({ level: settings.logLevel, name: 'worker' });
} catch (err) {
  console.error(`[countersign] worker failed: ${(err as Error).message}`);
  process.exit(1);
}
// Once the worker has shut down, nothing is left to do: exit rather than wait on the native
// runtime's handles (a CPU profile, BENCH_PROFILE, is written at this exit).
main(settings, logger).then(() => process.exit(0), (err: unknown) => {
  logger.fatal({ err }, `worker failed: ${(err as Error).message}`);
  process.exit(1);
});
