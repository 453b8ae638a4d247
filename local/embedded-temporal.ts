// Runs `temporal server start-dev` as a child of this process, for `countersign start` and the
// end-to-end tests. The dev server is a single binary with SQLite persistence: enough for one
// team's approval gate, and nothing to install beyond the CLI (see temporal-cli.ts).
//
// Why not the SDK's own launcher, @temporalio/testing's TestWorkflowEnvironment.createLocal (or
// EphemeralServer) with `executable: { type: 'existing-path', path }`? It takes the same options
// (dbFilename, fixed port and uiPort, namespace, ip, search attributes) and runs the same binary,
// but it is built for a test's lifetime, not for `npm start`'s: the server's output cannot be sent
// to a log file we name under the data folder; nothing recognises a server that a killed earlier
// run left holding the SQLite file and the ports (reapOrphanedServer below stops it on the next
// start); a taken port surfaces as the CLI's own failure rather than "port 7233 is in use, set
// TEMPORAL_DEV_PORT"; and it would load the SDK's native runtime into the supervisor process, from
// @temporalio/testing, which is only a dev dependency. So we keep ours.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import {
  OutputTail,
  commandHasArg,
  describeProcess,
  exitOf,
  findFreePort,
  isPortFree,
  isProcessAlive,
  signalOnParentExit,
  sleep,
  stopChild,
  terminatePid,
} from './process-tree';
import { DEPLOY_SEARCH_ATTRIBUTES } from '../settings/temporal';

export interface TemporalDevServerOptions {
  /** From findOrInstallTemporalCli(). */
  cliPath: string;
  /** SQLite file that keeps workflows across restarts; in-memory when omitted. */
  dbFile?: string;
  /** Front-end gRPC port; 0 or undefined picks a free one. */
  port?: number;
  /** Web UI port; 0 or undefined picks a free one. */
  uiPort?: number;
  /** Created at launch if it is not 'default' (which always exists). */
  namespace?: string;
  /** Address both the gRPC front end and the UI bind to. Defaults to 127.0.0.1: the dev server has no auth. */
  ip?: string;
  /** Lifecycle lines (starting, ready, stopping). The server's own output goes to logFile. */
  log?: (line: string) => void;
  /** Appended to; the server's stdout and stderr. Without it the output is kept only to quote on failure. */
  logFile?: string;
  /** How long to wait for the server to answer; default 60 s (first start of a large SQLite file is slow). */
  startTimeoutMs?: number;
  /** More `temporal server start-dev` arguments, e.g. `--dynamic-config-value` for a test. */
  extraArgs?: string[];
}

export interface TemporalDevServer {
  /** host:port for Connection.connect / NativeConnection.connect. */
  address: string;
  uiUrl: string;
  namespace: string;
  port: number;
  uiPort: number;
  pid: number;
  /** SIGTERM, up to 10 s to finish, then SIGKILL. Safe to call twice. */
  stop(): Promise<void>;
}

/** The `temporal` arguments for a dev server; pure, so the flags can be checked without a server. */
export function buildStartDevArgs(options: {
  port: number;
  uiPort: number;
  ip: string;
  namespace: string;
  dbFile?: string;
}): string[] {
  const args = [
    'server', 'start-dev',
    // `pretty` is accepted although `--help` only lists text and json; warn keeps a healthy
    // server quiet, so whatever reaches the log file is worth reading.
    '--log-format', 'pretty',
    '--log-level', 'warn',
    '--ip', options.ip,
    '--port', String(options.port),
    '--ui-port', String(options.uiPort),
    '--namespace', options.namespace,
  ];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const [name, type] of Object.entries(DEPLOY_SEARCH_ATTRIBUTES)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  return args;
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The dev server lost a race for a port we picked ourselves: worth another try with new ports. */
class PortTakenError extends Error {}

export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const log = options.log ?? (() => undefined);
  const dbFile = options.dbFile ? path.resolve(options.dbFile) : undefined;
  const logFile = options.logFile ? path.resolve(options.logFile) : undefined;

  if (dbFile) {
    await fs.mkdir(path.dirname(dbFile), { recursive: true });
    await reapOrphanedServer(dbFile, log);
  }
  if (logFile) await fs.mkdir(path.dirname(logFile), { recursive: true });

  // Check fixed ports up front: the answer is clearer than the server's, and it costs nothing.
  const fixedPort = options.port || undefined;
  const fixedUiPort = options.uiPort || undefined;
  if (fixedPort && !(await isPortFree(fixedPort, ip))) throw new Error(portInUseMessage('gRPC', fixedPort, ip));
  if (fixedUiPort && !(await isPortFree(fixedUiPort, ip))) throw new Error(portInUseMessage('UI', fixedUiPort, ip));

  const attempts = fixedPort && fixedUiPort ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await findFreePort(ip));
    let uiPort = fixedUiPort ?? (await findFreePort(ip));
    while (uiPort === port) uiPort = await findFreePort(ip);
    try {
      return await launch({ ...options, ip, namespace, log, dbFile, logFile, port, uiPort }, { fixedPort, fixedUiPort });
    } catch (err) {
      if (err instanceof PortTakenError && attempt < attempts) {
        log(`Temporal dev server: ${err.message}; retrying with other ports.`);
        continue;
      }
      throw err;
    }
  }
}

