// Evidence bound to the artifact: the in-toto statement, its DSSE envelope, the offline check
// and the `countersign` command line, without a server.

import { generateKeyPairSync, createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXIT, helpText, main } from '../../cli/countersign';
import { evidenceDocument } from '../../evidence';
import { decodeBase64Strict, pae, signEnvelope, verifyEnvelope, type DsseEnvelope } from '../../evidence/dsse';
import { type EvidenceKey, keyIdOf, loadEvidenceKey } from '../../evidence/keys';
import { buildStatement, PREDICATE_TYPE, STATEMENT_TYPE, type InTotoStatement } from '../../evidence/statement';
import { verifyEvidence } from '../../evidence/verify';
import { canonicalJson } from '../../policy/canonical-json';
import type { DeploymentRequest, DeploymentView } from '../../policy/types';
import { deploymentView } from '../../policy/view';

const HEX = 'ab'.repeat(32);
const DIGEST = `sha256:${HEX}`;
const OTHER = `sha256:${'cd'.repeat(32)}`;
const COMMIT = 'c0ffee'.padEnd(40, '0');

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-evidence-'));
const key: EvidenceKey = loadEvidenceKey({ dataDir: path.join(dir, 'data') });
const otherKey: EvidenceKey = loadEvidenceKey({ dataDir: path.join(dir, 'other') });

function request(overrides: Partial<DeploymentRequest> = {}): DeploymentRequest {
  return {
    id: '3f1c2a4e-0000-4000-8000-000000000001',
    service: 'pay-api',
    environment: 'production',
    artifact: { name: 'registry.example.com/pay-api:1.4.2', digest: DIGEST },
    change: { commit: COMMIT, authors: ['alice@example.com'], summary: 'a change', url: 'https://git.example.com/pull/1' },
    requestId: 'build-42',
    requester: { id: 'ci', identities: [], groups: [] },
    excluded: { principalIds: ['alice'], identities: ['alice@example.com'] },
    rule: {
      tier: 'critical', approvals: 2, requiredGroups: ['security'], eligibleGroups: [], expiresAfterMs: 8 * 3_600_000,
      deployer: 'log', policyHash: 'f'.repeat(64), ruleIndex: 0,
    },
    requestedAt: '2026-01-01T10:00:00.000Z',
    expiresAt: '2026-01-01T18:00:00.000Z',
    ...overrides,
  };
}

function deployed(req: DeploymentRequest, extra: Partial<DeploymentView> = {}): DeploymentView {
  return {
    ...deploymentView(req, `deployment-${req.id}`, {
      status: 'DEPLOYED',
      approvals: [
        { approver: 'bob', at: '2026-01-01T10:05:00.000Z', digest: DIGEST, comment: 'ok', groups: [] },
        { approver: 'carol', at: '2026-01-01T10:06:00.000Z', digest: DIGEST, groups: ['security'] },
      ],
      refused: [{ kind: 'approval', actor: 'alice', at: '2026-01-01T10:01:00.000Z', reason: 'AUTHOR', detail: 'alice is an author' }],
      decision: { status: 'DEPLOYED', at: '2026-01-01T10:07:00.000Z', reason: 'deployed' },
      deploy: { ok: true, deployer: 'log', digest: DIGEST, at: '2026-01-01T10:07:00.000Z', output: 'a very long log…' },
      gitTag: { tag: 'deploy/production/x', commit: COMMIT, pushed: false },
      version: 7,
    }),
    ...extra,
  };
}

const input = (view?: DeploymentView, req = request()) => ({
  deployment: view ?? deployed(req),
  request: req,
  runId: 'run-1',
  namespace: 'default',
  temporalUiUrl: 'http://127.0.0.1:8233/',
});

const decode = (envelope: DsseEnvelope): InTotoStatement => JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));

