// Deployers end to end: a command gets the deployment in its environment and fails the
// request on a non-zero exit; a webhook receives the deployment signed with HMAC-SHA256;
// a request that gathers no quorum expires. Real processes, a real HTTP receiver.

import { createHmac } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Harness, startCountersign } from '../support/harness';
import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let receiver: Server;
const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
let receiverStatus = 200;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(receiverStatus).end(receiverStatus === 200 ? 'rolled out' : 'cluster unavailable');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;

  const dir = path.join(require('node:os').tmpdir(), `countersign-deployers-${process.pid}`);
  require('node:fs').mkdirSync(dir, { recursive: true });
  const script = path.join(dir, 'deploy.sh');
  writeFileSync(script, `#!/bin/sh\nenv | grep ^COUNTERSIGN_ | sort > "${dir}/$COUNTERSIGN_DEPLOYMENT_ID.env"\necho "deploying $COUNTERSIGN_ARTIFACT_DIGEST"\n`);
  const failing = path.join(dir, 'fail.sh');
  writeFileSync(failing, '#!/bin/sh\necho "kubectl: connection refused" >&2\nexit 3\n');
  chmodSync(script, 0o755);
  chmodSync(failing, 0o755);

  harness = await startCountersign({
    env: { HOOK_SECRET: 'hook-secret-value' },
    policy: `
tiers:
  low:   { approvals: 1, expiresAfter: 24h }
  quick: { approvals: 1, expiresAfter: 2s }
deployers:
  script: { type: command, run: ["${script}", "--fast"] }
  broken: { type: command, run: ["${failing}"] }
  hook:   { type: webhook, url: "http://127.0.0.1:${port}/deploy", secret: "\${HOOK_SECRET}" }
rules:
  - { service: "scripted", tier: low, deployer: script }
  - { service: "broken", tier: low, deployer: broken }
  - { service: "hooked", tier: low, deployer: hook }
  - { service: "stale", tier: quick }
  - { tier: low }
`,
  });
  cast = await standardCast(harness);
  (globalThis as { deployDir?: string }).deployDir = dir;
});

afterAll(async () => {
  await harness?.close();
  receiver?.close();
});

async function requestAndApprove(service: string) {
  const body = deploymentBody({ service });
  const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
  const approval = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
  expect(approval.body.status).toBe('APPROVED');
  return { id: created.id as string, body };
}

it('runs a command deployer with the deployment in its environment', async () => {
  const { id, body } = await requestAndApprove('scripted');
  const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED']);
  expect(done.status).toBe('DEPLOYED');
  expect(done.deploy.output).toContain(`deploying ${body.artifact.digest}`);
  const env = readFileSync(path.join((globalThis as { deployDir?: string }).deployDir!, `${id}.env`), 'utf8');
  expect(env.split('\n').filter(Boolean)).toEqual([
    `COUNTERSIGN_ARTIFACT_DIGEST=${body.artifact.digest}`,
    `COUNTERSIGN_ARTIFACT_NAME=${body.artifact.name}`,
    `COUNTERSIGN_COMMIT=${body.change.commit}`,
    `COUNTERSIGN_DEPLOYMENT_ID=${id}`,
    'COUNTERSIGN_DEPLOY_ATTEMPT=1',
    'COUNTERSIGN_ENVIRONMENT=production',
    `COUNTERSIGN_IDEMPOTENCY_KEY=${id}`,
    'COUNTERSIGN_SERVICE=scripted',
  ]);
});

it('ends FAILED with the reason and output when the command exits non-zero after its retries', async () => {
  const { id } = await requestAndApprove('broken');
  const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 45_000);
  expect(done.status).toBe('FAILED');
  expect(done.deploy.ok).toBe(false);
  expect(done.deploy.error).toContain('exited with code 3');
  expect(done.deploy.error).toContain('kubectl: connection refused');
  expect(done.decision.reason).toContain('deploy failed');
  const [run] = await harness.dataSource.query('SELECT status, attempts, failures, output FROM deploy_runs WHERE deployment_id = $1', [id]);
  expect(run).toMatchObject({ status: 'failed', attempts: 3, failures: 3 });
  expect(run.output).toContain('kubectl: connection refused');
}, 60_000);

it('POSTs the deployment to a webhook, signed with HMAC-SHA256', async () => {
  receiverStatus = 200;
  const { id, body } = await requestAndApprove('hooked');
  const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED']);
  expect(done.status).toBe('DEPLOYED');
  const delivery = received.find((r) => JSON.parse(r.body).deploymentId === id)!;
  const expected = `sha256=${createHmac('sha256', 'hook-secret-value').update(delivery.body).digest('hex')}`;
  expect(delivery.headers['x-countersign-signature']).toBe(expected);
  expect(delivery.headers['idempotency-key']).toBe(id);
  expect(delivery.headers['x-countersign-deploy-attempt']).toBe('1');
  expect(JSON.parse(delivery.body)).toMatchObject({ deploymentId: id, service: 'hooked', artifact: { digest: body.artifact.digest }, commit: body.change.commit });
});

it('ends FAILED when the webhook answers an error', async () => {
  receiverStatus = 503;
  const { id } = await requestAndApprove('hooked');
  const done = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED', 'FAILED'], 45_000);
  receiverStatus = 200;
  expect(done.status).toBe('FAILED');
  expect(done.deploy.error).toContain('answered 503');
}, 60_000);

it('ends EXPIRED when no quorum comes before expiresAt, and deploys nothing', async () => {
  const body = deploymentBody({ service: 'stale' });
  const { body: created } = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect(created.tier).toBe('quick');
  const done = await waitForStatus(cast.http, cast.ci.token, created.id, ['EXPIRED'], 20_000);
  expect(done.deploy).toBeUndefined();
  const late = await cast.http.post(`/v1/deployments/${created.id}/approvals`, cast.bob.token, { digest: body.artifact.digest });
  expect(late.status).toBe(409);
  expect(late.body.detail).toContain('EXPIRED');
  await eventually(
    async () => (await harness.dataSource.query('SELECT count(*)::int AS n FROM deploy_runs WHERE deployment_id = $1', [created.id]))[0].n,
    (n) => n === 0,
  );
});
