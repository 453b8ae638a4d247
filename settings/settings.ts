// Every setting the processes read from the environment, in one place, with its default: the one
// reader of `process.env` in production code (a unit test holds that line). Validated by envalid,
// which names every bad variable at once; the Temporal connection by Temporal's own envconfig
// (temporal-connection.ts). The deployers hand the worker's environment on to deploy commands
// and git, deliberately (activities/deployers/index.ts, activities/git.ts); they read none of it.

import path from 'node:path';
import { EnvError, cleanEnv, makeValidator, str, url } from 'envalid';
import { LOG_LEVELS, type LogLevel, parseLogLevel } from './logger';
import { readTemporalProfile, type TemporalConnectionSettings } from './temporal-connection';

export interface Settings {
  port: number;
  /** TEMPORAL_ADDRESS, or the address of the Temporal profile (settings/temporal-connection.ts). */
  temporalAddress?: string;
  /** TLS, mutual TLS or an API key for that address (settings/temporal-connection.ts). */
  temporalConnection: TemporalConnectionSettings;
  temporalNamespace: string;
  temporalDevPort: number;
  temporalUiPort: number;
  temporalUiUrl?: string;
  databaseUrl?: string;
  dataDir: string;
  adminToken?: string;
  configPath: string;
  publicUrl?: string;
  /**
   * COUNTERSIGN_PUBLIC_URL: the base of links in notifications (the approver page,
   * `<base>/ui/deployments/{id}`); default the API's own URL, http://127.0.0.1:PORT.
   */
  publicBaseUrl: string;
  /** COUNTERSIGN_WORKFLOW_BUNDLE: a prebuilt workflow bundle for the worker. */
  workflowBundlePath?: string;
  /** COUNTERSIGN_EVIDENCE_KEY: the Ed25519 signing key's file; else one kept under dataDir. */
  evidenceKeyPath?: string;
  /** The environment the policy file's `${NAME}` references are resolved against. */
  policyEnv: Readonly<Record<string, string | undefined>>;
  /** COUNTERSIGN_LOG_LEVEL: trace, debug, info (default), warn, error, fatal or silent. */
  logLevel: LogLevel;
  /**
   * COUNTERSIGN_DATABASE_POOL_SIZE: the connections the API keeps open to PostgreSQL (default
   * 10). A request holds one for each query it makes, never across a call to Temporal.
   */
  databasePoolSize: number;
  /**
   * COUNTERSIGN_WORKER_MAX_CACHED_WORKFLOWS: the deployments the worker keeps in memory between
   * their tasks (default 400); one past it is replayed from its history at its next task. The
   * worker's memory grows with it (roughly 0.25 MB each), not with the number of pending requests.
   */
  workerMaxCachedWorkflows: number;
}

const portNumber = makeValidator<number>((input) => {
  const parsed = Number(input);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new EnvError(`must be a port number from 0 to 65535, got ${JSON.stringify(input)}`);
  return parsed;
});

const poolSize = makeValidator<number>((input) => {
  const parsed = Number(input);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 1000) throw new EnvError(`must be a whole number from 1 to 1000, got ${JSON.stringify(input)}`);
  return parsed;
});

/**
 * Deployments the worker keeps in memory between their tasks. Each costs memory (issue 9
 * measured about 0.25 MB a cached deployment over a worker of about 270 MB); one evicted is
 * replayed from its short history at its next task, which costs milliseconds. 400 keeps the
 * worker under 400 MB however many requests are pending.
 */
export const DEFAULT_WORKER_MAX_CACHED_WORKFLOWS = 400;

/**
 * glibc's malloc arenas for Countersign's processes (MALLOC_ARENA_MAX). glibc makes up to eight
 * per core for a process's threads (the Temporal core's, libuv's, PostgreSQL's client), and in a
 * worker that replays evicted workflows their fragments held about 50 MB of RSS that two arenas
 * do not (`npm run bench`, 10,000 pending: 401 MB against 358 MB, CPU unchanged). glibc reads it
 * as a process starts, so it is set where Countersign's processes are started: the Dockerfile,
 * local/start.ts and the bench; an operator's own value wins.
 */
export const MALLOC_ARENA_MAX = '2';

/** The worker's workflow cache: 0 turns it off (every task replays); Temporal wants at least 2 otherwise. */
const cacheSize = makeValidator<number>((input) => {
  const parsed = Number(input);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed === 1) throw new EnvError(`must be 0 (no cache) or a whole number of at least 2, got ${JSON.stringify(input)}`);
  return parsed;
});

