// `countersign request …` as a pipeline runs it: the real CLI as a child process against a whole
// Countersign (HTTP API, real Temporal, real PostgreSQL, real worker), a real git repository, and
// a real local HTTP server playing GitHub Actions' OIDC token endpoint and an issuer's JWKS.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../cli/countersign';
import { type CiIssuer, startCiIssuer } from '../support/ci-issuer';
import { cli, runCli } from '../support/cli-process';
import { type Harness, startCountersign } from '../support/harness';
import { commitOf, createPrincipal, digestOf, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { DeploymentEvents } from '../../api/deployments/deployment-events';

const SUBJECT = 'repo:acme/web:environment:production';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let issuer: CiIssuer;
let dir: string;

beforeAll(async () => {
  issuer = await startCiIssuer();
  dir = mkdtempSync(path.join(tmpdir(), 'countersign-pipelines-'));
  const failing = path.join(dir, 'fail.sh');
  writeFileSync(failing, '#!/bin/sh\necho "kubectl: connection refused" >&2\nexit 3\n');
  chmodSync(failing, 0o755);
  harness = await startCountersign({
    // Streams end every 1.5 s here, so every wait below also crosses the CLI's quiet reconnects.
    eventStreamMaxMs: 1500,
    policy: `
tiers:
  low:   { approvals: 1, expiresAfter: 24h }
  high:  { approvals: 2, expiresAfter: 24h }
  brief: { approvals: 1, expiresAfter: 4s }
deployers:
  broken: { type: command, run: ["${failing}"] }
environments: [production, staging]
rules:
  - { service: "brief", tier: brief }
  - { service: "broken", tier: low, deployer: broken }
  - { environment: production, tier: high }
  - { tier: low }
auth:
  oidc:
    - ${issuer.oidcConfig()}
`,
  });
  cast = await standardCast(harness);
  await createPrincipal(cast.http, cast.admin, { id: 'gh-web', roles: ['pipeline'], subjects: [SUBJECT] });
});

afterAll(async () => {
  await harness?.close();
  await issuer?.close();
});

const env = (extra: Record<string, string | undefined> = {}) => ({ COUNTERSIGN_URL: harness.url, COUNTERSIGN_TOKEN: cast.ci.token, ...extra });

function requestArgs(overrides: { service?: string; environment?: string } = {}) {
  const seed = randomBytes(8).toString('hex');
  const digest = digestOf(seed);
  const args = [
    'request',
    '--service', overrides.service ?? 'web',
    '--environment', overrides.environment ?? 'production',
    '--artifact', `registry.example.com/web:${seed}`,
    '--digest', digest,
    '--commit', commitOf(seed),
    '--author', 'alice@example.com',
    '--summary', 'a change',
  ];
  return { args, digest };
}

/** Starts `request --wait …`; resolves once it printed the deployment's id. */
async function waiting(extra: string[], overrides: { service?: string; environment?: string } = {}, environment = env()) {
  const { args, digest } = requestArgs(overrides);
  const run = runCli([...args, '--wait', ...extra], environment);
  const [, id] = await run.waitFor(/^deployment (\S+) (?:already )?requested/m);
  return { run, id, digest };
}

const approve = (id: string, token: string, digest: string) => cast.http.post(`/v1/deployments/${id}/approvals`, token, { digest });
const lastLine = (text: string) => text.trim().split('\n').pop() ?? '';

describe('countersign request --wait: exit codes', () => {
  it('prints the id, tier, what it needs and the approvers\' link; exits 0 once DEPLOYED, one line per approval', async () => {
    const { run, id, digest } = await waiting(['--timeout', '10m'], {}, env({ COUNTERSIGN_PUBLIC_URL: 'https://countersign.example.com/' }));
    await run.waitFor(/waiting until DEPLOYED/);
    expect(run.stdout()).toContain(`tier high: 2 approvals`);
    expect(run.stdout()).toContain('needs     2 approvals');
    expect(run.stdout()).toContain(`approvers https://countersign.example.com/ui/deployments/${id}`);
    expect((await approve(id, cast.alice.token, digest)).status).toBe(403);
    await run.waitFor(/refused: approval by alice: AUTHOR/);
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    await run.waitFor(/approved by bob: 1 of 2 approvals; needs 1 more approval/);
    expect((await approve(id, cast.carol.token, digest)).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/approved by carol: 2 of 2 approvals/);
    expect(result.stdout).toMatch(/APPROVED: approved by bob, carol/);
    expect(result.stdout).toMatch(/DEPLOYED sha256:[0-9a-f]{64} with log/);
    // Plain lines when not on a terminal: no carriage returns, no escapes.
    expect(result.stdout).not.toMatch(/[\r\x1b]/);
  });

  it('exits 0 at APPROVED with --until approved', async () => {
    const { run, id, digest } = await waiting(['--until', 'approved'], { environment: 'staging' });
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/approved by bob: 1 of 1 approvals/);
  });

  it('exits 1 when rejected, the reason printed last', async () => {
    const { run, id } = await waiting([]);
    expect((await cast.http.post(`/v1/deployments/${id}/rejections`, cast.dave.token, { comment: 'not during the sale' })).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(`countersign request: deployment ${id} REJECTED: rejected by dave: not during the sale`);
  });

  it('exits 1 when cancelled', async () => {
    const { run, id } = await waiting([]);
    expect((await cast.http.post(`/v1/deployments/${id}/cancel`, cast.ci.token, { reason: 'superseded by a newer build' })).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toContain('CANCELLED: cancelled by ci: superseded by a newer build');
  });

  it('exits 1 when it expires', async () => {
    const { run } = await waiting([], { service: 'brief' });
    const result = await run.exited;
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(/EXPIRED: no quorum of 1 before/);
    // The server renewed the stream (every 1.5 s here) while it waited: quietly.
    expect(result.stdout).not.toContain('reconnecting');
  });

  it('exits 1 when the deploy fails, with the deployer\'s error', async () => {
    const { run, id, digest } = await waiting([], { service: 'broken', environment: 'staging' });
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/DEPLOYING with broken/);
    expect(lastLine(result.stderr)).toMatch(/FAILED: the deploy with broken failed/);
  });

  it('exits 4 when --timeout passes; the request stays pending', async () => {
    const { run, id } = await waiting(['--timeout', '3s']);
    const result = await run.exited;
    expect(result.code).toBe(4);
    expect(lastLine(result.stderr)).toMatch(/timed out after 3s: deployment \S+ is still PENDING \(needs 2 approvals\); the request stays pending/);
    expect((await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body.status).toBe('PENDING');
  });

  it('exits 2 on usage errors, with a message that says what to write', async () => {
    const { args } = requestArgs();
    const cases: Array<[string[], RegExp]> = [
      [['request'], /missing --service, --environment, --artifact, --digest/],
      [[...args, '--bogus'], /Unknown option '--bogus'/],
      [[...args.map((a) => (a.startsWith('sha256:') ? 'sha256:abc' : a))], /--digest must be sha256: and 64 hex/],
      [[...args, '--timeout', '2h'], /--timeout needs --wait/],
      [[...args, '--wait', '--timeout', 'soon'], /--timeout must be a duration/],
      [[...args, '--wait', '--until', 'merged'], /--until must be approved or deployed/],
      [[...args, '--from-git'], /--commit and --from-git both name the commit/],
      [['request', '--service', 'web', '--environment', 'production', '--artifact', 'a', '--digest', digestOf('x'), '--commit', commitOf('x')], /name at least one --author/],
      [[...args, '--summary', 'line\u001b[31mred'], /--summary contains a control character/],
      [['approve', 'some-id'], /--digest is required/],
      [['reject', 'some-id'], /--comment is required/],
      [['status'], /name the deployment ID/],
      [['status', '../../v1/audit'], /is not a deployment id/],
      [['approve', 'a?b=c', '--digest', digestOf('x')], /is not a deployment id/],
      [['list', '--waiting-for-me', '--status', 'DEPLOYED'], /drop --status/],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv, env());
      expect({ argv, code: result.code }).toEqual({ argv, code: 2 });
      expect(result.stderr).toMatch(message);
    }
    const unset = await cli(args, { COUNTERSIGN_TOKEN: 'x' });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('set COUNTERSIGN_URL');
    const noCredentials = await cli(args, { COUNTERSIGN_URL: harness.url });
    expect(noCredentials.code).toBe(2);
    expect(noCredentials.stderr).toContain('id-token: write');
  });

  it('prints every command\'s --help and exits 0', async () => {
    for (const command of ['request', 'status', 'list', 'approve', 'reject']) {
      const result = await cli([command, '--help'], {});
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`usage: countersign ${command}`);
    }
    const top = await cli(['--help'], {});
    expect(top.stdout).toMatch(/request +request a deployment/);
    expect(top.stdout).toContain('4  request --wait --timeout');
  });

  it('exits 3 when the server is unreachable, and when it refuses the token', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { args } = requestArgs();
    const unreachable = await cli([...args, '--wait'], env({ COUNTERSIGN_URL: `http://127.0.0.1:${port}` }));
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/deployments: ECONNREFUSED/);
    const refused = await cli([...args, '--wait'], env({ COUNTERSIGN_TOKEN: 'not-a-token' }));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/answered 401/);
    expect(refused.stderr).not.toContain('not-a-token');
    // A token of a principal that may not request: refused too.
    const approver = await cli([...args, '--wait'], env({ COUNTERSIGN_TOKEN: cast.bob.token }));
    expect(approver.code).toBe(3);
    expect(approver.stderr).toMatch(/answered 403/);
  });
});

