// Integration checks of the embedded servers: real PostgreSQL and a real Temporal dev server.
// Needs no global setup, so it can run on its own:
//   npx jest --config jest.unit.config.js --roots test/e2e -- test/e2e/runtime.test.ts

import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client as PgClient } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { findFreePort, isProcessAlive, sleep, waitForPidExit } from '../../local/process-tree';
import { findOrInstallTemporalCli, projectLocalCliPath } from '../../local/temporal-cli';
import { buildStartDevArgs, startTemporalDevServer } from '../../local/embedded-temporal';
import { DEPLOY_SEARCH_ATTRIBUTES } from '../../settings/temporal';
import { resolvePostgresBinaries, startEmbeddedPostgres } from '../../local/embedded-postgres';

jest.setTimeout(180_000);

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'cs-runtime-'));
// mkdtemp makes the folder 0700; as root, PostgreSQL runs as the postgres user and must get through.
chmodSync(tmpRoot, 0o755);
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** A stand-in `temporal` that only knows --version. */
function fakeCli(dir: string, output: string, exitCode = 0): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'temporal');
  writeFileSync(file, `#!/bin/sh\necho '${output}'\nexit ${exitCode}\n`);
  chmodSync(file, 0o755);
  return file;
}

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(vars);
  return fn().finally(() => apply(saved));
}

describe('findOrInstallTemporalCli', () => {
  const quiet = { log: () => undefined };

  it('rejects a TEMPORAL_CLI that does not exist or cannot run, rather than falling back', async () => {
    await withEnv({ TEMPORAL_CLI: path.join(tmpRoot, 'nope') }, async () => {
      await expect(findOrInstallTemporalCli(quiet)).rejects.toThrow(/TEMPORAL_CLI=.*does not exist/);
    });
    const notExecutable = path.join(tmpRoot, 'plain-file');
    writeFileSync(notExecutable, '');
    await withEnv({ TEMPORAL_CLI: notExecutable }, async () => {
      await expect(findOrInstallTemporalCli(quiet)).rejects.toThrow(/not an executable file/);
    });
    const wrongTool = fakeCli(path.join(tmpRoot, 'wrong'), 'something else');
    await withEnv({ TEMPORAL_CLI: wrongTool }, async () => {
      await expect(findOrInstallTemporalCli(quiet)).rejects.toThrow(/does not behave like the Temporal CLI/);
    });
  });

  it('skips PATH entries whose --version fails (a pyenv shim for another Python) and takes the next', async () => {
    const broken = fakeCli(path.join(tmpRoot, 'path-a'), 'pyenv: temporal: command not found', 127);
    const good = fakeCli(path.join(tmpRoot, 'path-b'), 'temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)');
    const lines: string[] = [];
    await withEnv({ TEMPORAL_CLI: undefined, PATH: [path.dirname(broken), path.dirname(good)].join(path.delimiter) }, async () => {
      await expect(findOrInstallTemporalCli({ log: (l) => lines.push(l) })).resolves.toBe(good);
    });
    expect(lines.join('\n')).toContain(broken);
  });

  it('falls back to the project-local install when PATH has none', async () => {
    const projectRoot = path.join(tmpRoot, 'project');
    const local = projectLocalCliPath(projectRoot);
    fakeCli(path.dirname(local), 'temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)');
    await withEnv({ TEMPORAL_CLI: undefined, PATH: path.join(tmpRoot, 'empty') }, async () => {
      await expect(findOrInstallTemporalCli({ projectRoot, ...quiet })).resolves.toBe(local);
    });
  });

  it('finds a working CLI on this machine', async () => {
    const cli = await findOrInstallTemporalCli(quiet);
    expect(cli).toBeDefined();
    expect(execFileSync(cli!, ['--version']).toString()).toMatch(/temporal version/);
  });
});

