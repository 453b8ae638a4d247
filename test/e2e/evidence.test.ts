// Evidence bound to the artifact, end to end: a deployment through the HTTP API on real Temporal
// and PostgreSQL, its signed evidence, the public key, and `countersign` checking both offline
// and against the server. The policy tags deployments in a real git repository, so that the
// tag's Evidence-SHA256 can be compared with the evidence served.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXIT, main } from '../../cli/countersign';
import type { DsseEnvelope } from '../../evidence/dsse';
import type { InTotoStatement } from '../../evidence/statement';
import { verifyEvidence } from '../../evidence/verify';
import { canonicalJson } from '../../policy/canonical-json';
import { DEFAULT_POLICY, type Harness, startCountersign } from '../support/harness';
import { deploymentBody, digestOf, eventually, standardCast, waitForStatus } from '../support/fixtures';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.com', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

const scratch = mkdtempSync(path.join(tmpdir(), 'countersign-evidence-e2e-'));
const repo = path.join(scratch, 'repo');
let commit: string;
let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;

beforeAll(async () => {
  git(scratch, 'init', '--quiet', repo);
  git(repo, 'commit', '--quiet', '--allow-empty', '-m', 'the change');
  commit = git(repo, 'rev-parse', 'HEAD');
  harness = await startCountersign({ policy: `${DEFAULT_POLICY}git:\n  repo: ${JSON.stringify(repo)}\n` });
  cast = await standardCast(harness);
});

afterAll(async () => {
  await harness?.close();
});

interface Run { code: number; out: string; err: string }

async function cli(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, env, cwd: scratch });
  return { code, out, err };
}

const decode = (envelope: DsseEnvelope): InTotoStatement => JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));

describe('the evidence of a deployed request', () => {
  const body = deploymentBody();
  let id: string;
  let served: { text: string; sha256: string; envelope: DsseEnvelope };
  const evidenceFile = path.join(scratch, 'evidence.json');

  beforeAll(async () => {
    body.change.commit = commit;
    const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
    expect(created.status).toBe(201);
    id = created.body.id;
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.alice.token, { digest: body.artifact.digest })).body.reason).toBe('AUTHOR');
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: digestOf('other') })).body.reason).toBe('DIGEST_MISMATCH');
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.bob.token, { digest: body.artifact.digest, comment: 'lgtm' })).status).toBe(200);
    expect((await cast.http.post(`/v1/deployments/${id}/approvals`, cast.erin.token, { digest: body.artifact.digest })).status).toBe(200);
    await waitForStatus(cast.http, cast.ci.token, id, ['DEPLOYED']);
    // Tagged last: the evidence is final once the tag is recorded.
    await eventually(async () => (await cast.http.get(`/v1/deployments/${id}`, cast.ci.token)).body, (view) => Boolean(view.gitTag));
  });

  it('is served to the requesting pipeline as a DSSE envelope with the sha256 of its bytes', async () => {
    const response = await cast.http.request('GET', `/v1/deployments/${id}/evidence`, { token: cast.ci.token });
    expect(response.status).toBe(200);
    expect(response.contentType).toMatch(/^application\/json/);
    const raw = await (await fetch(`${harness.url}/v1/deployments/${id}/evidence`, { headers: { authorization: `Bearer ${cast.ci.token}` } })).text();
    const sha256 = response.headers.get('x-evidence-sha256')!;
    expect(sha256).toBe(createHash('sha256').update(raw).digest('hex'));
    served = { text: raw, sha256, envelope: response.body };
    writeFileSync(evidenceFile, raw);
    expect(served.envelope).toEqual({
      payloadType: 'application/vnd.in-toto+json',
      payload: expect.any(String),
      signatures: [{ keyid: harness.evidenceKey.keyid, sig: expect.any(String) }],
    });
  });

  it('verifies with the server\'s key, for the artifact\'s digest', () => {
    const verdict = verifyEvidence(served.envelope, { publicKeyPem: harness.evidenceKey.publicKeyPem, digest: body.artifact.digest });
    expect(verdict).toMatchObject({ ok: true, problems: [], notes: [] });
  });

  it('records the request, the rule, every approval and refusal, the decision, the deploy and the workflow run', async () => {
    const statement = decode(served.envelope);
    expect(statement.subject).toEqual([{ name: body.artifact.name, digest: { sha256: body.artifact.digest.slice('sha256:'.length) } }]);
    const p = statement.predicate;
    expect(p.deployment).toEqual({ id, status: 'DEPLOYED' });
    expect(p.request).toMatchObject({ service: 'web', environment: 'production', requestedBy: 'ci', excludedPrincipals: ['alice'] });
    expect(p.change).toMatchObject({ commit, authors: ['alice@example.com'] });
    expect(p.rule).toMatchObject({ tier: 'high', approvals: 2, requiredGroups: [], eligibleGroups: [], deployer: 'log', ruleIndex: 2, policyHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(p.approvals).toEqual([
      expect.objectContaining({ approver: 'bob', digest: body.artifact.digest, comment: 'lgtm' }),
      expect.objectContaining({ approver: 'erin', digest: body.artifact.digest }),
    ]);
    expect(p.refused.map((r) => `${r.actor}:${r.reason}`)).toEqual(['alice:AUTHOR', 'bob:DIGEST_MISMATCH']);
    expect(p.decision).toMatchObject({ status: 'DEPLOYED' });
    expect(p.deploy).toMatchObject({ ok: true, deployer: 'log', digest: body.artifact.digest });
    expect(p.deploy).not.toHaveProperty('output');
    const { runId } = await harness.temporal.workflow.getHandle(`deployment-${id}`).describe();
    expect(p.temporal).toEqual({ namespace: 'default', workflowId: `deployment-${id}`, runId });
    expect(canonicalJson(statement)).not.toContain('gitTag');
  });

  it('is the same bytes every time, and the git tag records its sha256', async () => {
    const again = await fetch(`${harness.url}/v1/deployments/${id}/evidence`, { headers: { authorization: `Bearer ${cast.admin}` } });
    expect(again.headers.get('x-evidence-sha256')).toBe(served.sha256);
    expect(await again.text()).toBe(served.text);
    const tag = git(repo, 'cat-file', '-p', `refs/tags/deploy/production/${id}`);
    expect(tag.split('\n')).toContain(`Evidence-SHA256: ${served.sha256}`);
  });

  it('publishes its key without a token', async () => {
    const response = await cast.http.get('/v1/keys');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ keys: [{ keyid: harness.evidenceKey.keyid, algorithm: 'ed25519', publicKeyPem: harness.evidenceKey.publicKeyPem }] });
  });

  it('countersign verify checks it with the key from COUNTERSIGN_URL', async () => {
    const run = await cli(['verify', 'evidence.json', '--digest', body.artifact.digest], { COUNTERSIGN_URL: harness.url });
    expect(run.err).toBe('');
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toContain(`evidence valid: signed by ${harness.evidenceKey.keyid}`);
    expect(run.out).toMatch(/service +web → production/);
    expect(run.out).toMatch(/approvers +bob \(.*\), erin \(.*\)/);
    expect(run.out).toMatch(/decision +DEPLOYED at/);
  });

  it('countersign keys saves the key, and verify --key checks offline', async () => {
    const keys = await cli(['keys'], { COUNTERSIGN_URL: harness.url });
    expect(keys.code).toBe(EXIT.OK);
    expect(keys.out).toBe(harness.evidenceKey.publicKeyPem);
    writeFileSync(path.join(scratch, 'countersign.pem'), keys.out);
    const run = await cli(['verify', evidenceFile, '--key', 'countersign.pem', '--digest', body.artifact.digest]);
    expect(run.code).toBe(EXIT.OK);
  });

  it('countersign verify refuses a tampered copy (exit 1)', async () => {
    const statement = decode(served.envelope);
    statement.predicate.approvals = statement.predicate.approvals.map((a) => ({ ...a, approver: 'mallory' }));
    const tampered = { ...served.envelope, payload: Buffer.from(canonicalJson(statement)).toString('base64') };
    writeFileSync(path.join(scratch, 'tampered.json'), JSON.stringify(tampered));
    const run = await cli(['verify', 'tampered.json'], { COUNTERSIGN_URL: harness.url });
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain('the evidence was altered or signed by another key');
  });

  it('countersign verify refuses it for another artifact (exit 1)', async () => {
    const run = await cli(['verify', 'evidence.json', '--key', 'countersign.pem', '--digest', digestOf('another artifact')]);
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain('it does not cover this artifact');
  });

  it('is not shown to a pipeline that did not request it, nor without a token', async () => {
    const other = await cast.http.get(`/v1/deployments/${id}/evidence`, cast.otherCi.token);
    expect(other.status).toBe(404);
    expect(other.contentType).toContain('application/problem+json');
    expect((await cast.http.get(`/v1/deployments/${id}/evidence`)).status).toBe(401);
    expect((await cast.http.get(`/v1/deployments/no-such-id/evidence`, cast.admin)).status).toBe(404);
  });
});