describe('the in-toto statement', () => {
  const statement = buildStatement(input());

  it('names the artifact as its subject, by sha256 without the prefix', () => {
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.predicateType).toBe('https://countersign.dev/deployment-approval/v1');
    expect(statement.subject).toEqual([{ name: 'registry.example.com/pay-api:1.4.2', digest: { sha256: HEX } }]);
  });

  it('records the request, the change, the rule, every answer, the decision, the deploy and the workflow', () => {
    const p = statement.predicate;
    expect(p.request).toEqual({
      service: 'pay-api', environment: 'production', requestedBy: 'ci', requestedAt: '2026-01-01T10:00:00.000Z',
      expiresAt: '2026-01-01T18:00:00.000Z', requestId: 'build-42', excludedPrincipals: ['alice'],
    });
    expect(p.change).toMatchObject({ commit: COMMIT, authors: ['alice@example.com'], summary: 'a change', url: 'https://git.example.com/pull/1' });
    expect(p.rule).toEqual({
      tier: 'critical', approvals: 2, requiredGroups: ['security'], eligibleGroups: [], expiresAfterMs: 8 * 3_600_000,
      deployer: 'log', policyHash: 'f'.repeat(64), ruleIndex: 0,
    });
    expect(p.approvals.map((a) => a.approver)).toEqual(['bob', 'carol']);
    expect(p.refused).toEqual([expect.objectContaining({ actor: 'alice', reason: 'AUTHOR' })]);
    expect(p.decision).toMatchObject({ status: 'DEPLOYED' });
    expect(p.deploy).toEqual({ ok: true, deployer: 'log', digest: DIGEST, at: '2026-01-01T10:07:00.000Z' });
    expect(p.temporal).toEqual({
      namespace: 'default', workflowId: `deployment-${request().id}`, runId: 'run-1',
      uiUrl: `http://127.0.0.1:8233/namespaces/default/workflows/deployment-${request().id}/run-1/history`,
    });
  });

  it('leaves out the git tag, the version and the deployer output, so that it is stable once deployed', () => {
    const text = canonicalJson(statement);
    expect(text).not.toContain('gitTag');
    expect(text).not.toContain('version');
    expect(text).not.toContain('a very long log');
    const req = request();
    const before = deployed(req, { gitTag: undefined, version: 5 });
    expect(evidenceDocument(input(before, req), key).sha256).toBe(evidenceDocument(input(deployed(req), req), key).sha256);
  });

  it('has no Temporal UI link unless the UI and the run are both known', () => {
    expect(buildStatement({ ...input(), runId: undefined }).predicate.temporal.uiUrl).toBeUndefined();
    expect(buildStatement({ ...input(), temporalUiUrl: undefined }).predicate.temporal.uiUrl).toBeUndefined();
  });
});

describe('DSSE', () => {
  const statement = buildStatement(input());
  const envelope = signEnvelope(statement, key);

  it('encodes PAE as the spec says', () => {
    expect(pae('application/example', Buffer.from('hello world')).toString()).toBe('DSSEv1 19 application/example 11 hello world');
    expect(pae('t', Buffer.from('é')).toString()).toBe('DSSEv1 1 t 2 é');
  });

  it('signs the canonical JSON as an in-toto payload', () => {
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(Buffer.from(envelope.payload, 'base64').toString('utf8')).toBe(canonicalJson(statement));
    expect(envelope.signatures).toEqual([{ keyid: key.keyid, sig: expect.any(String) }]);
    expect(key.keyid).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(verifyEnvelope(envelope, key.publicKeyPem, key.keyid)).toMatchObject({ ok: true, keyid: key.keyid });
  });

  it('refuses a changed payload type (it is signed too)', () => {
    const verdict = verifyEnvelope({ ...envelope, payloadType: 'application/json' }, key.publicKey, key.keyid);
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('does not verify') });
  });

  it('reads base64 strictly: no other spelling of the same bytes passes', () => {
    expect(decodeBase64Strict('aGk=')?.toString()).toBe('hi');
    expect(decodeBase64Strict('aGl=')).toBeUndefined(); // decodes to "hi" too, leniently
    expect(decodeBase64Strict('aGk')).toBeUndefined();
    expect(decodeBase64Strict('a Gk=')).toBeUndefined();
  });
});