describe('startTemporalDevServer', () => {
  let cli: string;
  beforeAll(async () => {
    const found = await findOrInstallTemporalCli({ log: () => undefined });
    if (!found) throw new Error('no Temporal CLI; see findOrInstallTemporalCli');
    cli = found;
  });

  it('serves the namespace with the deploy search attributes, and keeps workflows across restarts', async () => {
    const dbFile = path.join(tmpRoot, 'temporal', 'nested', 'dev.db');
    const logFile = path.join(tmpRoot, 'temporal', 'server.log');
    let server = await startTemporalDevServer({ cliPath: cli, dbFile, logFile, namespace: 'countersign' });
    let connection: Connection | undefined;
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(server.uiUrl).toBe(`http://127.0.0.1:${server.uiPort}`);
      expect(readFileSync(`${dbFile}.pid`, 'utf8').trim()).toBe(String(server.pid));

      connection = await Connection.connect({ address: server.address });
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'countersign' });
      // temporal.api.enums.v1.IndexedValueType: KEYWORD = 2, KEYWORD_LIST = 7 (protobuf numbers never change).
      for (const [name, type] of Object.entries(DEPLOY_SEARCH_ATTRIBUTES)) {
        const expected = type === 'Keyword' ? 2 : 7;
        expect([name, customAttributes?.[name]]).toEqual([name, expected]);
      }

      // No worker: the workflow just sits there, which is all persistence needs.
      const client = new Client({ connection, namespace: 'countersign' });
      await client.workflow.start('nothing', { taskQueue: 'runtime-test', workflowId: 'survives-restart' });
      await connection.close();
      connection = undefined;

      await server.stop();
      await server.stop(); // idempotent
      expect(isProcessAlive(server.pid)).toBe(false);
      expect(existsSync(`${dbFile}.pid`)).toBe(false);

      server = await startTemporalDevServer({ cliPath: cli, dbFile, logFile, namespace: 'countersign' });
      connection = await Connection.connect({ address: server.address });
      const described = await new Client({ connection, namespace: 'countersign' }).workflow.getHandle('survives-restart').describe();
      expect(described.status.name).toBe('RUNNING');
      expect(readFileSync(logFile, 'utf8')).toContain('start-dev');
    } finally {
      await connection?.close();
      await server.stop();
    }
  });

  it('names the port and the variable to change when a fixed port is taken', async () => {
    const busy = await startTemporalDevServer({ cliPath: cli });
    try {
      await expect(startTemporalDevServer({ cliPath: cli, port: busy.port })).rejects.toThrow(
        new RegExp(`port ${busy.port} .*already in use.*TEMPORAL_DEV_PORT`),
      );
      await expect(startTemporalDevServer({ cliPath: cli, uiPort: busy.uiPort })).rejects.toThrow(/TEMPORAL_UI_PORT/);
    } finally {
      await busy.stop();
    }
  });

  it('stops a server left running by a killed earlier run before starting on the same database', async () => {
    const dbFile = path.join(tmpRoot, 'orphan', 'dev.db');
    mkdirSync(path.dirname(dbFile), { recursive: true });
    const [port, uiPort] = [await findFreePort(), await findFreePort()];
    // The shell exits at once, so the server is reparented exactly as after `kill -9` of its parent.
    const args = buildStartDevArgs({ port, uiPort, ip: '127.0.0.1', namespace: 'default', dbFile });
    const quoted = [cli, ...args].map((a) => `'${a}'`).join(' ');
    execFileSync('sh', ['-c', `${quoted} >/dev/null 2>&1 & echo $! > '${dbFile}.pid'`]);
    const orphan = Number(readFileSync(`${dbFile}.pid`, 'utf8'));
    await sleep(1_000);
    expect(isProcessAlive(orphan)).toBe(true);

    const lines: string[] = [];
    const server = await startTemporalDevServer({ cliPath: cli, dbFile, port, uiPort, log: (l) => lines.push(l) });
    try {
      expect(isProcessAlive(orphan)).toBe(false);
      expect(server.port).toBe(port);
      expect(lines.join('\n')).toContain(`pid ${orphan}`);
    } finally {
      await server.stop();
    }
  });

  it('quotes the server output when it exits during startup', async () => {
    const broken = path.join(tmpRoot, 'broken-cli', 'temporal');
    mkdirSync(path.dirname(broken), { recursive: true });
    writeFileSync(broken, '#!/bin/sh\necho "Error: unable to open database file" >&2\nexit 1\n');
    chmodSync(broken, 0o755);
    await expect(startTemporalDevServer({ cliPath: broken })).rejects.toThrow(/code 1[\s\S]*unable to open database file/);
  });

  it('gives up after the start timeout, stopping the server it started', async () => {
    const lines: string[] = [];
    const attempt = startTemporalDevServer({ cliPath: cli, startTimeoutMs: 1, log: (l) => lines.push(l) });
    // Should it start after all, stop it, or its pipes keep Jest from exiting.
    void attempt.then((server) => server.stop(), () => undefined);
    await expect(attempt).rejects.toThrow(/did not answer .* within 0 s; stopped it/);
    expect(lines.join('\n')).toMatch(/Starting Temporal dev server[\s\S]*Stopping Temporal dev server/);
  });

  it('reports a CLI that cannot be run', async () => {
    await expect(startTemporalDevServer({ cliPath: path.join(tmpRoot, 'missing-cli') })).rejects.toThrow(/missing-cli.*ENOENT/s);
  });
});

