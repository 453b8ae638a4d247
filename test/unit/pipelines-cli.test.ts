// The pipeline CLI's pure parts: argument parsing, the lines it prints, the event-stream parser,
// the live status line, the git range's people, and the CI token's expiry.

import { CliError, EXIT } from '../../cli/common';
import { Printer } from '../../cli/follow';
import { commitPeople, uniquePeople } from '../../cli/git-range';
import { jwtExpiry, tokenSource } from '../../cli/identity';
import { approverLink, changeLines, formatElapsed, isRefused, isWanted, missing, printable, statusLine, stillNeeds, verdictLine } from '../../cli/lines';
import { parseRequestArgs } from '../../cli/request';
import { SseParser } from '../../cli/sse';
import type { DeploymentView } from '../../policy/types';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const COMMIT = 'b'.repeat(40);
const BASE = ['--service', 'web', '--environment', 'production', '--artifact', 'reg/web:1', '--digest', DIGEST];

function usage(args: string[]): string {
  try {
    parseRequestArgs(args);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exit).toBe(EXIT.USAGE);
    return (err as CliError).message;
  }
  throw new Error(`no usage error for ${args.join(' ')}`);
}

describe('parseRequestArgs', () => {
  it('takes the contract\'s flags', () => {
    const parsed = parseRequestArgs([...BASE, '--commit', COMMIT, '--author', 'a@x.io', '--author', 'b@x.io', '--summary', 'fix', '--url', 'https://git/x',
      '--request-id', 'k1', '--wait', '--timeout', '2h', '--until', 'approved', '--minimum-tier', 'critical', '--requested-by', 'octo']);
    expect(parsed).toMatchObject({
      service: 'web', environment: 'production', artifact: 'reg/web:1', digest: DIGEST, commit: COMMIT, authors: ['a@x.io', 'b@x.io'],
      summary: 'fix', url: 'https://git/x', requestId: 'k1', wait: true, timeoutMs: 7_200_000, timeoutText: '2h', until: 'approved',
      minimumTier: 'critical', requestedBy: 'octo', fromGit: false,
    });
  });

  it('defaults: until deployed, no timeout, requestedBy from the CI\'s variables', () => {
    expect(parseRequestArgs([...BASE, '--from-git'], { GITHUB_ACTOR: 'octo', GITHUB_TRIGGERING_ACTOR: 'rerunner' })).toMatchObject({ until: 'deployed', timeoutMs: undefined, fromGit: true, requestedBy: 'rerunner', authors: [] });
    expect(parseRequestArgs([...BASE, '--from-git'], { GITLAB_USER_EMAIL: 'dev@example.com' }).requestedBy).toBe('dev@example.com');
    expect(parseRequestArgs([...BASE, '--from-git'], {}).requestedBy).toBeUndefined();
  });

  it('accepts --flag=value, an upper-case digest and commit, and a block of Co-authored-by lines as authors', () => {
    const parsed = parseRequestArgs([`--digest=${DIGEST.toUpperCase().replace('SHA256', 'sha256')}`, ...BASE.slice(0, 6), `--commit=${COMMIT.toUpperCase()}`,
      '--author', 'Co-authored-by: A <a@x.io>\nCo-authored-by: B <b@x.io>\n']);
    expect(parsed.digest).toBe(DIGEST);
    expect(parsed.commit).toBe(COMMIT);
    expect(parsed.authors).toEqual(['Co-authored-by: A <a@x.io>', 'Co-authored-by: B <b@x.io>']);
  });

  it.each<[string, string[], RegExp]>([
    ['nothing', [], /missing --service, --environment, --artifact, --digest/],
    ['a positional', [...BASE, '--commit', COMMIT, '--author', 'a', 'extra'], /no positional arguments/],
    ['an unknown flag', [...BASE, '--colour'], /Unknown option '--colour'/],
    ['a flag without its value', [...BASE, '--commit'], /argument missing/],
    ['a short digest', [...BASE.slice(0, 6), '--digest', 'sha256:abc', '--from-git'], /--digest must be sha256:/],
    ['a short commit', [...BASE, '--commit', 'abc123', '--author', 'a'], /--commit must be the full commit id/],
    ['no change at all', BASE, /name the change: --commit SHA with --author ID, or --from-git/],
    ['a commit without authors', [...BASE, '--commit', COMMIT], /name at least one --author/],
    ['--commit with --from-git', [...BASE, '--commit', COMMIT, '--from-git'], /both name the commit/],
    ['--timeout without --wait', [...BASE, '--from-git', '--timeout', '1h'], /--timeout needs --wait/],
    ['--until without --wait', [...BASE, '--from-git', '--until', 'approved'], /--until needs --wait/],
    ['a bad duration', [...BASE, '--from-git', '--wait', '--timeout', '90'], /--timeout must be a duration such as 30s/],
    ['a zero duration', [...BASE, '--from-git', '--wait', '--timeout', '0s'], /--timeout must be a duration/],
    ['a bad --until', [...BASE, '--from-git', '--wait', '--until', 'merged'], /--until must be approved or deployed/],
    ['an empty value', [...BASE, '--from-git', '--summary', '  '], /--summary is empty/],
    ['an escape sequence', [...BASE, '--from-git', '--artifact', 'x\u001b]0;pwned\u0007'], /--artifact contains a control character/],
    ['an author with a NUL', [...BASE, '--commit', COMMIT, '--author', 'a\u0000b'], /--author contains a control character/],
    ['a URL that is not http', [...BASE, '--from-git', '--url', 'javascript:alert(1)'], /--url must be an http\(s\) URL/],
  ])('refuses %s with a usage error that says what to write', (_title, args, message) => {
    const text = usage(args);
    expect(text).toMatch(message);
    expect(text).toContain('countersign request --help');
  });
});

