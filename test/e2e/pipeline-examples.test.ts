// docs/PIPELINES.md's examples cannot rot: this runs the commands of docs/examples/github-actions.yml
// (its `run:` steps, as a runner would: bash -eo pipefail, $GITHUB_OUTPUT, step outputs) and
// docs/examples/gitlab-ci.yml (its jobs' `script:` in one shell each) against a real Countersign
// (HTTP API, Temporal, PostgreSQL, worker), with a real OIDC issuer playing GitHub's token endpoint
// and GitLab's id_tokens, while approvers approve through the API. Steps that only install the
// CLI (`uses:`, `Install countersign`, `before_script`) are replaced by the worktree's CLI on PATH.
// It also checks that the page shows each file exactly as it is.

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { type CiIssuer, startCiIssuer } from '../support/ci-issuer';
import { CLI_ENTRY, cliEnv, REGISTER_TS } from '../support/cli-process';
import { type Harness, startCountersign } from '../support/harness';
import { createPrincipal, eventually, standardCast } from '../support/fixtures';

const root = path.resolve(__dirname, '..', '..');
const GITHUB_FILE = 'docs/examples/github-actions.yml';
const GITLAB_FILE = 'docs/examples/gitlab-ci.yml';
const GITHUB_SUBJECT = 'repo:acme/web:environment:production';
const GITLAB_SUBJECT = 'project_path:acme/web:ref_type:branch:ref:main';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let issuer: CiIssuer;
let repo: string;
let bin: string;

const git = (args: string[], author: [string, string] = ['Nobody', 'nobody@example.com']) =>
  execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: repo, GIT_AUTHOR_NAME: author[0], GIT_AUTHOR_EMAIL: author[1], GIT_COMMITTER_NAME: 'CI', GIT_COMMITTER_EMAIL: 'ci@example.com' },
  }).trim();

function commit(message: string, author: [string, string]): string {
  writeFileSync(path.join(repo, 'src', 'app.txt'), `${message}\n${Date.now()}\n`);
  git(['add', '-A']);
  git(['commit', '-q', '-m', message], author);
  return git(['rev-parse', 'HEAD']);
}

beforeAll(async () => {
  issuer = await startCiIssuer();
  harness = await startCountersign({
    policy: `
tiers:
  low:  { approvals: 1, expiresAfter: 24h }
  high: { approvals: 2, expiresAfter: 24h }
environments: [production, staging]
rules:
  - { environment: production, tier: high }
  - { tier: low }
auth:
  oidc:
    - ${issuer.oidcConfig()}
`,
  });
  cast = await standardCast(harness);
  await createPrincipal(cast.http, cast.admin, { id: 'web-deploy', roles: ['pipeline'], subjects: [GITHUB_SUBJECT, GITLAB_SUBJECT] });

  repo = mkdtempSync(path.join(tmpdir(), 'countersign-example-repo-'));
  mkdirSync(path.join(repo, 'src'));
  git(['init', '-q', '-b', 'main']);
  // The runner's `countersign`: this worktree's CLI, from source.
  bin = mkdtempSync(path.join(tmpdir(), 'countersign-bin-'));
  writeFileSync(path.join(bin, 'countersign'), `#!/bin/sh\nexec "${process.execPath}" -r "${REGISTER_TS}" "${CLI_ENTRY}" "$@"\n`);
  chmodSync(path.join(bin, 'countersign'), 0o755);
});

afterAll(async () => {
  await harness?.close();
  await issuer?.close();
});

interface ShellResult {
  code: number | null;
  output: string;
}

function shell(script: string, env: Record<string, string>): Promise<ShellResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('close', (code) => resolve({ code, output }));
  });
}

const runnerEnv = (extra: Record<string, string>) => cliEnv({ ...extra, PATH: `${bin}:${process.env.PATH}` });

/** Approves, as two approvers who wrote nothing, the deployment of `commit` once it waits for them. */
async function approveWhenWaiting(commitSha: string, approvers: Array<{ token: string }>): Promise<string> {
  const found = await eventually(
    async () => (await cast.http.get('/v1/deployments?waitingFor=me&service=web', approvers[0].token)).body.deployments as any[],
    (list) => list.some((d) => d.change.commit === commitSha),
    60_000,
  );
  const deployment = found.find((d) => d.change.commit === commitSha);
  for (const approver of approvers) {
    const answer = await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, approver.token, { digest: deployment.artifact.digest });
    expect(answer.status).toBe(200);
  }
  return deployment.id;
}

