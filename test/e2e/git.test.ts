// Git tags, as the control describes them: a DEPLOYED request becomes an annotated tag on its
// commit in a real repository, and tag pushes from GitHub or GitLab approve or request
// deployments through the webhook, under the same checks as any other answer. Real git
// repositories made here, real HTTP, real Temporal and PostgreSQL.

import { ApplicationFailure } from '@temporalio/common';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mirrorPath, recordDeploymentTag } from '../../activities/git';
import type { DeploymentRequest, DeploymentView } from '../../policy/types';
import { verifyEvidence } from '../../evidence';
import { pendingView } from '../../policy/view';
import { type Harness, startCountersign } from '../support/harness';
import { createPrincipal, digestOf, eventually, type Person, waitForStatus } from '../support/fixtures';
import { Http } from '../support/http';

const SECRET = 's3cret';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.com', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function commit(repo: string, message: string): string {
  git(repo, 'commit', '--quiet', '--allow-empty', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

const policyFor = (repo: string, withSecret = true) => `
tiers:
  high: { approvals: 2, expiresAfter: 24h }
  low:  { approvals: 1, expiresAfter: 24h }
environments: [production, staging]
rules:
  - { environment: production, tier: high }
  - { tier: low }
git:
  repo: ${JSON.stringify(repo)}
${withSecret ? `  webhookSecret: ${SECRET}\n` : ''}`;

let root: string;
let bare: string;
let work: string;
const commits: string[] = [];
let harness: Harness;
let http: Http;
let ci: Person;
let alice: Person;
let bob: Person;
let carol: Person;
let release: Person;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'countersign-git-'));
  bare = path.join(root, 'origin.git');
  work = path.join(root, 'work');
  git(root, 'init', '--quiet', '--bare', bare);
  git(root, 'init', '--quiet', work);
  for (let i = 1; i <= 6; i += 1) commits.push(commit(work, `change ${i}`));
  git(work, 'push', '--quiet', bare, 'HEAD:refs/heads/main');

  harness = await startCountersign({ policy: policyFor(bare) });
  http = new Http(harness.url);
  const admin = harness.adminToken;
  [ci, alice, bob, carol, release] = await Promise.all([
    createPrincipal(http, admin, { id: 'ci', roles: ['pipeline'], logins: ['ci-bot'] }),
    createPrincipal(http, admin, { id: 'alice', roles: ['approver'], emails: ['alice@example.com'], logins: ['alice-gh'] }),
    createPrincipal(http, admin, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'], logins: ['bob-gh'] }),
    createPrincipal(http, admin, { id: 'carol', roles: ['approver'], emails: ['carol@example.com'], logins: ['carol-gl'] }),
    createPrincipal(http, admin, { id: 'release', roles: ['pipeline'], emails: ['release@example.com'], logins: ['release-bot'] }),
  ]);
});

afterAll(async () => {
  await harness?.close();
});

function artifact(seed: string) {
  return { name: `registry.example.com/web:${seed}`, digest: digestOf(seed) };
}

async function requestDeployment(commitId: string, environment = 'production') {
  const seed = randomBytes(6).toString('hex');
  const response = await http.post('/v1/deployments', ci.token, {
    service: 'web',
    environment,
    artifact: artifact(seed),
    change: { commit: commitId, authors: ['alice@example.com'], summary: 'a change' },
  });
  expect(response.status).toBe(201);
  return response.body as DeploymentView;
}

// --- webhooks as GitHub and GitLab send them ---

function githubPush(body: object, options: { secret?: string; event?: string; signature?: string } = {}) {
  const raw = JSON.stringify(body);
  const signature = options.signature ?? `sha256=${createHmac('sha256', options.secret ?? SECRET).update(raw).digest('hex')}`;
  return http.request('POST', '/v1/webhooks/git', {
    raw,
    headers: {
      'content-type': 'application/json',
      'x-github-event': options.event ?? 'push',
      'x-github-delivery': randomBytes(8).toString('hex'),
      'x-hub-signature-256': signature,
    },
  });
}