describe('verifyEvidence', () => {
  const { envelope } = evidenceDocument(input(), key);
  const check = (env: unknown, digest?: string) => verifyEvidence(env, { publicKeyPem: key.publicKeyPem, digest });

  it('accepts the evidence as signed', () => {
    const verdict = check(envelope, DIGEST);
    expect(verdict).toMatchObject({ ok: true, problems: [], keyid: key.keyid });
    expect(verdict.statement?.subject[0].digest.sha256).toBe(HEX);
  });

  it('accepts --digest with or without its prefix, in any case', () => {
    expect(check(envelope, HEX.toUpperCase()).ok).toBe(true);
  });

  it('fails when any single byte of the payload changes, saying so', () => {
    const bytes = Buffer.from(envelope.payload, 'base64');
    for (let i = 0; i < bytes.length; i += 1) {
      const altered = Buffer.from(bytes);
      altered[i] ^= 0x01;
      const verdict = check({ ...envelope, payload: altered.toString('base64') });
      expect(verdict.ok).toBe(false);
      expect(verdict.problems[0]).toBe(
        `signature does not verify with key ${key.keyid}: the evidence was altered or signed by another key`,
      );
    }
  });

  it('fails when any single character of the payload or the signature text changes', () => {
    const flip = (text: string, i: number) => text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);
    for (const field of ['payload', 'sig'] as const) {
      const text = field === 'payload' ? envelope.payload : envelope.signatures[0].sig;
      for (let i = 0; i < text.length; i += 1) {
        const altered = field === 'payload'
          ? { ...envelope, payload: flip(text, i) }
          : { ...envelope, signatures: [{ ...envelope.signatures[0], sig: flip(text, i) }] };
        const verdict = check(altered);
        expect(verdict.ok).toBe(false);
        expect(verdict.problems[0]).toMatch(/does not verify|not valid base64/);
      }
    }
  });

  it('fails with another key, naming both', () => {
    const verdict = verifyEvidence(envelope, { publicKeyPem: otherKey.publicKeyPem });
    expect(verdict.ok).toBe(false);
    expect(verdict.problems[0]).toContain(`does not verify with key ${otherKey.keyid}`);
    expect(verdict.problems[0]).toContain(key.keyid);
  });

  it('fails when the evidence is for another artifact than --digest', () => {
    const verdict = check(envelope, OTHER);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toEqual([`the evidence is for ${DIGEST}, not for ${OTHER}: it does not cover this artifact`]);
  });

  it('fails for something that is not an envelope', () => {
    expect(check({ hello: 'world' }).problems[0]).toMatch(/not a DSSE envelope/);
    expect(check(null).ok).toBe(false);
  });

  /** A statement a buggy or dishonest signer might make: signed, but not following the rule. */
  const signed = (edit: (s: InTotoStatement) => void) => {
    const statement = buildStatement(input());
    edit(statement);
    return check(signEnvelope(statement, key));
  };

  it('fails when the approvals do not meet the rule', () => {
    const tooFew = signed((s) => { s.predicate.approvals = s.predicate.approvals.slice(1); });
    expect(tooFew.ok).toBe(false);
    expect(tooFew.problems).toEqual(['the decision DEPLOYED does not follow from the approvals: 1 distinct approver of 2 required (tier critical)']);

    const noSecurity = signed((s) => { s.predicate.approvals[1].groups = []; });
    expect(noSecurity.problems).toEqual([expect.stringContaining('no approval from security')]);

    const samePerson = signed((s) => { s.predicate.approvals[1] = { ...s.predicate.approvals[1], approver: 'bob' }; });
    expect(samePerson.ok).toBe(false);
    expect(samePerson.problems[0]).toContain('1 distinct approver of 2 required');
    expect(samePerson.notes).toEqual(['bob appears more than once among the approvals; counted once']);
  });

  it('fails when an approval names another digest, or the requester or an author approved', () => {
    expect(signed((s) => { s.predicate.approvals[0].digest = OTHER; }).problems).toEqual([`bob approved ${OTHER}, not the subject ${DIGEST}`]);
    expect(signed((s) => { s.predicate.approvals[0].approver = 'ci'; }).problems).toEqual([
      'ci requested the deployment and approved it: segregation of duties is broken',
    ]);
    expect(signed((s) => { s.predicate.approvals[0].approver = 'alice'; }).problems).toEqual([
      'alice is an author of the change (or triggered it) and approved it: segregation of duties is broken',
    ]);
  });

  it('fails when an approver is outside the eligible groups', () => {
    const verdict = signed((s) => { s.predicate.rule.eligibleGroups = ['security']; });
    expect(verdict.problems).toEqual(['bob is not in security, the only groups tier critical accepts approvals from']);
  });

  it('fails when something was deployed that was not decided, or another digest deployed', () => {
    expect(signed((s) => { s.predicate.decision!.status = 'REJECTED'; }).problems).toEqual(['a deploy is recorded although the decision is REJECTED']);
    expect(signed((s) => { s.predicate.deploy!.digest = OTHER; }).problems).toEqual([`the deploy ran ${OTHER}, not the subject ${DIGEST}`]);
  });

  it('passes an override without quorum, saying so in a note', () => {
    const verdict = signed((s) => {
      s.predicate.approvals = [];
      s.predicate.override = { by: 'root', at: '2026-01-01T10:02:00.000Z', reason: 'outage', approvalsAtOverride: 0, reviewDueBy: '2026-01-01T18:02:00.000Z', reviewOverdue: false };
    });
    expect(verdict.ok).toBe(true);
    expect(verdict.notes).toEqual([expect.stringMatching(/^the gate was overridden by root at .* \(outage\): 0 distinct approvers of 2 required; no approval from security; not reviewed yet$/)]);
  });

  it('notes a deploy the change calendar held, and one an override let through a freeze', () => {
    const freeze = { frozen: false, reason: 'year end', until: '2026-01-02T00:00:00.000Z', windows: ['year-end'], heldSince: '2026-01-01T10:02:00.000Z' };
    const ended = signed((s) => { s.predicate.freeze = { ...freeze, released: 'ended', releasedAt: '2026-01-02T00:00:00.000Z' }; });
    expect(ended.ok).toBe(true);
    expect(ended.notes).toEqual(['the change calendar held the deploy from 2026-01-01T10:02:00.000Z (year-end: year end); released 2026-01-02T00:00:00.000Z (ended)']);
    const passed = signed((s) => {
      s.predicate.freeze = { ...freeze, released: 'overridden', passedBy: { by: 'root', at: '2026-01-01T11:00:00.000Z', reason: 'hotfix' } };
    });
    expect(passed.notes).toEqual([expect.stringContaining("the freeze was passed by root's override at 2026-01-01T11:00:00.000Z (hotfix)")]);
  });

  it('fails when a deploy is recorded while the calendar still holds it', () => {
    const verdict = signed((s) => {
      s.predicate.freeze = { frozen: true, reason: 'year end', until: '2026-01-02T00:00:00.000Z', windows: ['year-end'], heldSince: '2026-01-01T10:02:00.000Z' };
    });
    expect(verdict.problems).toEqual(['a deploy is recorded although the change calendar still holds it']);
  });

  it('notes a superseded request', () => {
    expect(signed((s) => { s.predicate.supersededBy = 'newer-id'; }).notes).toEqual(['superseded by the newer deployment newer-id']);
  });

  it('passes a rejected request without quorum', () => {
    const req = request();
    const rejected = deploymentView(req, `deployment-${req.id}`, {
      status: 'REJECTED', approvals: [], refused: [], decision: { status: 'REJECTED', at: '2026-01-01T10:03:00.000Z', by: 'bob', reason: 'no' }, version: 2,
    });
    expect(check(evidenceDocument(input(rejected, req), key).envelope).ok).toBe(true);
  });
});

