// The one structured logger: JSON lines through pino, for the API (through Nest and pino-http),
// the worker, and the Temporal runtime (which carries the SDK's own logs and `log` from
// @temporalio/activity inside activities). The CLI prints for people and does not use it.

import type { LogLevel as TemporalLogLevel, Logger as TemporalLogger, LogMetadata } from '@temporalio/common';
import pino, { type DestinationStream, type LevelWithSilent, type Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = LevelWithSilent;

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** COUNTERSIGN_LOG_LEVEL, any case (`WARN` as well as `warn`); `info` when unset. */
export function parseLogLevel(value: string | undefined, name = 'COUNTERSIGN_LOG_LEVEL'): LogLevel {
  if (value === undefined || value === '') return 'info';
  const level = value.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new Error(`${name} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
  return level;
}

/**
 * Secrets never reach a log line: requests are logged by the fields below alone (no headers,
 * no body, no query string), and these keys are censored wherever a logged object carries them.
 */
const REDACT = [
  'authorization',
  'token',
  'secret',
  'password',
  'apiKey',
  '*.authorization',
  '*.token',
  '*.secret',
  '*.password',
  '*.apiKey',
  '*.headers.authorization',
  '*.headers.cookie',
];

export interface LoggerOptions {
  level: LogLevel;
  /** `api` or `worker`: which process wrote the line. */
  name: string;
  /** Where the lines go; standard output when omitted. */
  destination?: DestinationStream;
}

export function createLogger({ level, name, destination }: LoggerOptions): Logger {
  return pino({ level, name, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

/**
 * What a request log line says about a request (pino-http's serializer, given pino's standard
 * view of it): never its headers, body or query string.
 */
export function requestFields(req: { id?: unknown; method?: string; url?: string; remoteAddress?: string }) {
  return { id: req.id, method: req.method, path: (req.url ?? '').split('?')[0], remoteAddress: req.remoteAddress };
}

export function responseFields(res: { statusCode?: number }) {
  return { statusCode: res.statusCode };
}

const TO_PINO: Record<TemporalLogLevel, Exclude<LogLevel, 'silent' | 'fatal'>> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal runtime's level for a pino level (the runtime has no `fatal` or `silent`). */
export function temporalLogLevel(level: LogLevel): TemporalLogLevel {
  if (level === 'fatal' || level === 'silent') return 'ERROR';
  return level.toUpperCase() as TemporalLogLevel;
}

/**
 * The Temporal runtime's logger (`Runtime.install({ logger })`) writing to `logger`: the SDK's
 * lines, the workflows' `log` and the activities' `log` (with their workflow and activity
 * metadata as fields) come out as the same JSON lines as everything else.
 */
export function temporalLogger(logger: Logger): TemporalLogger {
  const temporal = logger.child({ component: 'temporal' });
  const log = (level: TemporalLogLevel, message: string, meta?: LogMetadata) => {
    // Symbol keys (the SDK's timestamp) are not serialised; pino stamps its own time.
    temporal[TO_PINO[level]]({ ...meta }, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}