describe('on a terminal', () => {
  it('keeps a live status line with the elapsed time, redrawn in place, and still exits 4 on --timeout', async () => {
    const { args } = requestArgs();
    let out = '';
    let err = '';
    const code = await main([...args, '--wait', '--timeout', '3s'], {
      stdout: (text) => void (out += text),
      stderr: (text) => void (err += text),
      env: env(),
      cwd: dir,
      isTTY: true,
      columns: 60,
    });
    expect(code).toBe(4);
    const frames = out.split('\r\x1b[2K').filter((frame) => frame.startsWith('PENDING'));
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]).toMatch(/^PENDING 0 of 2 approvals; needs 2 approvals · \ds/);
    for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(59);
    expect(out.endsWith('\r\x1b[2K')).toBe(true);
    expect(lastLine(err)).toMatch(/timed out after 3s/);
  });
});

describe('following the same request', () => {
  it('the same --request-id 20 times at once: one deployment, every run answers with it', async () => {
    const key = `race-${randomBytes(4).toString('hex')}`;
    const { args, digest } = requestArgs();
    const runs = await Promise.all(Array.from({ length: 20 }, async () => {
      let out = '';
      let err = '';
      const code = await main([...args, '--request-id', key], { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: env(), cwd: dir, isTTY: false });
      return { code, out, err };
    }));
    expect(runs.map((run) => run.code)).toEqual(Array(20).fill(0));
    const ids = new Set(runs.map((run) => /^deployment (\S+) /m.exec(run.out)![1]));
    expect(ids.size).toBe(1);
    expect(runs.filter((run) => / requested: /.test(run.out))).toHaveLength(1);
    const [id] = [...ids];
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
  });

  it('a retried step with the same --request-id follows the same deployment', async () => {
    const key = `build-${randomBytes(4).toString('hex')}`;
    const { args, digest } = requestArgs();
    const first = await cli([...args, '--request-id', key, '--wait', '--timeout', '2s'], env());
    expect(first.code).toBe(4);
    const id = /^deployment (\S+) requested/m.exec(first.stdout)![1];

    const retry = runCli([...args, '--request-id', key, '--wait'], env());
    await retry.waitFor(new RegExp(`^deployment ${id} already requested \\(same --request-id\\)`, 'm'));
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    expect((await approve(id, cast.carol.token, digest)).status).toBe(200);
    const result = await retry.exited;
    expect(result.code).toBe(0);
    const listed = await cast.http.get('/v1/deployments?service=web&limit=200', cast.ci.token);
    expect(listed.body.deployments.filter((d: any) => d.requestId === key)).toHaveLength(1);

    // Once deployed, a rerun of the step finds it done at once.
    const again = await cli([...args, '--request-id', key, '--wait'], env());
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('status    DEPLOYED');
  });

  it('resumes after the stream is cut (the API restarts) and sees what happened meanwhile', async () => {
    const { run, id, digest } = await waiting([]);
    await run.waitFor(/waiting until DEPLOYED/);
    // Once the CLI's stream is open, the API restarts under it.
    const events = () => harness.api.app.get(DeploymentEvents).stats().followers;
    await eventually(async () => events(), (followers) => followers > 0);
    await harness.restartApi();
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    expect((await approve(id, cast.erin.token, digest)).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/reconnecting \(after version \d+\)/);
    expect(result.stdout).toMatch(/approved by bob: 1 of 2 approvals; needs 1 more approval/);
    expect(result.stdout).toMatch(/approved by erin: 2 of 2 approvals/);
    expect(result.stdout).toMatch(/DEPLOYED/);
  });
});

