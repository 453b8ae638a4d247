// Every setting the processes read from the environment, in one place, with its default.

import path from 'node:path';
import { readTemporalConnectionSettings, type TemporalConnectionSettings } from './temporal-connection';

export interface Settings {
  port: number;
  temporalAddress?: string;
  /** TLS, mutual TLS or an API key for TEMPORAL_ADDRESS (settings/temporal-connection.ts). */
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
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) {
    throw new Error(`${name} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  return {
    port: port('PORT', env.PORT, 3000),
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    temporalConnection: readTemporalConnectionSettings(env),
    temporalNamespace: env.TEMPORAL_NAMESPACE || 'default',
    temporalDevPort: port('TEMPORAL_DEV_PORT', env.TEMPORAL_DEV_PORT, 7233),
    temporalUiPort: port('TEMPORAL_UI_PORT', env.TEMPORAL_UI_PORT, 8233),
    temporalUiUrl: env.TEMPORAL_UI_URL || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: path.resolve(env.COUNTERSIGN_DATA_DIR || '.data'),
    adminToken: env.COUNTERSIGN_ADMIN_TOKEN || undefined,
    configPath: path.resolve(env.COUNTERSIGN_CONFIG || 'config/countersign.yaml'),
    publicUrl: env.COUNTERSIGN_URL || undefined,
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