describe('docs/PIPELINES.md', () => {
  it('shows each example exactly as its file is', () => {
    const doc = readFileSync(path.join(root, 'docs', 'PIPELINES.md'), 'utf8');
    const shown = [...doc.matchAll(/<!-- example: (\S+) -->\n```yaml\n([\s\S]*?)```\n/g)];
    expect(shown.map((match) => match[1])).toEqual([GITHUB_FILE, GITLAB_FILE]);
    for (const [, file, text] of shown) expect(text).toBe(readFileSync(path.join(root, file), 'utf8'));
  });
});

describe('the GitHub Actions example', () => {
  it('runs: the gate step waits for two approvals, then Countersign deploys, and the outputs say so', async () => {
    const workflow = parse(readFileSync(path.join(root, GITHUB_FILE), 'utf8'));
    expect(workflow.permissions['id-token']).toBe('write');
    const job = workflow.jobs.deploy;
    commit('Add the service', ['Alice', 'alice@example.com']);
    const head = commit('Tune it\n\nCo-authored-by: Erin <erin@example.com>', ['Alice', 'alice@example.com']);

    const vars: Record<string, string> = { COUNTERSIGN_URL: harness.url, COUNTERSIGN_CLI: 'unused: the test puts the CLI on PATH' };
    const outputs: Record<string, Record<string, string>> = {};
    const expand = (text: string) =>
      text.replace(/\$\{\{\s*(.+?)\s*\}\}/g, (_, expression: string) => {
        let match = /^vars\.(\w+)$/.exec(expression);
        if (match) return vars[match[1]] ?? '';
        match = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expression);
        if (match) return outputs[match[1]]?.[match[2]] ?? '';
        throw new Error(`${GITHUB_FILE} uses \${{ ${expression} }}, which this test cannot evaluate: add it here`);
      });
    const base: Record<string, string> = {
      GITHUB_ACTIONS: 'true',
      CI: 'true',
      GITHUB_REPOSITORY: 'acme/web',
      GITHUB_SHA: head,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_ACTOR: 'octo-release',
      ...issuer.actionsEnv(GITHUB_SUBJECT),
    };
    const jobEnv = Object.fromEntries(Object.entries({ ...(workflow.env ?? {}), ...(job.env ?? {}) }).map(([k, v]) => [k, expand(String(v))]));

    const summary = path.join(repo, '.github-step-summary');
    writeFileSync(summary, '');
    const approving = approveWhenWaiting(head, [cast.bob, cast.carol]);
    const results: Array<{ name: string; result: ShellResult }> = [];
    let failed = false;
    for (const [index, step] of (job.steps as any[]).entries()) {
      if (step.uses || /^Install countersign$/.test(step.name ?? '')) continue;
      if (failed && step.if !== 'always()') continue;
      if (step.if !== undefined && step.if !== 'always()') throw new Error(`step ${step.name}: if: ${step.if} is not evaluated by this test`);
      const output = path.join(repo, `.github-output-${index}`);
      writeFileSync(output, '');
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v))]));
      const result = await shell(expand(step.run), runnerEnv({ ...base, ...jobEnv, ...stepEnv, GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary }));
      results.push({ name: step.name, result });
      if (step.id) {
        outputs[step.id] = Object.fromEntries(readFileSync(output, 'utf8').split('\n').filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
      }
      if (result.code !== 0) failed = true;
    }
    const id = await approving;
    const log = results.map(({ name, result }) => `## ${name} (exit ${result.code})\n${result.output}`).join('\n');
    expect({ failed, log }).toEqual({ failed: false, log: expect.any(String) });
    expect(results.map((r) => r.name)).toEqual(['Build', 'Ask Countersign and wait for the verdict', 'Say what happened']);
    expect(outputs.gate).toEqual({ 'deployment-id': id, status: 'DEPLOYED' });
    expect(results[2].result.output).toBe(`deployment ${id} is DEPLOYED\n`);
    expect(readFileSync(summary, 'utf8')).toBe(`Countersign: deployment [${id}](${harness.url}/ui/deployments/${id}) of web to production is **DEPLOYED**: deployed ghcr.io/acme/web/web:${head}@${outputs.build.digest} with log\n`);
    const gate = results[1].result.output;
    expect(gate).toMatch(/from git: commit [0-9a-f]{40}, range [0-9a-f]{12} \(1 commit\): no earlier DEPLOYED deployment/);
    expect(gate).toMatch(/approved by carol: 2 of 2 approvals/);

    const deployment = (await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body;
    expect(deployment).toMatchObject({
      status: 'DEPLOYED',
      requestedBy: 'web-deploy',
      requestId: `acme/web/web/production/${head}`,
      artifact: { name: `ghcr.io/acme/web/web:${head}`, digest: outputs.build.digest },
      change: { commit: head, summary: 'Tune it', url: `https://github.com/acme/web/commit/${head}`, requestedBy: 'octo-release' },
    });
    expect(deployment.change.authors).toEqual(['Alice <alice@example.com>', 'Erin <erin@example.com>']);
    expect(issuer.requests.some((request) => request.audience === 'countersign' && request.authorized)).toBe(true);
  });
});

