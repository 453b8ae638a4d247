// Starts (or finds) the real servers once for the whole suite and shares them through the
// environment: TEMPORAL_ADDRESS, COUNTERSIGN_TEST_PG (a server URL), COUNTERSIGN_TEST_TEMPLATE
// (a migrated database that each test file clones), COUNTERSIGN_WORKFLOW_BUNDLE.

import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../database/data-source';
import { startEmbeddedPostgres } from '../../local/embedded-postgres';
import { startTemporalDevServer } from '../../local/embedded-temporal';
import { findOrInstallTemporalCli } from '../../local/temporal-cli';
import { workflowsPath } from '../../worker/worker';
import { ADMIN_DATABASE_URL, adminQuery, canConnect, databaseUrlFor } from './servers';

type Stop = () => Promise<void>;

export default async function globalSetup(): Promise<void> {
  const stops: Stop[] = [];
  (globalThis as { __countersignStops?: Stop[] }).__countersignStops = stops;
  const scratch = mkdtempSync(path.join(tmpdir(), 'countersign-test-'));
  // An embedded PostgreSQL runs as an unprivileged user, which must reach its data folder.
  chmodSync(scratch, 0o755);
  const log = (line: string) => process.stderr.write(`[test setup] ${line}\n`);

  const temporalReady = (async () => {
    if (process.env.TEMPORAL_ADDRESS) return;
    const cli = await findOrInstallTemporalCli({ log });
    if (!cli) throw new Error('no temporal CLI could be found or installed; set TEMPORAL_CLI or TEMPORAL_ADDRESS');
    const server = await startTemporalDevServer({ cliPath: cli, logFile: path.join(scratch, 'temporal.log'), log });
    stops.push(server.stop);
    process.env.TEMPORAL_ADDRESS = server.address;
    process.env.COUNTERSIGN_TEST_TEMPORAL_UI = server.uiUrl;
  })();

  const postgresReady = (async () => {
    let serverUrl = ADMIN_DATABASE_URL;
    if (!(await canConnect(serverUrl))) {
      log(`no PostgreSQL at ${serverUrl}; starting an embedded one`);
      const pg = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg'), database: 'postgres', log });
      stops.push(pg.stop);
      serverUrl = pg.url;
    }
    const template = `countersign_template_${process.pid}`;
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${template}`);
    await adminQuery(serverUrl, `CREATE DATABASE ${template}`);
    const db = await openDatabase(databaseUrlFor(serverUrl, template));
    await db.destroy();
    stops.push(() => adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`));
    process.env.COUNTERSIGN_TEST_PG = serverUrl;
    process.env.COUNTERSIGN_TEST_TEMPLATE = template;
  })();

  const bundleReady = (async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
    const file = path.join(scratch, 'workflow-bundle.js');
    writeFileSync(file, code);
    process.env.COUNTERSIGN_WORKFLOW_BUNDLE = file;
  })();

  await Promise.all([temporalReady, postgresReady, bundleReady]);
}
