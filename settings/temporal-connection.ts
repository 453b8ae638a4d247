// How the API and the worker reach Temporal: plain, TLS, mutual TLS or an API key. Temporal's own
// client environment configuration reads it (@temporalio/envconfig: the TEMPORAL_* variables over
// a profile of the TOML file the `temporal` CLI uses too, TEMPORAL_CONFIG_FILE or
// ~/.config/temporalio/temporal.toml, profile TEMPORAL_PROFILE or `default`), so one set of
// settings serves Countersign, the CLI and any other Temporal client alike. What is kept here is
// only what envconfig lets through and an approval gate must not: settings that would silently
// connect less safely than asked are refused, naming the variable.
//
// Mutual TLS is what limits the namespace to Countersign's own processes: whoever can send an
// update to a deployment workflow can claim to be any approver (docs/SECURITY.md).

import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { type ClientConfigProfile, type ConfigDataSource, loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';

export interface TemporalConnectionSettings {
  /** Undefined: a plain connection. */
  tls?: TLSConfig;
  apiKey?: string;
  /** gRPC headers from the profile's grpc_meta or TEMPORAL_GRPC_META_*. */
  metadata?: Record<string, string>;
}

export interface TemporalProfile {
  /** TEMPORAL_ADDRESS or the profile's address; undefined: none given (npm start runs its own). */
  address?: string;
  /** TEMPORAL_NAMESPACE or the profile's namespace. */
  namespace?: string;
  connection: TemporalConnectionSettings;
}

type Env = Record<string, string | undefined>;

class TemporalSettingError extends Error {}

/** Empty means unset, as a compose file leaves a variable it was given no value for. */
function given(env: Env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}

function flag(env: Record<string, string>, name: string): boolean | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  // envconfig reads anything but `1` and `true` as false: TEMPORAL_TLS=yes would switch TLS off.
  throw new TemporalSettingError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

const PEM_SETTINGS = [
  { field: 'clientCert', variable: 'TEMPORAL_TLS_CLIENT_CERT', key: 'client_cert', what: 'client certificate' },
  { field: 'clientKey', variable: 'TEMPORAL_TLS_CLIENT_KEY', key: 'client_key', what: 'client private key' },
  { field: 'serverCACert', variable: 'TEMPORAL_TLS_SERVER_CA_CERT', key: 'server_ca_cert', what: 'server CA certificate' },
] as const;

/** Checks on the variables themselves, before envconfig reads them (it would accept each of these). */
function refuseUnsafeVariables(env: Record<string, string>): void {
  flag(env, 'TEMPORAL_TLS');
  // envconfig passes over a missing file as if none were named; a named one must be there.
  const file = env.TEMPORAL_CONFIG_FILE;
  if (file) {
    try {
      readFileSync(file);
    } catch (err) {
      throw new TemporalSettingError(`TEMPORAL_CONFIG_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (flag(env, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION')) {
    // The SDK cannot skip it, and an unverified server could collect every approval.
    throw new TemporalSettingError(
      "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported: give the name in the server's certificate as TEMPORAL_TLS_SERVER_NAME instead",
    );
  }
  for (const { variable, what } of PEM_SETTINGS) {
    if (env[`${variable}_PATH`] && env[`${variable}_DATA`]) {
      throw new TemporalSettingError(`set ${variable}_PATH or ${variable}_DATA for the ${what}, not both`);
    }
  }
}

function loadProfile(env: Record<string, string>): ClientConfigProfile {
  try {
    // Strict: a misspelt key in the file (or disable_host_verification, which the SDK ignores)
    // is refused rather than silently dropped.
    return loadClientConfigProfile({ overrideEnvVars: env, configFileStrict: true });
  } catch (err) {
    const file = env.TEMPORAL_CONFIG_FILE ?? '~/.config/temporalio/temporal.toml';
    const profile = env.TEMPORAL_PROFILE ?? 'default';
    throw new TemporalSettingError(`the Temporal config file ${file} (profile ${profile}): ${(err as Error).message}`);
  }
}

/** Reads a file named by a path setting ourselves, to say which setting names an unreadable or non-PEM file. */
function checkedPem(env: Record<string, string>, source: ConfigDataSource | undefined, variable: string, key: string, what: string): ConfigDataSource | undefined {
  if (!source || !('path' in source)) return source;
  // The variable wins over the file, so whichever is set is the one that named this path.
  const name = env[`${variable}_PATH`] ? `${variable}_PATH` : `tls.${key}_path of the Temporal profile`;
  let content: Buffer;
  try {
    content = readFileSync(source.path);
  } catch (err) {
    throw new TemporalSettingError(`${name}: cannot read the ${what} at ${source.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!content.toString('utf8').includes('-----BEGIN ')) {
    throw new TemporalSettingError(`${name}: ${source.path} is not PEM (no "-----BEGIN" line); give the ${what} in PEM form`);
  }
  return { data: content };
}

function stricter(env: Record<string, string>, profile: ClientConfigProfile): ClientConfigProfile {
  const tls = profile.tls;
  if (!tls) return profile;
  const hasCert = Boolean(tls.clientCert);
  if (hasCert !== Boolean(tls.clientKey)) {
    throw new TemporalSettingError(
      `mutual TLS needs both the client certificate and its key: ${hasCert ? 'TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA) is' : 'TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) is'} missing` +
        ` (or tls.${hasCert ? 'client_key' : 'client_cert'}_path in the Temporal profile)`,
    );
  }
  const material = Boolean(tls.clientCert || tls.serverCACert || tls.serverName);
  if (tls.disabled && material) {
    throw new TemporalSettingError('TEMPORAL_TLS is false but TLS settings are given (TEMPORAL_TLS_* or the profile\'s tls); remove one or the other');
  }
  const checked = { ...tls };
  for (const { field, variable, key, what } of PEM_SETTINGS) checked[field] = checkedPem(env, tls[field], variable, key, what);
  return { ...profile, tls: checked };
}

/** envconfig's TLS answer (a config, true, false or nothing) as the one shape the processes use. */
function tlsOf(tls: TLSConfig | boolean | null | undefined): TLSConfig | undefined {
  if (!tls) return undefined;
  if (tls === true) return {};
  return Object.fromEntries(Object.entries(tls).filter(([, value]) => value !== undefined)) as TLSConfig;
}

/**
 * The Temporal server to reach and how, from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS*,
 * TEMPORAL_API_KEY, TEMPORAL_GRPC_META_* and the profile file, through @temporalio/envconfig.
 * Throws, naming the setting, on anything it cannot honour: a half-given certificate pair, an
 * unreadable or non-PEM file, TLS switched off beside TLS material, host verification switched off.
 */
export function readTemporalProfile(env: Env): TemporalProfile {
  try {
    const variables = given(env);
    refuseUnsafeVariables(variables);
    const profile = stricter(variables, loadProfile(variables));
    const { connectionOptions, namespace } = toClientOptions(profile);
    // Strings only: that is all a profile's grpc_meta or TEMPORAL_GRPC_META_* can hold.
    const metadata = profile.grpcMeta && Object.keys(profile.grpcMeta).length ? profile.grpcMeta : undefined;
    return {
      address: connectionOptions.address || undefined,
      namespace: namespace || undefined,
      connection: {
        tls: tlsOf(connectionOptions.tls),
        apiKey: connectionOptions.apiKey || undefined,
        ...(metadata ? { metadata } : {}),
      },
    };
  } catch (err) {
    if (err instanceof TemporalSettingError) throw new Error(`Temporal connection: ${err.message}`);
    throw err;
  }
}

/** Only how the connection is secured (the address and namespace aside). */
export function readTemporalConnectionSettings(env: Env): TemporalConnectionSettings {
  return readTemporalProfile(env).connection;
}

/** For logs: how a connection is secured, never with any secret. */
export function describeTemporalConnection(settings: TemporalConnectionSettings): string {
  const parts = [settings.tls ? (settings.tls.clientCertPair ? 'mutual TLS' : 'TLS') : 'plaintext'];
  if (settings.apiKey) parts.push('API key');
  return parts.join(' + ');
}