/** trace, debug, info, warn, error, fatal or silent, in any case (`WARN` as well as `warn`). */
const logLevel = makeValidator<LogLevel>((input) => {
  try {
    return parseLogLevel(input);
  } catch {
    throw new EnvError(`must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(input)}`);
  }
});

const SPEC = {
  PORT: portNumber({ default: 3000 }),
  TEMPORAL_DEV_PORT: portNumber({ default: 7233 }),
  TEMPORAL_UI_PORT: portNumber({ default: 8233 }),
  TEMPORAL_UI_URL: url({ default: undefined }),
  DATABASE_URL: url({ default: undefined }),
  COUNTERSIGN_DATA_DIR: str({ default: '.data' }),
  COUNTERSIGN_ADMIN_TOKEN: str({ default: undefined }),
  COUNTERSIGN_CONFIG: str({ default: 'config/countersign.yaml' }),
  COUNTERSIGN_URL: url({ default: undefined }),
  COUNTERSIGN_PUBLIC_URL: url({ default: undefined }),
  COUNTERSIGN_WORKFLOW_BUNDLE: str({ default: undefined }),
  COUNTERSIGN_EVIDENCE_KEY: str({ default: undefined }),
  COUNTERSIGN_LOG_LEVEL: logLevel({ default: 'info' }),
  COUNTERSIGN_DATABASE_POOL_SIZE: poolSize({ default: 10 }),
  COUNTERSIGN_WORKER_MAX_CACHED_WORKFLOWS: cacheSize({ default: DEFAULT_WORKER_MAX_CACHED_WORKFLOWS }),
};

/** Empty means unset, as a compose file leaves a variable it was given no value for. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const clean = cleanEnv(withoutEmpty(env), SPEC, {
    // envalid's own reporter exits the process; a caller (and a test) gets an error to handle instead.
    reporter: ({ errors }) => {
      const bad = Object.entries(errors).map(([name, err]) => `${name} ${err?.message ?? 'is invalid'}`);
      if (bad.length) throw new Error(`invalid settings: ${bad.join('; ')}`);
    },
  });
  const temporal = readTemporalProfile(env);
  return {
    port: clean.PORT,
    temporalAddress: temporal.address,
    temporalConnection: temporal.connection,
    temporalNamespace: temporal.namespace ?? 'default',
    temporalDevPort: clean.TEMPORAL_DEV_PORT,
    temporalUiPort: clean.TEMPORAL_UI_PORT,
    temporalUiUrl: clean.TEMPORAL_UI_URL,
    databaseUrl: clean.DATABASE_URL,
    dataDir: path.resolve(clean.COUNTERSIGN_DATA_DIR),
    adminToken: clean.COUNTERSIGN_ADMIN_TOKEN,
    configPath: path.resolve(clean.COUNTERSIGN_CONFIG),
    publicUrl: clean.COUNTERSIGN_URL,
    publicBaseUrl: (clean.COUNTERSIGN_PUBLIC_URL ?? `http://127.0.0.1:${clean.PORT}`).replace(/\/+$/, ''),
    workflowBundlePath: clean.COUNTERSIGN_WORKFLOW_BUNDLE,
    evidenceKeyPath: clean.COUNTERSIGN_EVIDENCE_KEY,
    policyEnv: env,
    logLevel: clean.COUNTERSIGN_LOG_LEVEL,
    databasePoolSize: clean.COUNTERSIGN_DATABASE_POOL_SIZE,
    workerMaxCachedWorkflows: clean.COUNTERSIGN_WORKER_MAX_CACHED_WORKFLOWS,
  };
}

/** For the halves run alone (`npm run api`, `npm run worker`): both servers must be given. */
export function requireServers(settings: Settings, who: string): { temporalAddress: string; databaseUrl: string } {
  const missing = [
    settings.temporalAddress ? undefined : 'TEMPORAL_ADDRESS',
    settings.databaseUrl ? undefined : 'DATABASE_URL',
  ].filter(Boolean);
  if (missing.length) {
    throw new Error(`${who} runs against existing servers: set ${missing.join(' and ')} (or use \`npm start\`, which starts embedded ones)`);
  }
  return { temporalAddress: settings.temporalAddress!, databaseUrl: settings.databaseUrl! };
}