describe('startEmbeddedPostgres', () => {
  const query = async (url: string, sql: string) => {
    const client = new PgClient({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };

  it('initialises once, keeps data and port across restarts, and recovers from a killed server', async () => {
    const dataDir = path.join(tmpRoot, 'pg', 'data');
    let pg = await startEmbeddedPostgres({ dataDir, port: 0, database: 'cs_test' });
    try {
      expect(pg.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/cs_test$/);
      expect(await query(pg.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
      await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$hello$$)');
      const firstPort = pg.port;
      await pg.stop();
      await pg.stop();

      // No port asked for: the one recorded in the data directory is reused.
      pg = await startEmbeddedPostgres({ dataDir, database: 'cs_test' });
      expect(pg.port).toBe(firstPort);
      expect(await query(pg.url, 'SELECT v FROM kept')).toEqual([{ v: 'hello' }]);

      // kill -9 of the server itself: postmaster.pid stays behind, and crash recovery runs.
      process.kill(pg.pid, 'SIGKILL');
      await waitForPidExit(pg.pid, 10_000);
      await sleep(500); // let the backends notice that the postmaster died
      expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(true);
      pg = await startEmbeddedPostgres({ dataDir, database: 'cs_test' });
      expect(await query(pg.url, 'SELECT v FROM kept')).toEqual([{ v: 'hello' }]);
    } finally {
      await pg.stop();
    }
  });

  it('treats a postmaster.pid naming a live, unrelated process as stale', async () => {
    const dataDir = path.join(tmpRoot, 'pg', 'reused-pid');
    let pg = await startEmbeddedPostgres({ dataDir, port: 0 });
    await pg.stop();
    // After a container restart the old pid often belongs to someone else, e.g. us.
    writeFileSync(path.join(dataDir, 'postmaster.pid'), `${process.pid}\n${dataDir}\n`);
    pg = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      expect(await query(pg.url, 'SELECT current_database() AS db')).toEqual([{ db: 'countersign' }]);
    } finally {
      await pg.stop();
    }
  });

  it('shuts down a server orphaned by a killed parent, then starts its own', async () => {
    const dataDir = path.join(tmpRoot, 'pg', 'orphan');
    const first = await startEmbeddedPostgres({ dataDir, port: 0 });
    const port = first.port;
    await first.stop();

    // Start postgres from a shell that exits at once: its parent is gone, as after kill -9.
    const { postgres } = resolvePostgresBinaries();
    const asPostgres = process.getuid?.() === 0
      ? { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) }
      : {};
    const script = `'${postgres}' -D '${dataDir}' -p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= >/dev/null 2>&1 &`;
    await new Promise((resolve) => spawn('sh', ['-c', script], { ...asPostgres, cwd: dataDir, stdio: 'ignore' }).on('exit', resolve));
    const deadline = Date.now() + 20_000;
    while (!existsSync(path.join(dataDir, 'postmaster.pid')) && Date.now() < deadline) await sleep(100);
    const orphan = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(isProcessAlive(orphan)).toBe(true);

    const lines: string[] = [];
    const pg = await startEmbeddedPostgres({ dataDir, log: (l) => lines.push(l) });
    try {
      expect(isProcessAlive(orphan)).toBe(false);
      expect(pg.pid).not.toBe(orphan);
      expect(pg.port).toBe(port);
      expect(lines.join('\n')).toContain(`pid ${orphan}`);
    } finally {
      await pg.stop();
    }
  });

  it('keeps the cluster where the postgres user can reach it when the data folder is closed (a clone under /root)', async () => {
    if (process.getuid?.() !== 0) return; // only root runs PostgreSQL as another user
    const closed = mkdtempSync(path.join(os.tmpdir(), 'cs-closed-'));
    chmodSync(closed, 0o700);
    const dataDir = path.join(closed, 'data', 'postgres');
    let pg = await startEmbeddedPostgres({ dataDir, port: 0, database: 'cs_closed' });
    const cluster = require('node:fs').readlinkSync(dataDir) as string;
    try {
      expect(cluster).toMatch(/^\/var\/lib\/countersign\/postgres-[0-9a-f]{12}$/);
      await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$still here$$)');
      await pg.stop();
      pg = await startEmbeddedPostgres({ dataDir, database: 'cs_closed' });
      expect(await query(pg.url, 'SELECT v FROM kept')).toEqual([{ v: 'still here' }]);
    } finally {
      await pg.stop();
      rmSync(cluster, { recursive: true, force: true });
      rmSync(closed, { recursive: true, force: true });
    }
  });

  it('refuses a fixed port that is taken, naming it', async () => {
    const pg = await startEmbeddedPostgres({ dataDir: path.join(tmpRoot, 'pg', 'a'), port: 0 });
    try {
      await expect(startEmbeddedPostgres({ dataDir: path.join(tmpRoot, 'pg', 'b'), port: pg.port })).rejects.toThrow(
        new RegExp(`port ${pg.port} .*already in use`),
      );
    } finally {
      await pg.stop();
    }
  });
});