describe('the evidence of a pending request', () => {
  it('is served and verifies, with no decision yet', async () => {
    const body = deploymentBody();
    const created = await cast.http.post('/v1/deployments', cast.ci.token, body);
    const response = await cast.http.get(`/v1/deployments/${created.body.id}/evidence`, cast.bob.token);
    expect(response.status).toBe(200);
    const verdict = verifyEvidence(response.body, { publicKeyPem: harness.evidenceKey.publicKeyPem, digest: body.artifact.digest });
    expect(verdict.ok).toBe(true);
    expect(verdict.statement?.predicate.deployment.status).toBe('PENDING');
    expect(verdict.statement?.predicate.decision).toBeUndefined();
  });
});

describe('countersign audit verify', () => {
  it('exits 0 with an admin token on an intact chain', async () => {
    const run = await cli(['audit', 'verify'], { COUNTERSIGN_URL: harness.url, COUNTERSIGN_TOKEN: harness.adminToken });
    expect(run.err).toBe('');
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toMatch(/^audit chain intact: \d+ events, head [0-9a-f]{64}\n$/);
  });

  it('exits 3 when the server refuses the token', async () => {
    const pipeline = await cli(['audit', 'verify'], { COUNTERSIGN_URL: harness.url, COUNTERSIGN_TOKEN: cast.ci.token });
    expect(pipeline.code).toBe(EXIT.SERVER);
    expect(pipeline.err).toContain('answered 403');
    const unknown = await cli(['audit', 'verify'], { COUNTERSIGN_URL: harness.url, COUNTERSIGN_TOKEN: 'not-a-token' });
    expect(unknown.code).toBe(EXIT.SERVER);
    expect(unknown.err).toContain('answered 401');
  });

  it('exits 1 naming the first broken link once an event is altered', async () => {
    const [event] = (await harness.dataSource.query(`SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 2`)) as Array<{ seq: string }>;
    // Only a superuser disabling the append-only trigger can do this; the chain still gives it away.
    await harness.dataSource.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
    await harness.dataSource.query(`UPDATE audit_events SET actor = 'mallory' WHERE seq = $1`, [event.seq]);
    await harness.dataSource.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete');
    const run = await cli(['audit', 'verify'], { COUNTERSIGN_URL: harness.url, COUNTERSIGN_TOKEN: harness.adminToken });
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain(`audit chain BROKEN at event ${event.seq}`);
    expect(run.err).toContain('the event was altered');
  });
});
