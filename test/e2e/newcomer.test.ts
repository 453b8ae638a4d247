// The first five minutes, as a newcomer has them: as root, `git clone` into a folder only root
// can enter (mktemp -d makes it 0700, like /root), then `npm ci && npm start` on the embedded
// defaults. PostgreSQL refuses to run as root, so it runs as the `postgres` user, which can enter
// neither the clone's data folder nor node_modules with the PostgreSQL programs in it.
//
// The clone is of the committed HEAD. node_modules is hard-linked into the clone (the same files,
// but reached only through the closed folder, as `npm ci` would leave them; a symlink to the
// outside would not reproduce the trap). The build is the clone's own.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RELOCATION_HOME } from '../../local/embedded-postgres';
import { findFreePort } from '../../local/process-tree';
import { findOrInstallTemporalCli } from '../../local/temporal-cli';
import { createPrincipal, deploymentBody, waitForStatus } from '../support/fixtures';
import { Http } from '../support/http';
import { runStart, startReady, stopStart } from '../support/npm-start';

const root = path.resolve(__dirname, '..', '..');
const asRoot = process.getuid?.() === 0;
const closed = mkdtempSync(path.join(tmpdir(), 'countersign-newcomer-'));
const clone = path.join(closed, 'countersign');
let env: NodeJS.ProcessEnv;
let http: Http;
const adminToken = 'newcomer-test-admin-token';

(asRoot ? describe : describe.skip)('a newcomer, as root, in a folder only root can enter', () => {
  beforeAll(async () => {
    chmodSync(closed, 0o700);
    execFileSync('git', ['clone', '--quiet', root, clone], { stdio: 'inherit' });
    try {
      execFileSync('cp', ['-al', path.join(root, 'node_modules'), path.join(clone, 'node_modules')]);
    } catch {
      execFileSync('cp', ['-a', path.join(root, 'node_modules'), path.join(clone, 'node_modules')]);
    }
    execFileSync(process.execPath, [path.join(clone, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: clone, stdio: 'inherit' });
    // The clone has no .tools/ of its own: hand it the CLI this machine already has (nothing is downloaded).
    const cli = await findOrInstallTemporalCli();
    if (!cli) throw new Error('no Temporal CLI on this machine');
    const [port, temporalPort, uiPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
    env = { ...process.env, TEMPORAL_CLI: cli, PORT: String(port), TEMPORAL_DEV_PORT: String(temporalPort), TEMPORAL_UI_PORT: String(uiPort), COUNTERSIGN_ADMIN_TOKEN: adminToken };
    for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'COUNTERSIGN_DATA_DIR', 'COUNTERSIGN_CONFIG', 'COUNTERSIGN_WORKFLOW_BUNDLE']) delete env[name];
    http = new Http(`http://127.0.0.1:${port}`);
  }, 180_000);

  afterAll(() => {
    if (!asRoot) return;
    // The cluster was moved out of the closed folder; the copied PostgreSQL programs stay (keyed by version, reused).
    try {
      const cluster = readlinkSync(path.join(clone, '.data', 'postgres'));
      if (cluster.startsWith(`${RELOCATION_HOME}/`)) rmSync(cluster, { recursive: true, force: true });
    } catch {
      // no cluster was made
    }
    rmSync(closed, { recursive: true, force: true });
  });

  it('starts from a 0700 clone (PostgreSQL runs from a copy the postgres user can reach), and an approved request is DEPLOYED', async () => {
    expect(statSync(closed).mode & 0o777).toBe(0o700);
    const run = runStart(clone, env);
    try {
      const banner = await startReady(run);
      expect(banner).not.toContain('EACCES');
      expect(readlinkSync(path.join(clone, '.data', 'postgres')).startsWith(`${RELOCATION_HOME}/`)).toBe(true);

      const ci = await createPrincipal(http, adminToken, { id: 'ci', roles: ['pipeline'] });
      const bob = await createPrincipal(http, adminToken, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'] });
      const body = deploymentBody({ environment: 'staging' });
      const created = await http.post('/v1/deployments', ci.token, body);
      expect(created.status).toBe(201);
      const approval = await http.post(`/v1/deployments/${created.body.id}/approvals`, bob.token, { digest: body.artifact.digest });
      expect(approval.status).toBe(200);
      expect((await waitForStatus(http, ci.token, created.body.id, ['DEPLOYED', 'FAILED'])).status).toBe('DEPLOYED');
    } finally {
      expect(await stopStart(run)).toBe(0);
    }
  }, 150_000);

  it('npm run demo walks a request through the gate and prints the Temporal UI link to the finished workflow', async () => {
    const run = runStart(clone, env, '--demo');
    try {
      const output = await startReady(run);
      expect(output).toMatch(/demo-alice wrote the change, so her approval is refused \(403\)/);
      expect(output).toMatch(/demo: \S+ is DEPLOYED/);
      const link = /in the Temporal UI: (http:\/\/\S+\/namespaces\/default\/workflows\/deployment-\S+\/history)/.exec(output)?.[1];
      expect(link).toBeDefined();
      expect(link!.startsWith(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/`)).toBe(true);
      expect((await fetch(link!)).status).toBe(200);
    } finally {
      expect(await stopStart(run)).toBe(0);
    }
  }, 150_000);
});