describe('faults', () => {
  it('follows through a worker restart: an approval given while the worker is down still reaches the CLI', async () => {
    const { run, id, digest } = await waiting([]);
    await eventually(async () => harness.api.app.get(DeploymentEvents).stats().followers, (n) => n > 0);
    await harness.stopWorker();
    const first = approve(id, cast.bob.token, digest);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await harness.startWorker();
    expect((await first).status).toBe(200);
    expect((await approve(id, cast.carol.token, digest)).status).toBe(200);
    const result = await run.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/approved by bob: 1 of 2 approvals/);
    expect(result.stdout).toMatch(/DEPLOYED/);
  });
});

describe('--from-git', () => {
  let repo: string;
  const git = (args: string[], author?: [string, string]) =>
    execFileSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        HOME: repo,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: author?.[0] ?? 'Nobody',
        GIT_AUTHOR_EMAIL: author?.[1] ?? 'nobody@example.com',
        GIT_COMMITTER_NAME: 'CI Bot',
        GIT_COMMITTER_EMAIL: 'ci-bot@example.com',
      },
    }).trim();
  const commit = (file: string, message: string, author: [string, string]) => {
    writeFileSync(path.join(repo, file), `${message}\n${randomBytes(4).toString('hex')}\n`);
    git(['add', file]);
    git(['commit', '-q', '-m', message], author);
    return git(['rev-parse', 'HEAD']);
  };
  const fromGit = (extra: string[] = [], environment = env()) => {
    const seed = randomBytes(8).toString('hex');
    const digest = digestOf(seed);
    const run = runCli(['request', '--service', 'api', '--environment', 'production', '--artifact', `registry.example.com/api:${seed}`, '--digest', digest, '--from-git', ...extra], environment, { cwd: repo });
    return { run, digest };
  };

  beforeAll(() => {
    repo = mkdtempSync(path.join(tmpdir(), 'countersign-repo-'));
    git(['init', '-q', '-b', 'main']);
  });

  it('the first request takes HEAD only, and says so', async () => {
    const base = commit('a.txt', 'First feature', ['Alice', 'alice@example.com']);
    const { run, digest } = fromGit(['--wait']);
    const [, id] = await run.waitFor(/^deployment (\S+) requested/m);
    expect(run.stdout()).toContain(`from git: commit ${base}, range ${base.slice(0, 12)} (1 commit): no earlier DEPLOYED deployment of this service and environment: only HEAD`);
    expect(run.stdout()).toContain('authors Alice <alice@example.com>');
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    expect((await approve(id, cast.carol.token, digest)).status).toBe(200);
    expect((await run.exited).code).toBe(0);
    const deployed = await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED']);
    expect(deployed.change).toMatchObject({ commit: base, summary: 'First feature', authors: ['Alice <alice@example.com>'] });
  });

  it('takes every author and co-author since the last deployed commit; a co-author of an earlier commit is refused', async () => {
    const base = git(['rev-parse', 'HEAD']);
    commit('b.txt', 'Second feature\n\nPaired on it.\n\nCo-authored-by: Bob Builder <bob@example.com>\nCo-authored-by: Erin <ERIN@example.com>', ['Frank', 'frank@example.com']);
    commit('c.txt', 'Third feature', ['Grace', 'grace@example.com']);
    const head = commit('d.txt', 'Fix the third feature', ['Frank', 'frank@example.com']);

    const { run, digest } = fromGit(['--wait', '--timeout', '10m']);
    const [, id] = await run.waitFor(/^deployment (\S+) requested/m);
    const out = run.stdout();
    expect(out).toContain(`from git: commit ${head}, range ${base.slice(0, 12)}..${head.slice(0, 12)} (3 commits): every commit since ${base.slice(0, 12)}, the commit last deployed`);
    expect(out).toContain('authors Frank <frank@example.com>, Grace <grace@example.com>, Bob Builder <bob@example.com>, Erin <ERIN@example.com>');
    const requested = (await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body;
    expect(requested.change.commit).toBe(head);
    expect(requested.change.summary).toBe('Fix the third feature');

    // Bob co-wrote the second commit, not HEAD: still refused, through the CLI too.
    const bob = await cli(['approve', id, '--digest', digest, '--comment', 'lgtm'], env({ COUNTERSIGN_TOKEN: cast.bob.token }));
    expect(bob.code).toBe(1);
    expect(bob.stderr).toMatch(/refused \(AUTHOR\): bob is an author/);
    const erin = await cli(['approve', id, '--digest', digest], env({ COUNTERSIGN_TOKEN: cast.erin.token }));
    expect(erin.code).toBe(1);
    // Alice wrote only the commit already deployed: she may approve this range.
    const alice = await cli(['approve', id, '--digest', digest], env({ COUNTERSIGN_TOKEN: cast.alice.token }));
    expect(alice.code).toBe(0);
    expect(alice.stdout).toContain(`approved deployment ${id}: PENDING, needs 1 more approval`);
    await run.waitFor(/refused: approval by bob: AUTHOR/);
    const dave = await cli(['approve', id, '--digest', digest], env({ COUNTERSIGN_TOKEN: cast.dave.token }));
    expect(dave.code).toBe(0);
    const result = await run.exited;
    expect(result.code).toBe(0);
  });

  it('takes only HEAD, and says why, when the commit last deployed is not an ancestor', async () => {
    git(['checkout', '-q', '--orphan', 'rewrite']);
    const head = commit('e.txt', 'Rewritten history', ['Heidi', 'heidi@example.com']);
    const { run } = fromGit();
    const result = await run.exited;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`range ${head.slice(0, 12)} \\(1 commit\\): the commit last deployed \\(\\w+\\) is not an ancestor of HEAD: only HEAD`));
    expect(result.stdout).toContain('authors Heidi <heidi@example.com>');
  });

  it('refuses a directory that is not a repository with a usage error', async () => {
    const result = await cli(['request', '--service', 'api', '--environment', 'production', '--artifact', 'a', '--digest', digestOf('q'), '--from-git'], env(), { cwd: tmpdir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--from-git: no commit at HEAD here/);
  });
});