describe('loadEvidenceKey', () => {
  it('generates one key under the data folder, private to its owner, and reuses it', () => {
    const dataDir = path.join(dir, 'fresh', 'nested');
    const first = loadEvidenceKey({ dataDir });
    const file = path.join(dataDir, 'evidence-key.pem');
    expect(first.path).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadEvidenceKey({ dataDir }).keyid).toBe(first.keyid);
    expect(first.keyid).toBe(keyIdOf(first.publicKey));
    expect(first.keyid).toBe(`sha256:${createHash('sha256').update(first.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`);
    expect(first.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('takes COUNTERSIGN_EVIDENCE_KEY when set', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const file = path.join(dir, 'given.pem');
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const loaded = loadEvidenceKey({ dataDir: path.join(dir, 'unused'), keyPath: file });
    expect(loaded.keyid).toBe(keyIdOf(publicKey));
    expect(loaded.source).toBe('env');
  });

  it('refuses a key that is not Ed25519, or not there, naming it', () => {
    const file = path.join(dir, 'rsa.pem');
    writeFileSync(file, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(() => loadEvidenceKey({ dataDir: dir, keyPath: file })).toThrow(/rsa key; evidence needs an Ed25519 key/);
    expect(() => loadEvidenceKey({ dataDir: dir, keyPath: path.join(dir, 'nope.pem') })).toThrow(/COUNTERSIGN_EVIDENCE_KEY .*nope\.pem.* cannot be read/);
  });

  it('ends up with a single key when several processes generate it at once', async () => {
    // keys.ts needs only node: built-ins, so it runs as plain JavaScript in real processes.
    const ts = await import('typescript');
    const js = ts.transpileModule(readFileSync(path.resolve(__dirname, '../../evidence/keys.ts'), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const moduleFile = path.join(dir, 'keys.js');
    writeFileSync(moduleFile, js);
    const dataDir = path.join(dir, 'race');
    const code = `
      const { loadEvidenceKey } = require(${JSON.stringify(moduleFile)});
      setTimeout(() => process.stdout.write(loadEvidenceKey({ dataDir: ${JSON.stringify(dataDir)} }).keyid), Number(process.argv[1]) - Date.now());
    `;
    const startAt = Date.now() + 1_000;
    const { execFile } = await import('node:child_process');
    const keyids = await Promise.all(Array.from({ length: 12 }, () => new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', code, String(startAt)], (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)));
    })));
    expect(new Set(keyids).size).toBe(1);
    expect(keyids[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(loadEvidenceKey({ dataDir }).keyid).toBe(keyids[0]);
    expect(readdirSync(dataDir)).toEqual(['evidence-key.pem']);
  });
});

// --- the command line -----------------------------------------------------------------------

interface Run { code: number; out: string; err: string }

async function cli(argv: string[], env: Record<string, string> = {}, fetchImpl?: typeof fetch): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: (t) => { out += t; },
    stderr: (t) => { err += t; },
    env,
    cwd: dir,
    fetch: fetchImpl ?? (async () => { throw new Error('no network in unit tests'); }),
  });
  return { code, out, err };
}

describe('countersign verify', () => {
  const doc = evidenceDocument(input(), key);
  const evidenceFile = path.join(dir, 'evidence.json');
  const keyFile = path.join(dir, 'key.pem');
  const otherKeyFile = path.join(dir, 'other.pem');
  const tamperedFile = path.join(dir, 'tampered.json');
  beforeAll(() => {
    writeFileSync(evidenceFile, doc.json);
    writeFileSync(keyFile, key.publicKeyPem);
    writeFileSync(otherKeyFile, otherKey.publicKeyPem);
    const statement = decode(doc.envelope);
    statement.predicate.approvals[0].approver = 'mallory';
    writeFileSync(tamperedFile, JSON.stringify({ ...doc.envelope, payload: Buffer.from(canonicalJson(statement)).toString('base64') }));
  });

  it('exits 0 for valid evidence and prints a summary', async () => {
    const run = await cli(['verify', 'evidence.json', '--key', keyFile, '--digest', DIGEST]);
    expect(run).toMatchObject({ code: EXIT.OK, err: '' });
    expect(run.out).toContain(`evidence valid: signed by ${key.keyid}`);
    expect(run.out).toMatch(/service +pay-api → production/);
    expect(run.out).toContain(`digest       ${DIGEST}`);
    expect(run.out).toMatch(/approvers +bob \(.*\), carol \(.*\)/);
    expect(run.out).toMatch(/decision +DEPLOYED at/);
  });

  it('accepts --key=FILE', async () => {
    expect((await cli(['verify', evidenceFile, `--key=${keyFile}`])).code).toBe(EXIT.OK);
  });

  it('exits 1 for altered evidence, saying why', async () => {
    const run = await cli(['verify', tamperedFile, '--key', keyFile]);
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain(`signature does not verify with key ${key.keyid}: the evidence was altered or signed by another key`);
  });

  it('exits 1 with another key, or for another digest', async () => {
    expect((await cli(['verify', evidenceFile, '--key', otherKeyFile])).code).toBe(EXIT.INVALID);
    const run = await cli(['verify', evidenceFile, '--key', keyFile, '--digest', OTHER]);
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain('it does not cover this artifact');
  });

  it('exits 1 for a file that is not JSON', async () => {
    const file = path.join(dir, 'garbage.json');
    writeFileSync(file, '{"payload": ');
    const run = await cli(['verify', file, '--key', keyFile]);
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain('is not JSON');
  });

  it('exits 1 for signed evidence whose approvals do not meet its rule', async () => {
    const statement = decode(doc.envelope);
    statement.predicate.approvals.pop();
    const file = path.join(dir, 'short.json');
    writeFileSync(file, JSON.stringify(signEnvelope(statement, key)));
    const run = await cli(['verify', file, '--key', keyFile]);
    expect(run.code).toBe(EXIT.INVALID);
    expect(run.err).toContain('does not follow from the approvals');
  });

  it.each([
    [['verify'], /name the evidence FILE/],
    [['verify', 'a.json', 'b.json'], /one FILE only/],
    [['verify', 'missing.json', '--key', 'key.pem'], /cannot read the evidence file missing.json: no such file/],
    [['verify', 'evidence.json', '--key', 'missing.pem'], /cannot read the key file missing.pem/],
    [['verify', 'evidence.json', '--key', 'evidence.json'], /not a PEM public key/],
    [['verify', 'evidence.json', '--key', 'key.pem', '--digest', 'md5:00'], /--digest must be sha256:<64 hex>/],
    [['verify', 'evidence.json', '--bogus'], /Unknown option '--bogus'/],
    [['verify', 'evidence.json'], /pass --key KEY .* or set COUNTERSIGN_URL/],
    [['verify', '.', '--key', 'key.pem'], /it is a folder/],
    [['audit'], /name the audit command/],
    [['audit', 'check'], /unknown audit command "check"/],
    [['audit', 'verify'], /set COUNTERSIGN_URL/],
    [['keys'], /set COUNTERSIGN_URL/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [[], /usage: countersign COMMAND/],
  ])('exits 2 for %j', async (argv, message) => {
    const run = await cli(argv as string[]);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.err).toMatch(message);
  });

  it('exits 2 for audit verify without a token', async () => {
    const run = await cli(['audit', 'verify'], { COUNTERSIGN_URL: 'http://127.0.0.1:1' });
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.err).toContain('COUNTERSIGN_TOKEN');
  });

  it('exits 3 when the server cannot be reached', async () => {
    const down = await cli(['verify', 'evidence.json'], { COUNTERSIGN_URL: 'http://127.0.0.1:1' });
    expect(down.code).toBe(EXIT.SERVER);
    expect(down.err).toContain('cannot reach http://127.0.0.1:1/v1/keys');
    const audit = await cli(['audit', 'verify'], { COUNTERSIGN_URL: 'http://127.0.0.1:1', COUNTERSIGN_TOKEN: 't' });
    expect(audit.code).toBe(EXIT.SERVER);
  });

  it('exits 3 when the server refuses, with its detail', async () => {
    const refusing = (async () => new Response(JSON.stringify({ status: 401, detail: 'unknown token' }), { status: 401, headers: { 'content-type': 'application/problem+json' } })) as typeof fetch;
    const run = await cli(['audit', 'verify'], { COUNTERSIGN_URL: 'http://cs.example', COUNTERSIGN_TOKEN: 'bad' }, refusing);
    expect(run.code).toBe(EXIT.SERVER);
    expect(run.err).toContain('http://cs.example/v1/audit/verify answered 401: unknown token (set COUNTERSIGN_TOKEN to a valid token)');
  });

  it('audit verify: exits 0 on an intact chain, 1 naming the first broken link', async () => {
    const answer = (body: unknown) => (async (url: string | URL | Request, init?: RequestInit) => {
      expect(String(url)).toBe('http://cs.example/v1/audit/verify');
      expect((init?.headers as Record<string, string>).authorization).toBe('Bearer admin-token');
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const env = { COUNTERSIGN_URL: 'http://cs.example/', COUNTERSIGN_TOKEN: 'admin-token' };
    const ok = await cli(['audit', 'verify'], env, answer({ ok: true, events: 12, head: 'a'.repeat(64) }));
    expect(ok).toMatchObject({ code: EXIT.OK, out: `audit chain intact: 12 events, head ${'a'.repeat(64)}\n` });
    const broken = await cli(['audit', 'verify'], env, answer({ ok: false, events: 4, brokenAt: { seq: '5', eventId: 'e5' }, reason: 'the event was altered' }));
    expect(broken.code).toBe(EXIT.INVALID);
    expect(broken.err).toContain('audit chain BROKEN at event 5 (e5): the event was altered');
  });

  it('verify without --key uses the key the server publishes', async () => {
    const keys = (async () => new Response(JSON.stringify({ keys: [{ keyid: key.keyid, algorithm: 'ed25519', publicKeyPem: key.publicKeyPem }] }), { status: 200 })) as typeof fetch;
    const run = await cli(['verify', 'evidence.json'], { COUNTERSIGN_URL: 'http://cs.example' }, keys);
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toContain('the key came from http://cs.example/v1/keys');
    const others = (async () => new Response(JSON.stringify({ keys: [{ keyid: otherKey.keyid, algorithm: 'ed25519', publicKeyPem: otherKey.publicKeyPem }] }), { status: 200 })) as typeof fetch;
    const wrong = await cli(['verify', 'evidence.json'], { COUNTERSIGN_URL: 'http://cs.example' }, others);
    expect(wrong.code).toBe(EXIT.INVALID);
    expect(wrong.err).toContain(`names key ${key.keyid}, which http://cs.example/v1/keys does not publish`);
  });

  it('--help lists the commands and the exit codes', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(EXIT.OK);
    expect(run.out).toBe(helpText());
    for (const word of ['verify', 'audit', 'keys', '0  valid', '1  invalid', '2  usage', '3  the server']) expect(run.out).toContain(word);
    expect((await cli(['verify', '--help'])).out).toContain('usage: countersign verify FILE');
    expect((await cli(['help', 'audit'])).out).toContain('usage: countersign audit verify');
  });
});