describe('the GitLab CI example', () => {
  it('runs: build, then the deploy job waits until approved and deploys the approved digest itself', async () => {
    const pipeline = parse(readFileSync(path.join(root, GITLAB_FILE), 'utf8'));
    const job = pipeline['deploy-production'];
    const audience = job.id_tokens.COUNTERSIGN_ID_TOKEN.aud;
    expect(audience).toBe('countersign');
    const head = commit('Ship the next feature\n\nCo-authored-by: Dave <dave@example.com>', ['Grace', 'grace@example.com']);
    writeFileSync(path.join(repo, 'deploy.sh'), '#!/bin/sh\necho "deployed $1 $2" > deployed.txt\n');
    chmodSync(path.join(repo, 'deploy.sh'), 0o755);

    const env = (variables: Record<string, unknown>) => runnerEnv({
      CI: 'true',
      GITLAB_CI: 'true',
      CI_COMMIT_SHA: head,
      CI_COMMIT_BRANCH: 'main',
      CI_DEFAULT_BRANCH: 'main',
      CI_PROJECT_PATH: 'acme/web',
      CI_PROJECT_URL: 'https://gitlab.example.com/acme/web',
      CI_REGISTRY_IMAGE: 'registry.gitlab.example.com/acme/web',
      GITLAB_USER_EMAIL: 'grace@example.com',
      COUNTERSIGN_URL: harness.url,
      ...Object.fromEntries(Object.entries({ ...pipeline.variables, ...variables }).map(([k, v]) => [k, String(v)])),
    });
    const build = await shell(pipeline.build.script.join('\n'), env(pipeline.build.variables ?? {}));
    expect(build).toEqual({ code: 0, output: '' });

    const approving = approveWhenWaiting(head, [cast.bob, cast.carol]);
    const deploy = await shell(job.script.join('\n'), { ...env(job.variables ?? {}), COUNTERSIGN_ID_TOKEN: await issuer.mint(audience, GITLAB_SUBJECT) });
    const id = await approving;
    expect({ code: deploy.code, output: deploy.output }).toEqual({ code: 0, output: expect.stringContaining(`deployment ${id} requested`) });
    expect(deploy.output).toMatch(/waiting until APPROVED \(at most 2h\)/);
    const deployment = (await cast.http.get(`/v1/deployments/${id}`, cast.admin)).body;
    expect(['APPROVED', 'DEPLOYING', 'DEPLOYED']).toContain(deployment.status);
    expect(deployment.requestedBy).toBe('web-deploy');
    expect(deployment.change).toMatchObject({ commit: head, url: `https://gitlab.example.com/acme/web/-/commit/${head}`, requestedBy: 'grace@example.com' });
    expect(deployment.change.authors).toEqual(expect.arrayContaining(['Grace <grace@example.com>', 'Dave <dave@example.com>']));
    // The job deployed exactly the digest that was approved.
    expect(readFileSync(path.join(repo, 'deployed.txt'), 'utf8')).toBe(`deployed web.tgz ${deployment.artifact.digest}\n`);
  });
});