describe('CI identity tokens', () => {
  const actions = (extra: Record<string, string> = {}): Record<string, string> => ({ COUNTERSIGN_URL: harness.url, ...issuer.actionsEnv(SUBJECT), ...extra });

  it('GitHub Actions: fetches the job\'s OIDC token for the audience and requests as the principal that claims its subject', async () => {
    issuer.requests.length = 0;
    const { args } = requestArgs({ environment: 'staging' });
    const result = await cli(args, actions({ GITHUB_ACTOR: 'octo-dev', GITHUB_OUTPUT: path.join(dir, 'github-output') }));
    expect(result.code).toBe(0);
    expect(issuer.requests).toEqual([{ audience: 'countersign', subject: SUBJECT, authorized: true }]);
    const id = /^deployment (\S+) requested/m.exec(result.stdout)![1];
    const view = (await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body;
    expect(view.requestedBy).toBe('gh-web');
    // Whoever triggered the run is excluded from approving, as the change's authors are.
    expect(view.change.requestedBy).toBe('octo-dev');
    expect(readFileSync(path.join(dir, 'github-output'), 'utf8')).toContain(`deployment-id=${id}\nstatus=PENDING\n`);
  });

  it('GitHub Actions: a token for another audience is refused by the server (exit 3), and a refused token request too', async () => {
    const { args } = requestArgs({ environment: 'staging' });
    const other = await cli(args, actions({ COUNTERSIGN_AUDIENCE: 'someone-else' }));
    expect(other.code).toBe(3);
    expect(other.stderr).toMatch(/answered 401.*GitHub Actions OIDC token \(audience someone-else\)/);
    const granted = actions();
    const noPermission = await cli(args, { ...granted, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong' });
    expect(noPermission.code).toBe(3);
    expect(noPermission.stderr).toContain('id-token: write');
    expect(noPermission.stderr).not.toContain(granted.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
    expect(noPermission.stderr).not.toContain('wrong');
  });

  it('GitHub Actions: --wait follows the stream with the same identity', async () => {
    const { args, digest } = requestArgs({ environment: 'staging' });
    const run = runCli([...args, '--wait'], actions());
    const [, id] = await run.waitFor(/^deployment (\S+) requested/m);
    expect((await approve(id, cast.bob.token, digest)).status).toBe(200);
    expect((await run.exited).code).toBe(0);
  });

  it('GitLab: sends the id_tokens JWT from COUNTERSIGN_ID_TOKEN as the bearer', async () => {
    const { args } = requestArgs({ environment: 'staging' });
    const result = await cli(args, { COUNTERSIGN_URL: harness.url, COUNTERSIGN_ID_TOKEN: await issuer.mint('countersign', SUBJECT), GITLAB_USER_EMAIL: 'gitlab-dev@example.com' });
    expect(result.code).toBe(0);
    const id = /^deployment (\S+) requested/m.exec(result.stdout)![1];
    const view = (await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body;
    expect(view.requestedBy).toBe('gh-web');
    expect(view.change.requestedBy).toBe('gitlab-dev@example.com');
  });
});

describe('commands for people at a terminal', () => {
  it('status, list --waiting-for-me, approve and reject', async () => {
    const { args, digest } = requestArgs();
    const created = await cli(args, env());
    const id = /^deployment (\S+) requested/m.exec(created.stdout)![1];

    const status = await cli(['status', id], env());
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`deployment ${id}: web to production`);
    expect(status.stdout).toContain('needs     2 approvals');
    const json = await cli(['status', id, '--json'], env());
    expect(JSON.parse(json.stdout)).toMatchObject({ id, status: 'PENDING' });
    expect((await cli(['status', 'no-such-deployment'], env())).code).toBe(3);

    const mine = await cli(['list', '--waiting-for-me'], env({ COUNTERSIGN_TOKEN: cast.bob.token }));
    expect(mine.code).toBe(0);
    expect(mine.stdout).toContain(id);
    const author = await cli(['list', '--waiting-for-me'], env({ COUNTERSIGN_TOKEN: cast.alice.token }));
    expect(author.stdout).not.toContain(id);

    const wrongDigest = await cli(['approve', id, '--digest', digestOf('other')], env({ COUNTERSIGN_TOKEN: cast.bob.token }));
    expect(wrongDigest.code).toBe(1);
    expect(wrongDigest.stderr).toContain('DIGEST_MISMATCH');
    expect((await cli(['approve', id, '--digest', digest.toUpperCase().replace('SHA256', 'sha256')], env({ COUNTERSIGN_TOKEN: cast.bob.token }))).code).toBe(0);
    const rejected = await cli(['reject', id, '--comment', 'wrong build'], env({ COUNTERSIGN_TOKEN: cast.dave.token }));
    expect(rejected.code).toBe(0);
    expect(rejected.stdout).toContain('REJECTED: rejected by dave: wrong build');
    const late = await cli(['reject', id, '--comment', 'again'], env({ COUNTERSIGN_TOKEN: cast.erin.token }));
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('NOT_PENDING');
  });
});