function view(overrides: Partial<DeploymentView> = {}): DeploymentView {
  return {
    id: 'dep-1', status: 'PENDING', service: 'pay', environment: 'production', tier: 'critical', requiredApprovals: 2,
    requiredGroups: ['security'], eligibleGroups: [], approvals: [], refused: [], refusedCount: 0,
    artifact: { name: 'reg/pay:1', digest: DIGEST }, change: { commit: COMMIT, authors: ['alice@example.com'] },
    requestedBy: 'ci', requestedAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-01-01T08:00:00.000Z', deployer: 'log',
    policyHash: 'h', workflowId: 'deployment-dep-1', version: 0, ...overrides,
  };
}
const approval = (approver: string, groups: string[] = [], at = `2030-01-01T00:0${approver.length}:00.000Z`, comment?: string) =>
  ({ approver, at, digest: DIGEST, groups, ...(comment ? { comment } : {}) });

describe('the lines', () => {
  it.each<[string, Partial<DeploymentView>, { approvals: number; groups: string[] }, string]>([
    ['nothing yet', {}, { approvals: 2, groups: ['security'] }, 'needs 2 approvals and a member of security'],
    ['one outside the group', { approvals: [approval('bob')] }, { approvals: 1, groups: ['security'] }, 'needs 1 more approval and a member of security'],
    ['two outside the group', { approvals: [approval('bob'), approval('erin')] }, { approvals: 0, groups: ['security'] }, 'needs a member of security'],
    ['one from security', { approvals: [approval('carol', ['security'])] }, { approvals: 1, groups: [] }, 'needs 1 more approval'],
    ['quorum', { approvals: [approval('carol', ['security']), approval('bob')] }, { approvals: 0, groups: [] }, ''],
    ['two groups missing', { requiredGroups: ['security', 'sre'] }, { approvals: 2, groups: ['security', 'sre'] }, 'needs 2 approvals and members of security and sre'],
  ])('what is missing: %s', (_title, overrides, expected, text) => {
    expect(missing(view(overrides))).toEqual(expected);
    expect(stillNeeds(view(overrides))).toBe(text);
  });

  it('one line per approval, with the progress as it stood, even when several arrive at once', () => {
    const after = view({ version: 3, approvals: [approval('bob', [], undefined, 'looks\nright'), approval('carol', ['security'])] });
    expect(changeLines(view(), after)).toEqual([
      'approved by bob ("looks right"): 1 of 2 approvals; needs 1 more approval and a member of security',
      'approved by carol: 2 of 2 approvals',
    ]);
  });

  it('a deploy held by a freeze, and its release (it stays APPROVED meanwhile)', () => {
    const approved = view({ status: 'APPROVED', decision: { status: 'APPROVED', at: 'x', reason: 'approved by bob, carol' } });
    const hold = { frozen: true, reason: 'quarter\nend', until: '2030-01-02T00:00:00.000Z', windows: ['q-end'], heldSince: 'x' };
    const held = { ...approved, version: 4, freeze: hold };
    expect(changeLines(approved, held)).toEqual(['HELD by a freeze (q-end) until 2030-01-02T00:00:00.000Z: quarter end']);
    expect(changeLines(held, { ...held, version: 5 })).toEqual([]);
    expect(statusLine(held, 65_000)).toBe('APPROVED, held by a freeze until 2030-01-02T00:00:00.000Z · 1m05s');
    const ended = { ...held, version: 6, freeze: { ...hold, frozen: false, released: 'ended' as const } };
    expect(changeLines(held, ended)).toEqual(['RELEASED from the freeze: the freeze ended']);
    const passed = { ...held, version: 6, freeze: { ...hold, frozen: false, released: 'overridden' as const, passedBy: { by: 'root', at: 'x', reason: 'hotfix' } } };
    expect(changeLines(held, passed)).toEqual(["RELEASED from the freeze: passed by root's override: hotfix"]);
  });

  it('refusals, the decision and the deploy', () => {
    const refused = { kind: 'approval' as const, actor: 'alice', at: 'x', reason: 'AUTHOR' as const, detail: 'alice is an author of change …' };
    expect(changeLines(view(), view({ refused: [refused], refusedCount: 1 }))).toEqual(['refused: approval by alice: AUTHOR: alice is an author of change …']);
    // More refusals in one step than the view keeps whole: counted.
    expect(changeLines(view(), view({ refused: [refused], refusedCount: 3 }))).toEqual([
      'refused: approval by alice: AUTHOR: alice is an author of change …',
      'refused: 2 more attempt(s)',
    ]);
    const approved = view({ status: 'APPROVED', decision: { status: 'APPROVED', at: 'x', reason: 'approved by bob, carol under tier critical' } });
    expect(changeLines(view(), approved)).toEqual(['APPROVED: approved by bob, carol under tier critical']);
    expect(changeLines(approved, { ...approved, status: 'DEPLOYING' })).toEqual(['DEPLOYING with log']);
    // The approval written together with the deploy's start: both said.
    expect(changeLines(view(), { ...approved, status: 'DEPLOYING' })).toEqual(['APPROVED: approved by bob, carol under tier critical', 'DEPLOYING with log']);
    const deployed = { ...approved, status: 'DEPLOYED' as const, deploy: { ok: true, deployer: 'log', digest: DIGEST, at: 'x' } };
    expect(changeLines({ ...approved, status: 'DEPLOYING' }, deployed)).toEqual([`DEPLOYED ${DIGEST} with log`]);
    const failed = { ...approved, status: 'FAILED' as const, deploy: { ok: false, deployer: 'script', digest: DIGEST, at: 'x', error: 'exit 3' }, decision: { status: 'FAILED' as const, at: 'x', reason: 'deploy failed: exit 3' } };
    expect(verdictLine(failed)).toBe('FAILED: the deploy with script failed: exit 3');
    const rejected = view({ status: 'REJECTED', decision: { status: 'REJECTED', at: 'x', by: 'dave', reason: 'rejected by dave: not now' } });
    expect(changeLines(view(), rejected)).toEqual(['REJECTED: rejected by dave: not now']);
    expect(verdictLine(view({ status: 'CANCELLED', decision: { status: 'CANCELLED', at: 'x', by: 'ci', reason: '' } }))).toBe('CANCELLED by ci');
    // Nothing new: nothing printed.
    expect(changeLines(rejected, { ...rejected, version: 9 })).toEqual([]);
  });

  it('what ends the wait', () => {
    expect(['APPROVED', 'DEPLOYING', 'DEPLOYED'].map((s) => isWanted(s as never, 'approved'))).toEqual([true, true, true]);
    expect(['APPROVED', 'DEPLOYING', 'DEPLOYED'].map((s) => isWanted(s as never, 'deployed'))).toEqual([false, false, true]);
    for (const status of ['REJECTED', 'EXPIRED', 'CANCELLED', 'FAILED'] as const) {
      expect(isRefused(status, 'deployed')).toBe(true);
      expect(isRefused(status, 'approved')).toBe(true);
    }
    expect(isRefused('PENDING', 'deployed')).toBe(false);
  });

  it.each([[0, '0s'], [5_400, '5s'], [125_000, '2m05s'], [3_723_000, '1h02m03s'], [-5, '0s']])('elapsed %d ms is %s', (ms, text) => {
    expect(formatElapsed(ms)).toBe(text);
  });

  it('never lets the server\'s text drive the terminal', () => {
    expect(printable('ok\u001b[2J\u009b31m\u0007done')).toBe('ok\uFFFD[2J\uFFFD31m\uFFFDdone');
    const hostile = view({ approvals: [approval('bob', [], undefined, 'x\u001b]0;title\u0007\r\nforged line')] });
    for (const line of changeLines(view(), hostile)) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(approverLink('https://cs.example.com/', 'a/b?c')).toBe('https://cs.example.com/ui/deployments/a%2Fb%3Fc');
  });

  it('the status line: status, progress, elapsed', () => {
    expect(statusLine(view({ approvals: [approval('bob')] }), 65_000)).toBe('PENDING 1 of 2 approvals; needs 1 more approval and a member of security · 1m05s');
    expect(statusLine(view({ status: 'DEPLOYING' }), 1_000, 'reconnecting')).toBe('DEPLOYING · 1s · reconnecting');
  });
});

