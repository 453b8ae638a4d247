// `npm start` as a newcomer runs it: the built service on embedded defaults (its own Temporal
// dev server and its own embedded PostgreSQL under a data folder). A request left pending when
// it is stopped with Ctrl-C is found where it was by the next start, and completes.

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../local/process-tree';
import { deploymentBody, waitForStatus } from '../support/fixtures';
import { Http } from '../support/http';
import { runStart, startReady, stopStart } from '../support/npm-start';

const root = path.resolve(__dirname, '..', '..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'countersign-start-'));
// The embedded PostgreSQL runs as an unprivileged user, which must be able to reach its folder.
chmodSync(dataDir, 0o755);
let env: NodeJS.ProcessEnv;
let http: Http;
const adminToken = 'start-test-admin-token';

beforeAll(async () => {
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  const [port, temporalPort, uiPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
  env = { ...process.env, PORT: String(port), TEMPORAL_DEV_PORT: String(temporalPort), TEMPORAL_UI_PORT: String(uiPort), COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_ADMIN_TOKEN: adminToken };
  delete env.TEMPORAL_ADDRESS;
  delete env.DATABASE_URL;
  delete env.COUNTERSIGN_WORKFLOW_BUNDLE;
  http = new Http(`http://127.0.0.1:${port}`);
}, 120_000);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it('runs everything, stops on Ctrl-C, and the next start finds a pending request where it was', async () => {
  const first = runStart(root, env);
  const banner = await startReady(first);
  expect(banner).toContain(`API          http://127.0.0.1:${env.PORT}`);
  expect(banner).toContain(`OpenAPI      http://127.0.0.1:${env.PORT}/docs`);
  expect(banner).toContain(`Temporal UI  http://127.0.0.1:${env.TEMPORAL_UI_PORT}`);
  expect(banner).toContain(`admin token  ${adminToken}`);

  const ci = (await http.post('/v1/principals', adminToken, { id: 'ci', roles: ['pipeline'] })).body.token;
  const bob = (await http.post('/v1/principals', adminToken, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'] })).body.token;
  const body = deploymentBody({ environment: 'staging' });
  const created = await http.post('/v1/deployments', ci, body);
  expect(created.status).toBe(201);
  expect(await stopStart(first)).toBe(0);
  await expect(fetch(`${http.baseUrl}/healthz`)).rejects.toThrow();

  const second = runStart(root, env);
  await startReady(second);
  try {
    const pending = await http.get(`/v1/deployments/${created.body.id}`, ci);
    expect(pending.body.status).toBe('PENDING');
    const approval = await http.post(`/v1/deployments/${created.body.id}/approvals`, bob, { digest: body.artifact.digest });
    expect(approval.status).toBe(200);
    const done = await waitForStatus(http, ci, created.body.id, ['DEPLOYED', 'FAILED']);
    expect(done.status).toBe('DEPLOYED');
  } finally {
    expect(await stopStart(second)).toBe(0);
  }
}, 240_000);

it('refuses to start on an invalid policy, naming the key', async () => {
  const bad = path.join(dataDir, 'bad.yaml');
  require('node:fs').writeFileSync(bad, 'tiers:\n  low: { approvals: one, expiresAfter: 24h }\nrules:\n  - { tier: low }\n');
  const run = spawn(process.execPath, [path.join(root, 'dist', 'local', 'start.js')], { cwd: root, env: { ...env, COUNTERSIGN_CONFIG: bad }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  run.stdout.on('data', (chunk) => (output += chunk));
  run.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise((resolve) => run.once('exit', resolve));
  expect(code).not.toBe(0);
  expect(output).toContain('tiers.low.approvals');
}, 60_000);
