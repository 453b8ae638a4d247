import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeTemporalConnection, readTemporalConnectionSettings } from '../../settings/temporal-connection';
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
