import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeTemporalConnection, readTemporalConnectionSettings, readTemporalProfile } from '../../settings/temporal-connection';
import { readSettings } from '../../settings/settings';

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-tls-settings-'));
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const certFile = path.join(dir, 'client.pem');
const keyFile = path.join(dir, 'client.key');
const caFile = path.join(dir, 'ca.pem');
const notPem = path.join(dir, 'client.der');
writeFileSync(certFile, PEM);
writeFileSync(keyFile, KEY);
writeFileSync(caFile, PEM);
writeFileSync(notPem, Buffer.from([0x30, 0x82, 0x01]));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readTemporalConnectionSettings', () => {
  const mutual = { TEMPORAL_TLS_CLIENT_CERT_PATH: certFile, TEMPORAL_TLS_CLIENT_KEY_PATH: keyFile };

  it.each<[string, string, Record<string, string>]>([
    ['nothing set', 'plaintext', {}],
    ['empty values, as a compose file leaves them', 'plaintext', { TEMPORAL_TLS: '', TEMPORAL_TLS_SERVER_NAME: '', TEMPORAL_API_KEY: '' }],
    ['TEMPORAL_TLS=true alone', 'TLS', { TEMPORAL_TLS: 'true' }],
    ['TEMPORAL_TLS=false alone', 'plaintext', { TEMPORAL_TLS: 'false' }],
    ['a server CA alone', 'TLS', { TEMPORAL_TLS_SERVER_CA_CERT_PATH: caFile }],
    ['a server name alone', 'TLS', { TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' }],
    ['a client certificate and key', 'mutual TLS', mutual],
    ['the pair as PEM text', 'mutual TLS', { TEMPORAL_TLS_CLIENT_CERT_DATA: PEM, TEMPORAL_TLS_CLIENT_KEY_DATA: KEY }],
    ['an API key (TLS by default)', 'TLS + API key', { TEMPORAL_API_KEY: 'k' }],
    ['an API key with TLS off (a local server)', 'plaintext + API key', { TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }],
  ])('%s: %s', (_name, described, env) => {
    expect(describeTemporalConnection(readTemporalConnectionSettings(env))).toBe(described);
  });

  it('passes what it read to the connection', () => {
    const settings = readTemporalConnectionSettings({ ...mutual, TEMPORAL_TLS_SERVER_CA_CERT_PATH: caFile, TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' });
    expect(settings.tls?.serverNameOverride).toBe('temporal.internal');
    expect(Buffer.from(settings.tls!.serverRootCACertificate!).toString()).toBe(PEM);
    expect(Buffer.from(settings.tls!.clientCertPair!.crt).toString()).toBe(PEM);
    expect(Buffer.from(settings.tls!.clientCertPair!.key).toString()).toBe(KEY);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a certificate without its key', { TEMPORAL_TLS_CLIENT_CERT_PATH: certFile }, /both the client certificate and its key: TEMPORAL_TLS_CLIENT_KEY_PATH \(or _DATA\) is missing/],
    ['a key without its certificate', { TEMPORAL_TLS_CLIENT_KEY_DATA: KEY }, /TEMPORAL_TLS_CLIENT_CERT_PATH \(or _DATA\) is missing/],
    ['a path and PEM text for the same thing', { ...mutual, TEMPORAL_TLS_CLIENT_CERT_DATA: PEM }, /set TEMPORAL_TLS_CLIENT_CERT_PATH or TEMPORAL_TLS_CLIENT_CERT_DATA for the client certificate, not both/],
    ['a file that is not there', { ...mutual, TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'missing.pem') }, /TEMPORAL_TLS_SERVER_CA_CERT_PATH: cannot read the server CA certificate at .*missing\.pem \(ENOENT\)/],
    ['a file that is not PEM', { ...mutual, TEMPORAL_TLS_CLIENT_CERT_PATH: notPem }, /TEMPORAL_TLS_CLIENT_CERT_PATH: .*client\.der is not PEM/],
    ['TLS off beside TLS settings', { ...mutual, TEMPORAL_TLS: 'false' }, /TEMPORAL_TLS is false but TLS settings are given/],
    ['TEMPORAL_TLS neither true nor false', { TEMPORAL_TLS: 'yes' }, /TEMPORAL_TLS must be true or false, got "yes"/],
    ["skipping the server's host verification", { ...mutual, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }, /TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported: give the name .* as TEMPORAL_TLS_SERVER_NAME/],
  ])('refuses %s, naming the variable', (_name, env, message) => {
    expect(() => readTemporalConnectionSettings(env)).toThrow(message);
  });

  it('never shows a secret when it describes a connection', () => {
    const described = describeTemporalConnection(readTemporalConnectionSettings({ TEMPORAL_API_KEY: 'very-secret-key', TEMPORAL_TLS_CLIENT_CERT_DATA: PEM, TEMPORAL_TLS_CLIENT_KEY_DATA: KEY }));
    expect(described).toBe('mutual TLS + API key');
  });

  it('is part of the settings every process reads, so a bad one stops start-up', () => {
    expect(readSettings({ TEMPORAL_TLS: 'true' }).temporalConnection.tls).toEqual({});
    expect(() => readSettings({ TEMPORAL_TLS_CLIENT_CERT_PATH: certFile })).toThrow(/^Temporal connection: mutual TLS needs both/);
  });
});

describe('readTemporalProfile: the TEMPORAL_* variables over a profile of the Temporal config file (envconfig)', () => {
  const toml = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads the address, namespace and TLS of the default profile, and the variables win over the file', () => {
    const file = toml('default.toml', `[profile.default]\naddress = "temporal.internal:7233"\nnamespace = "gate"\n[profile.default.tls]\nserver_name = "temporal.internal"\nserver_ca_cert_path = "${caFile}"\n`);
    const fromFile = readTemporalProfile({ TEMPORAL_CONFIG_FILE: file });
    expect(fromFile.address).toBe('temporal.internal:7233');
    expect(fromFile.namespace).toBe('gate');
    expect(describeTemporalConnection(fromFile.connection)).toBe('TLS');
    expect(fromFile.connection.tls?.serverNameOverride).toBe('temporal.internal');
    expect(Buffer.from(fromFile.connection.tls!.serverRootCACertificate!).toString()).toBe(PEM);
    const overridden = readTemporalProfile({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: 'other:7233', TEMPORAL_NAMESPACE: 'ns2' });
    expect([overridden.address, overridden.namespace]).toEqual(['other:7233', 'ns2']);
  });

  it('selects the profile TEMPORAL_PROFILE names, and carries its gRPC headers', () => {
    const file = toml('profiles.toml', '[profile.default]\naddress = "a:1"\n[profile.prod]\naddress = "b:2"\n[profile.prod.grpc_meta]\nx-tenant = "gate"\n');
    const prod = readTemporalProfile({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' });
    expect(prod.address).toBe('b:2');
    expect(prod.connection.metadata).toEqual({ 'x-tenant': 'gate' });
  });

  it.each<[string, string, Record<string, string>, RegExp]>([
    ['a profile that is not in the file', '[profile.default]\naddress = "a:1"\n', { TEMPORAL_PROFILE: 'staging' }, /profile staging\): Profile 'staging' not found/],
    ['a certificate without its key in the profile', `[profile.default.tls]\nclient_cert_path = "${certFile}"\n`, {}, /mutual TLS needs both .*tls\.client_key_path in the Temporal profile/],
    ['TLS disabled in the profile beside a server name', '[profile.default.tls]\ndisabled = true\nserver_name = "t"\n', {}, /TLS settings are given .*remove one or the other/],
    ["host verification switched off in the profile", '[profile.default.tls]\ndisable_host_verification = true\n', {}, /unrecognized in profile\.default\.tls: disable_host_verification/],
    ['a misspelt key in the profile', '[profile.default.tls]\nserver_nmae = "t"\n', {}, /unrecognized in profile\.default\.tls: server_nmae/],
    ['an unreadable file the profile names', `[profile.default.tls]\nserver_ca_cert_path = "${path.join(dir, 'gone.pem')}"\n`, {}, /tls\.server_ca_cert_path of the Temporal profile: cannot read .*gone\.pem \(ENOENT\)/],
  ])('refuses %s, naming the setting', (_name, text, env, message) => {
    const file = toml(`bad-${_name.replace(/\W+/g, '-')}.toml`, text);
    expect(() => readTemporalProfile({ TEMPORAL_CONFIG_FILE: file, ...env })).toThrow(message);
  });

  it('refuses a TEMPORAL_CONFIG_FILE that is not there (envconfig would pass over it)', () => {
    expect(() => readTemporalProfile({ TEMPORAL_CONFIG_FILE: path.join(dir, 'nowhere.toml') })).toThrow(/TEMPORAL_CONFIG_FILE: cannot read .*nowhere\.toml \(ENOENT\)/);
  });
});

