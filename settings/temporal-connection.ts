// How the API and the worker reach an existing Temporal server: plain, TLS, mutual TLS or an
// API key. The variable names are Temporal's own client environment configuration, so one set
// of variables serves Countersign, the `temporal` CLI and any other Temporal client alike.
//
// Mutual TLS is what limits the namespace to Countersign's own processes: whoever can send an
// update to a deployment workflow can claim to be any approver (docs/SECURITY.md).

import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';

export interface TemporalConnectionSettings {
  /** Undefined: a plain connection. */
  tls?: TLSConfig;
  apiKey?: string;
}

type Env = Record<string, string | undefined>;

class TemporalSettingError extends Error {}

/** PEM from a `…_PATH` variable (a file) or a `…_DATA` variable (the PEM itself), never both. */
function pem(env: Env, base: string, what: string): Buffer | undefined {
  const pathName = `${base}_PATH`;
  const dataName = `${base}_DATA`;
  const file = env[pathName] || undefined;
  const data = env[dataName] || undefined;
  if (file && data) throw new TemporalSettingError(`set ${pathName} or ${dataName} for the ${what}, not both`);
  if (data) return Buffer.from(data);
  if (!file) return undefined;
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    throw new TemporalSettingError(`${pathName}: cannot read the ${what} at ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!content.toString('utf8').includes('-----BEGIN ')) {
    throw new TemporalSettingError(`${pathName}: ${file} is not PEM (no "-----BEGIN" line); give the ${what} in PEM form`);
  }
  return content;
}

function flag(env: Env, name: string): boolean | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new TemporalSettingError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * Reads TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH/_DATA, TEMPORAL_TLS_CLIENT_KEY_PATH/_DATA,
 * TEMPORAL_TLS_SERVER_CA_CERT_PATH/_DATA, TEMPORAL_TLS_SERVER_NAME and TEMPORAL_API_KEY (and refuses
 * TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true).
 * Throws, naming the variable, on anything it cannot honour: a half-given certificate pair
 * or TLS switched off beside TLS material would silently connect less safely than asked.
 */
export function readTemporalConnectionSettings(env: Env = process.env): TemporalConnectionSettings {
  try {
    const enabled = flag(env, 'TEMPORAL_TLS');
    const crt = pem(env, 'TEMPORAL_TLS_CLIENT_CERT', 'client certificate');
    const key = pem(env, 'TEMPORAL_TLS_CLIENT_KEY', 'client private key');
    const ca = pem(env, 'TEMPORAL_TLS_SERVER_CA_CERT', 'server CA certificate');
    const serverName = env.TEMPORAL_TLS_SERVER_NAME || undefined;
    if (flag(env, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION')) {
      // The SDK cannot skip it, and an unverified server could collect every approval.
      throw new TemporalSettingError(
        'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported: give the name in the server\'s certificate as TEMPORAL_TLS_SERVER_NAME instead',
      );
    }
    const apiKey = env.TEMPORAL_API_KEY || undefined;

    if (Boolean(crt) !== Boolean(key)) {
      throw new TemporalSettingError(
        `mutual TLS needs both the client certificate and its key: ${crt ? 'TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA) is' : 'TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) is'} missing`,
      );
    }
    const material = Boolean(crt || ca || serverName);
    if (enabled === false && material) {
      throw new TemporalSettingError('TEMPORAL_TLS is false but TLS settings are given (TEMPORAL_TLS_*); remove one or the other');
    }
    // An API key travels over TLS unless TLS is explicitly off (a local test server).
    if (enabled === false || (!enabled && !material && !apiKey)) return { apiKey };
    return {
      tls: {
        ...(serverName ? { serverNameOverride: serverName } : {}),
        ...(ca ? { serverRootCACertificate: ca } : {}),
        ...(crt && key ? { clientCertPair: { crt, key } } : {}),
      },
      apiKey,
    };
  } catch (err) {
    if (err instanceof TemporalSettingError) throw new Error(`Temporal connection: ${err.message}`);
    throw err;
  }
}

/** For logs: how a connection is secured, never with any secret. */
export function describeTemporalConnection(settings: TemporalConnectionSettings): string {
  const parts = [settings.tls ? (settings.tls.clientCertPair ? 'mutual TLS' : 'TLS') : 'plaintext'];
  if (settings.apiKey) parts.push('API key');
  return parts.join(' + ');
}