interface LaunchOptions extends TemporalDevServerOptions {
  ip: string;
  namespace: string;
  log: (line: string) => void;
  port: number;
  uiPort: number;
}

async function launch(
  options: LaunchOptions,
  fixed: { fixedPort?: number; fixedUiPort?: number },
): Promise<TemporalDevServer> {
  const { ip, namespace, log, port, uiPort, dbFile, logFile } = options;
  const address = hostPort(ip, port);
  const uiUrl = `http://${hostPort(ip, uiPort)}`;
  const args = [...buildStartDevArgs({ port, uiPort, ip, namespace, dbFile }), ...(options.extraArgs ?? [])];

  let logStream: WriteStream | undefined;
  if (logFile) {
    logStream = createWriteStream(logFile, { flags: 'a' });
    // An unwritable log must not take the server (or this process, via an unhandled 'error') down.
    logStream.on('error', (err) => {
      log(`Cannot write ${logFile}: ${err.message}; carrying on without it.`);
      logStream = undefined;
    });
    logStream.write(`\n--- ${new Date().toISOString()} ${options.cliPath} ${args.join(' ')}\n`);
  }
  const tail = new OutputTail();
  log(`Starting Temporal dev server on ${address} (UI ${uiUrl})${dbFile ? `, data in ${dbFile}` : ', in memory'}...`);

  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const onOutput = (chunk: Buffer) => {
    tail.push(chunk);
    logStream?.write(chunk);
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  // SIGKILL, not SIGTERM: an 'exit' handler cannot wait, and a server left running would hold
  // the ports and the SQLite file against the next start. SQLite survives a kill intact.
  const forgetChild = signalOnParentExit(child, 'SIGKILL');
  const pidFile = dbFile ? `${dbFile}.pid` : undefined;

  const closeLog = () =>
    new Promise<void>((resolve) => (logStream && !logStream.closed ? logStream.end(resolve) : resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log('Stopping Temporal dev server...');
      await stopChild(child, [{ signal: 'SIGTERM', waitMs: 10_000 }]);
      forgetChild();
      if (pidFile) await removePidFileIfOurs(pidFile, child.pid);
      await closeLog();
    })();
    return stopping;
  };

  try {
    if (child.pid !== undefined && pidFile) await fs.writeFile(pidFile, `${child.pid}\n`);
    await waitUntilServing(child, address, namespace, options.startTimeoutMs ?? 60_000, () => spawnError);
  } catch (err) {
    await stop();
    if (err instanceof ServerExited || spawnError) {
      throw startupFailure(err as Error, options, tail, fixed);
    }
    if (!(err instanceof ServerTimeout)) throw err;
    throw new Error(
      `Temporal dev server did not answer on ${address} within ${Math.round((options.startTimeoutMs ?? 60_000) / 1000)} s; stopped it.` +
        describeOutput(tail, logFile),
    );
  }
  log(`Temporal dev server ready at ${address}, namespace ${namespace}, UI ${uiUrl}.`);
  return { address, uiUrl, namespace, port, uiPort, pid: child.pid ?? -1, stop };
}

class ServerExited extends Error {}
class ServerTimeout extends Error {}

/**
 * Ready means the namespace answers, not merely that the port accepts connections: the front
 * end listens a moment before the namespace registry has loaded, and a worker started in that gap
 * fails with NamespaceNotFound.
 */