describe('readSettings', () => {
  it('takes the Temporal address and namespace from the same profile as the connection', () => {
    const file = path.join(dir, 'settings.toml');
    writeFileSync(file, '[profile.default]\naddress = "temporal.internal:7233"\nnamespace = "gate"\n');
    const settings = readSettings({ TEMPORAL_CONFIG_FILE: file });
    expect([settings.temporalAddress, settings.temporalNamespace]).toEqual(['temporal.internal:7233', 'gate']);
    expect(readSettings({}).temporalNamespace).toBe('default');
  });

  it('treats empty values as unset and applies the defaults', () => {
    const settings = readSettings({ PORT: '', DATABASE_URL: '', TEMPORAL_ADDRESS: '', COUNTERSIGN_DATA_DIR: '' });
    expect(settings.port).toBe(3000);
    expect(settings.databaseUrl).toBeUndefined();
    expect(settings.temporalAddress).toBeUndefined();
    expect(settings.dataDir).toBe(path.resolve('.data'));
  });

  it('refuses every invalid variable at once, naming each', () => {
    expect(() => readSettings({ PORT: '70000', TEMPORAL_UI_PORT: 'x', DATABASE_URL: 'not a url' })).toThrow(
      /invalid settings: PORT must be a port number from 0 to 65535, got "70000"; TEMPORAL_UI_PORT must be a port .*"x"; DATABASE_URL Invalid url/,
    );
  });
});
