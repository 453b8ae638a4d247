// Whoever can send an update to a deployment workflow can claim to be any approver, so in
// production only Countersign's own processes may reach its Temporal namespace: mutual TLS.
// Here the API and the worker reach the suite's real Temporal through a frontend that demands
// a client certificate, configured by the same TEMPORAL_TLS_* variables the processes read.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectTemporal } from '../../settings/temporal';
import { findOrInstallTemporalCli } from '../../local/temporal-cli';
import { readTemporalConnectionSettings } from '../../settings/temporal-connection';
import { deploymentBody, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { makeAuthority, type MutualTlsFrontend, SERVER_NAME, startMutualTlsFrontend } from '../support/mtls';

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-mtls-'));
const authority = makeAuthority(dir, 'countersign');
const server = authority.issue('temporal-frontend', 'serverAuth', `DNS:${SERVER_NAME}`);
const client = authority.issue('countersign-worker', 'clientAuth');
const otherAuthority = makeAuthority(dir, 'stranger');
const stranger = otherAuthority.issue('someone-else', 'clientAuth');

let frontend: MutualTlsFrontend;
let harness: Harness | undefined;

function tlsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: frontend.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: authority.ca,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    ...extra,
  };
}

beforeAll(async () => {
  frontend = await startMutualTlsFrontend({ target: process.env.TEMPORAL_ADDRESS!, cert: server.cert, key: server.key, clientCa: authority.ca });
});

afterAll(async () => {
  await harness?.close();
  await frontend?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('runs the whole gate over mutual TLS: the API, the worker and their activities', async () => {
  harness = await startCountersign({
    temporalEnv: tlsEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: client.key }),
  });
  const cast = await standardCast(harness);
  const body = deploymentBody();
  const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
  for (const approver of [cast.bob, cast.erin]) {
    const answer = await cast.http.post(`/v1/deployments/${created.id}/approvals`, approver.token, { digest: body.artifact.digest });
    expect(answer.status).toBe(200);
  }
  await waitForStatus(cast.http, cast.ci.token, created.id, ['DEPLOYED']);
  // The API's client (grpc-js) and the worker (Rust core) each came through the frontend.
  expect(frontend.authorizedConnections).toBeGreaterThanOrEqual(2);
});

it('takes the certificate and key as PEM text too, for secrets passed in the environment', async () => {
  const settings = readTemporalConnectionSettings(tlsEnv({
    TEMPORAL_TLS_CLIENT_CERT_DATA: readFileSync(client.cert, 'utf8'),
    TEMPORAL_TLS_CLIENT_KEY_DATA: readFileSync(client.key, 'utf8'),
  }));
  const connection = await connectTemporal(frontend.address, settings, 5_000);
  await connection.close();
});

it('is refused without a client certificate, or with one from another authority', async () => {
  const withoutCertificate = readTemporalConnectionSettings(tlsEnv());
  await expect(connectTemporal(frontend.address, withoutCertificate, 1_000)).rejects.toThrow(
    new RegExp(`cannot reach Temporal at ${frontend.address} over TLS: .*TEMPORAL_TLS_\\* settings`),
  );
  const foreign = readTemporalConnectionSettings(tlsEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: stranger.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: stranger.key }));
  await expect(connectTemporal(frontend.address, foreign, 1_000)).rejects.toThrow(/over mutual TLS/);
});

it('refuses a server whose certificate it cannot verify', async () => {
  const settings = readTemporalConnectionSettings(tlsEnv({
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherAuthority.ca,
    TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
  }));
  await expect(connectTemporal(frontend.address, settings, 1_000)).rejects.toThrow(/cannot reach Temporal/);
});

it('uses the variables the temporal CLI reads, so operators configure both alike', async () => {
  const cli = await findOrInstallTemporalCli({ log: () => undefined });
  const health = (env: Record<string, string>) =>
    new Promise<{ ok: boolean; output: string }>((resolve) => {
      execFile(cli!, ['operator', 'cluster', 'health', '--command-timeout', '5s'], { env: { PATH: process.env.PATH, HOME: dir, ...env } }, (err, stdout, stderr) =>
        resolve({ ok: !err, output: `${stdout}${stderr}` }));
    });
  const withCertificate = tlsEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: client.key });
  const healthy = await health(withCertificate);
  expect(healthy).toMatchObject({ ok: true, output: expect.stringMatching(/SERVING/) });
  expect((await health(tlsEnv())).ok).toBe(false);
});