function githubTag(tag: string, commitId: string, sender: { login: string; email?: string }) {
  return {
    ref: `refs/tags/${tag}`,
    before: '0'.repeat(40),
    after: createHash('sha1').update(tag).digest('hex'), // the tag object
    created: true,
    deleted: false,
    forced: false,
    head_commit: { id: commitId, message: 'change' },
    pusher: { name: sender.login, email: sender.email ?? null },
    sender: { login: sender.login, id: 1 },
    repository: { full_name: 'acme/web' },
  };
}

function gitlabPush(body: object, token = SECRET) {
  return http.request('POST', '/v1/webhooks/git', {
    body,
    headers: { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': token },
  });
}

function gitlabTag(tag: string, commitId: string, user: { username: string; email?: string }, message?: string) {
  return {
    object_kind: 'tag_push',
    event_name: 'tag_push',
    ref: `refs/tags/${tag}`,
    before: '0'.repeat(40),
    after: createHash('sha1').update(tag).digest('hex'),
    checkout_sha: commitId,
    message: message ?? null,
    user_username: user.username,
    user_email: user.email ?? '[REDACTED]',
    project: { web_url: 'https://gitlab.example.com/acme/web' },
  };
}

async function auditEvents(type: string): Promise<Array<{ deployment_id: string; actor: string; reason: string; data: Record<string, unknown> }>> {
  return harness.dataSource.query(`SELECT deployment_id, actor, reason, data FROM audit_events WHERE type = $1 ORDER BY seq`, [type]);
}

describe('a DEPLOYED deployment becomes an annotated tag on its commit', () => {
  let deployment: DeploymentView;
  let tagName: string;

  it('is tagged deploy/production/<id> in the repository once deployed', async () => {
    const created = await requestDeployment(commits[0]);
    for (const person of [bob, carol]) {
      const response = await http.post(`/v1/deployments/${created.id}/approvals`, person.token, { digest: created.artifact.digest });
      expect(response.status).toBe(200);
    }
    await waitForStatus(http, admin(), created.id, ['DEPLOYED']);
    deployment = await eventually(
      async () => (await http.get(`/v1/deployments/${created.id}`, admin())).body as DeploymentView,
      (view) => Boolean(view.gitTag),
    );
    tagName = `deploy/production/${created.id}`;
    expect(deployment.gitTag).toEqual({ tag: tagName, commit: commits[0], pushed: false, detail: expect.stringContaining(`tagged ${commits[0]} as ${tagName}`) });

    const [type, peeled, tagger] = git(bare, 'for-each-ref', '--format=%(objecttype)|%(*objectname)|%(taggername) %(taggeremail)', `refs/tags/${tagName}`).split('|');
    expect(type).toBe('tag'); // annotated
    expect(peeled).toBe(commits[0]);
    expect(tagger).toBe('Countersign <countersign@localhost>');
  });

  it('says in its message who approved when, what was deployed and the evidence hash', async () => {
    const object = git(bare, 'cat-file', '-p', `refs/tags/${tagName}`);
    expect(object).toContain(`object ${commits[0]}\ntype commit\ntag ${tagName}\ntagger Countersign <countersign@localhost>`);
    const lines = object.split('\n');
    for (const approval of deployment.approvals) {
      expect(lines).toContain(`Approved-by: ${approval.approver} at ${approval.at}`);
    }
    expect(deployment.approvals.map((a) => a.approver)).toEqual(['bob', 'carol']);
    expect(lines).toEqual(expect.arrayContaining([
      `Deployment: ${deployment.id}`,
      'Service: web',
      'Environment: production',
      `Artifact: ${deployment.artifact.name}@${deployment.artifact.digest}`,
      `Digest: ${deployment.artifact.digest}`,
      `Commit: ${commits[0]}`,
    ]));
    expect(lines.find((l) => l.startsWith('Decision: '))).toMatch(/^Decision: DEPLOYED at \S+: deployed /);
    const evidence = lines.find((l) => l.startsWith('Evidence-SHA256: '));
    expect(evidence).toMatch(/^Evidence-SHA256: [0-9a-f]{64}$/);

    // the sha256 of the very bytes the evidence route serves, now that the tag exists too
    const served = await fetch(`${harness.url}/v1/deployments/${deployment.id}/evidence`, { headers: { authorization: `Bearer ${admin()}` } });
    expect(served.status).toBe(200);
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(evidence).toBe(`Evidence-SHA256: ${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('records the tag in the audit trail', async () => {
    const events = await eventually(() => auditEvents('git.tagged'), (rows) => rows.some((row) => row.deployment_id === deployment.id));
    expect(events.find((row) => row.deployment_id === deployment.id)?.data).toMatchObject({ gitTag: { tag: tagName, commit: commits[0] } });
  });

  it('is idempotent: the activity again succeeds and makes no second tag', async () => {
    const before = git(bare, 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/tags/deploy');
    const [row] = (await harness.dataSource.query(`SELECT request, view FROM deployments WHERE id = $1`, [deployment.id])) as Array<{ request: DeploymentRequest; view: DeploymentView }>;
    const result = await recordDeploymentTag({ dataDir: harness.dir }, { request: row.request, deployment: row.view });
    expect(result).toEqual({ tag: tagName, commit: commits[0], pushed: false, detail: expect.stringContaining('already') });
    expect(git(bare, 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/tags/deploy')).toBe(before);
    expect(before.split('\n')).toHaveLength(1);
  });
});

describe('the evidence a tag names stays fetchable after the deployment moves on', () => {
  let deployment: DeploymentView;
  let tagged: string;

  it('keeps the tagged bytes, which a later retrospective review does not change', async () => {
    const created = await requestDeployment(commits[4]);
    const override = await http.post(`/v1/deployments/${created.id}/override`, admin(), { reason: 'an outage fix that cannot wait for the quorum' });
    expect(override.status).toBe(200);
    await waitForStatus(http, admin(), created.id, ['DEPLOYED']);
    deployment = await eventually(
      async () => (await http.get(`/v1/deployments/${created.id}`, admin())).body as DeploymentView,
      (view) => Boolean(view.gitTag),
    );
    const line = git(bare, 'cat-file', '-p', `refs/tags/deploy/production/${created.id}`).split('\n').find((l) => l.startsWith('Evidence-SHA256: '));
    tagged = line!.slice('Evidence-SHA256: '.length);

    // The override's review comes after the tag: the current evidence now includes it.
    expect((await http.post(`/v1/deployments/${created.id}/review`, bob.token, { comment: 'looked at it after the fact' })).status).toBe(200);
    const current = await eventually(
      () => fetch(`${harness.url}/v1/deployments/${created.id}/evidence`, { headers: { authorization: `Bearer ${admin()}` } }),
      (response) => response.headers.get('x-evidence-sha256') !== tagged,
    );
    expect(current.status).toBe(200);

    const kept = await fetch(`${harness.url}/v1/deployments/${created.id}/evidence/${tagged}`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(kept.status).toBe(200);
    expect(kept.headers.get('x-evidence-sha256')).toBe(tagged);
    const bytes = Buffer.from(await kept.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(tagged);
    // Signed, and as of the tag: overridden, not yet reviewed.
    const verdict = verifyEvidence(JSON.parse(bytes.toString('utf8')), { publicKeyPem: harness.evidenceKey.publicKeyPem });
    expect(verdict).toMatchObject({ ok: true, problems: [] });
    expect(verdict.notes.join('\n')).toContain('not reviewed yet');
  });

  it('is append-only in the database', async () => {
    await expect(harness.dataSource.query(`UPDATE evidence_records SET document = '{}' WHERE sha256 = $1`, [tagged])).rejects.toThrow(/append-only/);
    await expect(harness.dataSource.query(`DELETE FROM evidence_records WHERE sha256 = $1`, [tagged])).rejects.toThrow(/append-only/);
  });

  it('answers 404 for another deployment or an unknown hash, and 400 for what is not a hash', async () => {
    const other = await requestDeployment(commits[5], 'staging');
    const wrongDeployment = await http.get(`/v1/deployments/${other.id}/evidence/${tagged}`, admin());
    expect(wrongDeployment.status).toBe(404);
    expect(wrongDeployment.contentType).toContain('application/problem+json');
    expect(wrongDeployment.body.detail).toContain(`GET /v1/deployments/${other.id}/evidence`);
    expect((await http.get(`/v1/deployments/${deployment.id}/evidence/${'0'.repeat(64)}`, admin())).status).toBe(404);
    const notHash = await http.get(`/v1/deployments/${deployment.id}/evidence/abc`, admin());
    expect(notHash.status).toBe(400);
    expect(notHash.body.detail).toContain('Evidence-SHA256');
    // A pipeline sees only its own requests, kept evidence included.
    expect((await http.get(`/v1/deployments/${deployment.id}/evidence/${tagged}`, release.token)).status).toBe(404);
  });
});

describe('POST /v1/webhooks/git from GitHub', () => {
  let pending: DeploymentView;

  beforeAll(async () => {
    pending = await requestDeployment(commits[1]);
  });

  it('refuses a wrong signature with 401, audited without the signature', async () => {
    const signature = `sha256=${createHmac('sha256', 'not-the-secret').update('x').digest('hex')}`;
    const response = await githubPush(githubTag('approve/production/bob', commits[1], { login: 'bob-gh' }), { signature });
    expect(response.status).toBe(401);
    expect(response.contentType).toContain('application/problem+json');
    expect(response.body.detail).toMatch(/X-Hub-Signature-256 does not match git.webhookSecret/);
    const events = await auditEvents('webhook.refused');
    expect(events.length).toBeGreaterThan(0);
    expect(events[events.length - 1]).toMatchObject({ reason: 'X-Hub-Signature-256 does not match', data: { provider: 'github', event: 'push' } });
    expect(JSON.stringify(events)).not.toContain(signature.slice(7));
  });

  it('refuses a signature over other bytes than those sent', async () => {
    const body = githubTag('approve/production/bob', commits[1], { login: 'bob-gh' });
    const signature = `sha256=${createHmac('sha256', SECRET).update(JSON.stringify(body, null, 2)).digest('hex')}`;
    expect((await githubPush(body, { signature })).status).toBe(401);
  });

  it('refuses the author pushing an approval tag (AUTHOR), as the gate does', async () => {
    const response = await githubPush(githubTag('approve/production/alice', commits[1], { login: 'alice-gh' }));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ outcome: 'approval', provider: 'github', tag: 'approve/production/alice', commit: commits[1], pusher: 'alice' });
    expect(response.body.results).toEqual([expect.objectContaining({ deployment: pending.id, outcome: 'refused', reason: 'AUTHOR' })]);
  });

  it('refuses a pusher without the approver role, audited', async () => {
    const response = await githubPush(githubTag('approve/production/ci', commits[1], { login: 'ci-bot' }));
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual([expect.objectContaining({ deployment: pending.id, outcome: 'refused', reason: 'MISSING_ROLE' })]);
    const events = await auditEvents('approval.refused');
    expect(events).toContainEqual(expect.objectContaining({ deployment_id: pending.id, actor: 'ci', reason: 'MISSING_ROLE' }));
  });

  it('refuses a pusher nobody in the directory claims', async () => {
    const response = await githubPush(githubTag('approve/production/x', commits[1], { login: 'stranger' }));
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'UNKNOWN_PUSHER' })]);
  });

  it('counts a valid tag push as the pusher\'s approval', async () => {
    const response = await githubPush(githubTag('approve/production/bob', commits[1], { login: 'bob-gh', email: 'bob@example.com' }));
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual([{ deployment: pending.id, outcome: 'accepted', status: 'PENDING' }]);
    const view = (await http.get(`/v1/deployments/${pending.id}`, admin())).body as DeploymentView;
    expect(view.approvals).toEqual([
      expect.objectContaining({ approver: 'bob', digest: pending.artifact.digest, comment: 'approved by git tag approve/production/bob' }),
    ]);
  });

  it('refuses the same approval redelivered (DUPLICATE)', async () => {
    const response = await githubPush(githubTag('approve/production/bob', commits[1], { login: 'bob-gh' }));
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'DUPLICATE' })]);
  });

  it('ignores what is not a tag push, with 202 and a reason', async () => {
    const branch = await githubPush({ ...githubTag('x', commits[1], { login: 'bob-gh' }), ref: 'refs/heads/main' });
    expect(branch.status).toBe(202);
    expect(branch.body).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(/not a tag push/) });
    const ping = await githubPush({ zen: 'Keep it logically awesome.' }, { event: 'ping' });
    expect(ping.status).toBe(202);
    const other = await githubPush(githubTag('v1.0.0', commits[1], { login: 'bob-gh' }));
    expect(other.status).toBe(202);
    expect(other.body.reason).toMatch(/matches neither/);
    const staging = await githubPush(githubTag('approve/staging/bob', commits[1], { login: 'bob-gh' }));
    expect(staging.status).toBe(202);
    expect(staging.body.reason).toMatch(/no PENDING deployment/);
  });

  it('cannot request: GitHub push events carry no tag message (422)', async () => {
    const response = await githubPush(githubTag('request/staging/v1', commits[2], { login: 'release-bot' }));
    expect(response.status).toBe(422);
    expect(response.body.detail).toMatch(/GitHub tag pushes can approve, not request/);
  });

  it('refuses a request without any event header (401)', async () => {
    const response = await http.request('POST', '/v1/webhooks/git', { body: { ref: 'refs/tags/x' } });
    expect(response.status).toBe(401);
  });
});

describe('POST /v1/webhooks/git from GitLab', () => {
  it('refuses a wrong token with 401', async () => {
    const response = await gitlabPush(gitlabTag('approve/production/carol', commits[1], { username: 'carol-gl' }), 'wrong');
    expect(response.status).toBe(401);
    expect(response.body.detail).toMatch(/X-Gitlab-Token does not match/);
  });

  it('counts a tag push with the right token as the pusher\'s approval; the quorum deploys and tags', async () => {
    const [{ id }] = (await harness.dataSource.query(
      `SELECT id FROM deployments WHERE view->'change'->>'commit' = $1 AND status = 'PENDING'`, [commits[1]],
    )) as Array<{ id: string }>;
    const response = await gitlabPush(gitlabTag('approve/production/carol', commits[1], { username: 'carol-gl', email: 'carol@example.com' }));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ outcome: 'approval', provider: 'gitlab', pusher: 'carol', results: [{ deployment: id, outcome: 'accepted', status: 'APPROVED' }] });
    const view = await eventually(
      async () => (await http.get(`/v1/deployments/${id}`, admin())).body as DeploymentView,
      (v) => Boolean(v.gitTag),
    );
    expect(view.status).toBe('DEPLOYED');
    expect(view.gitTag).toMatchObject({ tag: `deploy/production/${id}`, commit: commits[1], pushed: false });
    expect(git(bare, 'cat-file', '-p', `refs/tags/deploy/production/${id}`)).toContain('Approved-by: carol at ');
  });

  it('binds the approval to a digest the tag message names', async () => {
    const other = await requestDeployment(commits[3]);
    const message = `Reviewed.\n\nDigest: ${digestOf('something else')}\n`;
    const response = await gitlabPush(gitlabTag('approve/production/bob-2', commits[3], { username: 'bob-gh' }, message));
    expect(response.status).toBe(200);
    expect(response.body.results).toEqual([expect.objectContaining({ deployment: other.id, outcome: 'refused', reason: 'DIGEST_MISMATCH' })]);
  });

  it('requests a deployment from a request tag whose message names the artifact', async () => {
    const wanted = artifact('gitlab-request');
    const message = `Release v1\n\nService: web\nArtifact: ${wanted.name}@${wanted.digest}\nAuthors: alice@example.com, dave@example.com\n`;
    const payload = gitlabTag('request/staging/v1', commits[2], { username: 'release-bot', email: 'release@example.com' }, message);
    const response = await gitlabPush(payload);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ outcome: 'request', provider: 'gitlab', pusher: 'release', created: true });
    const deployment = response.body.deployment as DeploymentView;
    expect(deployment).toMatchObject({
      status: 'PENDING',
      service: 'web',
      environment: 'staging',
      tier: 'low',
      artifact: wanted,
      requestedBy: 'release',
      change: { commit: commits[2], authors: ['alice@example.com', 'dave@example.com'], summary: 'requested by git tag request/staging/v1' },
    });
    expect((await http.get(`/v1/deployments/${deployment.id}`, admin())).body.status).toBe('PENDING');

    const again = await gitlabPush(payload);
    expect(again.status).toBe(200);
    expect(again.body.deployment.id).toBe(deployment.id);

    // and an approval tag on it deploys it, with a tag of its own
    const approved = await gitlabPush(gitlabTag('approve/staging/bob', commits[2], { username: 'bob-gh' }));
    expect(approved.body.results).toEqual([{ deployment: deployment.id, outcome: 'accepted', status: 'APPROVED' }]);
    const done = await eventually(async () => (await http.get(`/v1/deployments/${deployment.id}`, admin())).body as DeploymentView, (v) => Boolean(v.gitTag));
    expect(done.gitTag).toMatchObject({ tag: `deploy/staging/${deployment.id}`, commit: commits[2] });
  });

  it('takes the pusher as the author when the message names none', async () => {
    const wanted = artifact('gitlab-request-2');
    const message = `Service: web\nArtifact: ${wanted.name}@${wanted.digest}\n`;
    const response = await gitlabPush(gitlabTag('request/staging/v2', commits[3], { username: 'release-bot', email: 'release@example.com' }, message));
    expect(response.status).toBe(201);
    expect(response.body.deployment.change.authors).toEqual(['release@example.com']);
  });

  it('refuses a request tag from a pusher without the pipeline role (403, audited)', async () => {
    const wanted = artifact('gitlab-request-3');
    const message = `Service: web\nArtifact: ${wanted.name}@${wanted.digest}\n`;
    const response = await gitlabPush(gitlabTag('request/staging/v3', commits[3], { username: 'bob-gh' }, message));
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ reason: 'MISSING_ROLE' });
    expect(await auditEvents('request.refused')).toContainEqual(expect.objectContaining({ actor: 'bob', reason: 'MISSING_ROLE' }));
  });

  it('refuses a request tag whose message does not name the artifact (422)', async () => {
    const response = await gitlabPush(gitlabTag('request/staging/v4', commits[3], { username: 'release-bot' }, 'Service: web\n'));
    expect(response.status).toBe(422);
    expect(response.body.detail).toMatch(/Artifact: <name>@sha256:<64 hex>/);
  });
});

describe('webhooks without a secret in the policy', () => {
  it('answer 404: not configured', async () => {
    writeFileSync(harness.policyFile, policyFor(bare, false));
    expect((await http.post('/v1/policy/reload', harness.adminToken)).status).toBe(200);
    try {
      const response = await githubPush(githubTag('approve/production/bob', commits[1], { login: 'bob-gh' }));
      expect(response.status).toBe(404);
      expect(response.body).toMatchObject({ type: expect.stringContaining('webhooks-not-configured') });
      expect(response.body.detail).toMatch(/git.webhookSecret/);
    } finally {
      writeFileSync(harness.policyFile, policyFor(bare));
      await http.post('/v1/policy/reload', harness.adminToken);
    }
  });
});

// --- the activity on its own, against remote and local repositories ---

describe('recordDeploymentTag', () => {
  let remote: string;
  let dataDir: string;

  beforeAll(() => {
    remote = path.join(root, 'remote.git');
    git(root, 'init', '--quiet', '--bare', remote);
    git(work, 'push', '--quiet', remote, 'HEAD:refs/heads/main');
    dataDir = path.join(root, 'data');
  });

  function fakeRequest(repo: string, commitId: string, id = randomBytes(4).toString('hex')): { request: DeploymentRequest; deployment: DeploymentView } {
    const request: DeploymentRequest = {
      id,
      service: 'web',
      environment: 'production',
      artifact: artifact(id),
      change: { commit: commitId, authors: ['alice@example.com'] },
      requester: { id: 'ci', identities: [], groups: [] },
      excluded: { principalIds: [], identities: [] },
      rule: {
        tier: 'low', approvals: 1, requiredGroups: [], eligibleGroups: [], expiresAfterMs: 3_600_000,
        deployer: 'log', policyHash: digestOf('policy'), ruleIndex: 0, git: { repo, tagFormat: 'deploy/{environment}/{id}' },
      },
      requestedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const deployment: DeploymentView = {
      ...pendingView(request, `deployment-${id}`),
      status: 'DEPLOYED',
      approvals: [{ approver: 'bob', at: new Date().toISOString(), digest: request.artifact.digest, groups: [] }],
    };
    return { request, deployment };
  }

  async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
    try {
      await promise;
    } catch (err) {
      expect(err).toBeInstanceOf(ApplicationFailure);
      return err as ApplicationFailure;
    }
    throw new Error('expected a failure');
  }

  it('tags a remote in a bare mirror under the data folder and pushes the tag', async () => {
    const url = `file://${remote}`;
    const input = fakeRequest(url, commits[2], 'remote-1');
    const result = await recordDeploymentTag({ dataDir }, input);
    expect(result).toEqual({ tag: 'deploy/production/remote-1', commit: commits[2], pushed: true, detail: expect.stringContaining('pushed it to') });
    expect(git(remote, 'rev-parse', 'refs/tags/deploy/production/remote-1^{commit}')).toBe(commits[2]);
    expect(git(remote, 'cat-file', '-t', 'refs/tags/deploy/production/remote-1')).toBe('tag');
    const mirror = mirrorPath(dataDir, url);
    expect(existsSync(path.join(mirror, 'HEAD'))).toBe(true);
    expect(git(mirror, 'rev-parse', '--is-bare-repository')).toBe('true');

    // again: done already, still pushed, no new tag object
    const object = git(remote, 'rev-parse', 'refs/tags/deploy/production/remote-1');
    const again = await recordDeploymentTag({ dataDir }, input);
    expect(again).toEqual({ tag: 'deploy/production/remote-1', commit: commits[2], pushed: true, detail: expect.stringContaining('already') });
    expect(git(remote, 'rev-parse', 'refs/tags/deploy/production/remote-1')).toBe(object);
  });

  it('fails without retrying when the tag exists on another commit', async () => {
    const err = await failure(recordDeploymentTag({ dataDir }, fakeRequest(`file://${remote}`, commits[3], 'remote-1')));
    expect(err.nonRetryable).toBe(true);
    expect(err.type).toBe('GitTagConflict');
    expect(err.message).toContain(`tag deploy/production/remote-1 already exists in file://${remote} on commit ${commits[2]}, not on the deployed commit ${commits[3]}`);

    await recordDeploymentTag({ dataDir }, fakeRequest(bare, commits[0], 'local-conflict'));
    const local = await failure(recordDeploymentTag({ dataDir }, fakeRequest(bare, commits[3], 'local-conflict')));
    expect(local.nonRetryable).toBe(true);
    expect(local.type).toBe('GitTagConflict');
    expect(local.message).toContain(`tag deploy/production/local-conflict already exists in ${bare} on commit ${commits[0]}`);
  });

  it('fails clearly, without retrying, when the commit is not in the repository', async () => {
    const missing = 'f'.repeat(40);
    const remoteErr = await failure(recordDeploymentTag({ dataDir }, fakeRequest(`file://${remote}`, missing)));
    expect(remoteErr.nonRetryable).toBe(true);
    expect(remoteErr.message).toMatch(new RegExp(`commit ${missing} is not in the repository file://`));
    const localErr = await failure(recordDeploymentTag({ dataDir }, fakeRequest(bare, missing)));
    expect(localErr.nonRetryable).toBe(true);
    expect(localErr.message).toContain(`commit ${missing} is not in the repository ${bare}`);
  });

  it('tags a local working repository in place and does not push to its origin', async () => {
    git(work, 'remote', 'add', 'origin', remote);
    const result = await recordDeploymentTag({ dataDir }, fakeRequest(work, commits[1], 'local-1'));
    expect(result).toEqual({ tag: 'deploy/production/local-1', commit: commits[1], pushed: false, detail: expect.stringContaining('not pushed') });
    expect(git(work, 'rev-parse', 'refs/tags/deploy/production/local-1^{commit}')).toBe(commits[1]);
    expect(git(remote, 'tag', '--list', 'deploy/production/local-1')).toBe('');
  });

  it('never shows the credentials of a remote URL in its errors', async () => {
    const err = await failure(recordDeploymentTag({ dataDir }, fakeRequest('https://countersign:supersecret-token@127.0.0.1:9/acme/web.git', commits[0])));
    expect(err.nonRetryable).toBeFalsy();
    expect(err.message).toMatch(/git ls-remote/);
    expect(err.message).not.toContain('supersecret-token');
    expect(JSON.stringify(err)).not.toContain('supersecret-token');
  });

  it('fails without retrying when the repository is not one', async () => {
    const err = await failure(recordDeploymentTag({ dataDir }, fakeRequest(path.join(root, 'nothing-here'), commits[0])));
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/is not a git repository/);
  });
});

function admin(): string {
  return harness.adminToken;
}