async function waitUntilServing(
  child: ChildProcess,
  address: string,
  namespace: string,
  timeoutMs: number,
  spawnError: () => Error | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = exitOf(child).then(({ code, signal }) => {
    throw new ServerExited(spawnError()?.message ?? `exited with ${signal ?? `code ${code}`}`);
  });
  exited.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', (err) => reject(new ServerExited(err.message))));
  spawnFailed.catch(() => undefined);

  while (Date.now() < deadline) {
    // Each probe gets at most the time left, so the deadline holds even while a probe hangs.
    const budgetMs = Math.max(1, Math.min(3_000, deadline - Date.now()));
    const ready = await Promise.race([answersDescribeNamespace(address, namespace, budgetMs), exited, spawnFailed]);
    if (ready) return;
    await Promise.race([sleep(250), exited, spawnFailed]);
  }
  throw new ServerTimeout('timeout');
}

async function answersDescribeNamespace(address: string, namespace: string, budgetMs: number): Promise<boolean> {
  const deadline = Date.now() + budgetMs;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: budgetMs });
    const conn = connection;
    // The SDK retries UNAVAILABLE with backoff by default; the deadline keeps each probe short.
    await conn.withDeadline(deadline, () => conn.workflowService.describeNamespace({ namespace }));
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

function portInUseMessage(which: 'gRPC' | 'UI', port: number, ip: string): string {
  const envVar = which === 'gRPC' ? 'TEMPORAL_DEV_PORT' : 'TEMPORAL_UI_PORT';
  return `Temporal dev server ${which} port ${port} on ${ip} is already in use. Set ${envVar} to a free port (0 picks one), or stop whatever listens there.`;
}

function describeOutput(tail: OutputTail, logFile: string | undefined): string {
  const output = tail.toString();
  return (output ? `\nServer output:\n${output}` : '\nThe server printed nothing.') + (logFile ? `\n(Full log: ${logFile})` : '');
}

function startupFailure(
  err: Error,
  options: LaunchOptions,
  tail: OutputTail,
  fixed: { fixedPort?: number; fixedUiPort?: number },
): Error {
  const output = tail.toString();
  // The CLI's wording: "can't set frontend port 7233: listen tcp ...: bind: address already in use".
  const taken = /can't set (frontend|UI) port (\d+)[^\n]*address already in use/i.exec(output);
  if (taken) {
    const which = taken[1].toLowerCase() === 'ui' ? 'UI' : 'gRPC';
    const takenPort = Number(taken[2]);
    const wasFixed = which === 'UI' ? fixed.fixedUiPort : fixed.fixedPort;
    if (!wasFixed) return new PortTakenError(`port ${takenPort} was taken before the server could bind it`);
    return new Error(portInUseMessage(which, takenPort, options.ip));
  }
  return new Error(`Temporal dev server (${options.cliPath}) failed to start: ${err.message}.${describeOutput(tail, options.logFile)}`);
}

/**
 * A parent that died without running its 'exit' handler (SIGKILL, an unhandled SIGTERM) leaves
 * its server running, holding the ports and the SQLite file. The pid file next to the database
 * lets the next start recognise that server and stop it, rather than fail on a locked database.
 * A server whose parent is still alive belongs to another running countersign: leave it alone.
 */
async function reapOrphanedServer(dbFile: string, log: (line: string) => void): Promise<void> {
  const pidFile = `${dbFile}.pid`;
  const pid = await readPidFile(pidFile);
  if (pid === undefined) return;
  if (!isProcessAlive(pid)) {
    await fs.rm(pidFile, { force: true });
    return;
  }
  const info = await describeProcess(pid);
  // Cannot inspect it (no /proc, no ps): leave it be; if it is a server, the new one will say so.
  if (!info) return;
  if (!(info.command.includes('start-dev') && commandHasArg(info.command, dbFile))) {
    // Stale: the pid now belongs to something unrelated.
    await fs.rm(pidFile, { force: true });
    return;
  }
  if (info.ppid !== 1) {
    throw new Error(
      `Another Temporal dev server (pid ${pid}, started by pid ${info.ppid}) is already using ${dbFile}. ` +
        `Stop that process (kill ${pid}) or use another data directory.`,
    );
  }
  log(`Stopping Temporal dev server pid ${pid}, left running on ${dbFile} by an earlier run that was killed.`);
  if (!(await terminatePid(pid, [{ signal: 'SIGTERM', waitMs: 10_000 }]))) {
    throw new Error(`Could not stop the leftover Temporal dev server (pid ${pid}) using ${dbFile}; kill it and retry.`);
  }
  await fs.rm(pidFile, { force: true });
}

async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await fs.readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function removePidFileIfOurs(pidFile: string, pid: number | undefined): Promise<void> {
  // A newer server may have taken over the database since (after this one was reaped).
  if (pid !== undefined && (await readPidFile(pidFile)) === pid) await fs.rm(pidFile, { force: true });
}