describe('the live status line', () => {
  const capture = (isTTY: boolean) => {
    let out = '';
    const io = { stdout: (t: string) => void (out += t), stderr: () => undefined, env: {}, fetch, cwd: '.', isTTY };
    return { io, out: () => out };
  };

  it('on a terminal: redrawn in place, lines above it, cleared at the end', () => {
    const { io, out } = capture(true);
    const printer = new Printer(io, Date.now());
    printer.status(view());
    printer.line('approved by bob');
    printer.stop();
    expect(out()).toMatch(/^\r\x1b\[2KPENDING 0 of 2 approvals.* · 0s\r\x1b\[2K\[0s\] approved by bob\n\r\x1b\[2KPENDING .*\r\x1b\[2K$/);
  });

  it('in CI: plain lines only', () => {
    const { io, out } = capture(false);
    const printer = new Printer(io, Date.now());
    printer.status(view());
    printer.line('approved by bob');
    printer.stop();
    expect(out()).toBe('[0s] approved by bob\n');
  });
});

describe('the event-stream parser', () => {
  it('parses events, ids, comments and retry, across chunk boundaries and line endings', () => {
    const parser = new SseParser();
    const items = [
      ...parser.push('retry: 2000\n: hello\n\nid: 1\nevent: deployment\nda'),
      ...parser.push('ta: {"a":1}\r'),
      ...parser.push('\n\r\nid: 2\ndata: line one\ndata: line two\n'),
      ...parser.push('\n'),
      ...parser.push('data:no space\n\n'),
    ];
    expect(items).toEqual([
      { retry: 2000 },
      { comment: 'hello' },
      { event: 'deployment', data: '{"a":1}', id: '1' },
      { event: 'message', data: 'line one\nline two', id: '2' },
      { event: 'message', data: 'no space', id: '2' },
    ]);
  });

  it('ignores what it does not know, and an event that never ends is not dispatched', () => {
    const parser = new SseParser();
    expect(parser.push('foo: bar\nretry: soon\nid: a\u0000b\n\ndata: half')).toEqual([]);
  });
});

describe('the git range\'s people', () => {
  it('takes the author and every Co-authored-by trailer, any case, without control characters', () => {
    expect(commitPeople('Frank', 'frank@example.com', 'Subject\n\nBody\n\nCo-authored-by: Bob <bob@example.com>\nco-authored-by:erin@example.com\n  CO-AUTHORED-BY: Eve \u001b[31m<eve@example.com>\n')).toEqual([
      'Frank <frank@example.com>', 'Bob <bob@example.com>', 'erin@example.com', 'Eve [31m <eve@example.com>',
    ]);
  });

  it('counts one address once, whatever its spelling of case', () => {
    expect(uniquePeople(['Bob <bob@example.com>', 'Robert <BOB@example.com>', 'bob@example.com', 'Erin <erin@example.com>'])).toEqual(['Bob <bob@example.com>', 'Erin <erin@example.com>']);
  });
});

describe('CI identity', () => {
  const io = (env: Record<string, string>) => ({ stdout: () => undefined, stderr: () => undefined, env, fetch, cwd: '.', isTTY: false });

  it('prefers COUNTERSIGN_TOKEN, then GitHub Actions, then GitLab\'s id token', () => {
    expect(tokenSource(io({ COUNTERSIGN_TOKEN: 't', ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'r' })).origin).toBe('COUNTERSIGN_TOKEN');
    expect(tokenSource(io({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'r', COUNTERSIGN_ID_TOKEN: 'j' })).origin).toBe('the GitHub Actions OIDC token (audience countersign)');
    expect(tokenSource(io({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'r', COUNTERSIGN_AUDIENCE: 'cs-prod' })).origin).toContain('audience cs-prod');
    expect(tokenSource(io({ COUNTERSIGN_ID_TOKEN: 'j' })).origin).toBe('COUNTERSIGN_ID_TOKEN');
    expect(() => tokenSource(io({}))).toThrow(/no credentials/);
  });

  it('reads a JWT\'s expiry, and none from what is not a JWT', () => {
    const payload = Buffer.from(JSON.stringify({ exp: 2_000_000_000 })).toString('base64url');
    expect(jwtExpiry(`e30.${payload}.sig`)).toBe(2_000_000_000_000);
    expect(jwtExpiry('not-a-jwt')).toBeUndefined();
  });
});
