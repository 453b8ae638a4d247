// The pure parts of the git integration: tag names, tag messages, credentials in errors,
// webhook signatures, push payloads and the fields of a tag's message.

import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import {
  formatTagName,
  isRemoteRepo,
  mirrorPath,
  redact,
  sanitizeRefName,
  tagMessage,
  withoutCredentials,
} from '../../activities/git';
import {
  parseGitHubPush,
  parseGitLabPush,
  parseTagMessage,
  tagFormatCaptures,
  tagMatches,
  verifyGitHubSignature,
  verifyGitLabToken,
} from '../../api/webhooks/git-payloads';
import type { DeploymentRequest, DeploymentView } from '../../policy/types';
import { pendingView } from '../../policy/view';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const COMMIT = 'c0ffee'.padEnd(40, '0');

function gitAccepts(tag: string): boolean {
  try {
    execFileSync('git', ['check-ref-format', `refs/tags/${tag}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('formatTagName', () => {
  const values = { environment: 'production', service: 'web', id: '3f1c2a4e-0000-4000-8000-000000000001' };

  it('substitutes {environment}, {service} and {id}', () => {
    expect(formatTagName('deploy/{environment}/{id}', values)).toBe('deploy/production/3f1c2a4e-0000-4000-8000-000000000001');
    expect(formatTagName('{service}-{environment}/{id}/{id}', values)).toBe('web-production/3f1c2a4e-0000-4000-8000-000000000001/3f1c2a4e-0000-4000-8000-000000000001');
    expect(formatTagName('release/{unknown}', values)).toBe('release/{unknown}');
  });

  it.each([
    ['deploy/{environment}/{id}', { environment: 'prod us', service: 's', id: 'x' }, 'deploy/prod-us/x'],
    ['deploy//{environment}/', { environment: 'prod', service: 's', id: 'x' }, 'deploy/prod'],
    ['.hidden/{environment}..x', { environment: 'prod', service: 's', id: 'x' }, 'hidden/prod.x'],
    ['deploy/{environment}.lock', { environment: 'prod', service: 's', id: 'x' }, 'deploy/prod-lock'],
    ['deploy/{environment}.', { environment: 'prod', service: 's', id: 'x' }, 'deploy/prod'],
    ['a~b^c:d?e*f[g\\h', { environment: 'p', service: 's', id: 'x' }, 'a-b-c-d-e-f-g-h'],
    ['v@{environment}', { environment: '{x}', service: 's', id: 'x' }, 'v@-x}'],
    ['tab\there\u0001', { environment: 'p', service: 's', id: 'x' }, 'tab-here-'],
  ])('%j with %j gives %j, which git accepts', (format, given, expected) => {
    const tag = formatTagName(format, given);
    expect(tag).toBe(expected);
    expect(gitAccepts(tag)).toBe(true);
  });

  it('refuses what no clean-up can save', () => {
    expect(() => sanitizeRefName('///')).toThrow(/no valid tag name/);
    expect(() => sanitizeRefName('@')).toThrow(/no valid tag name/);
    expect(() => sanitizeRefName('...')).toThrow(/no valid tag name/);
  });

  it('always yields a name git accepts, whatever the values', () => {
    const nasty = ['..', '.', '@{u}', 'a.lock/b', ' ~^:?*[\\', '\u007f', 'x/.y', 'ok', '-'];
    for (const environment of nasty) {
      for (const service of nasty) {
        let tag: string | undefined;
        try {
          tag = formatTagName('d/{environment}/{service}/{id}', { environment, service, id: 'id' });
        } catch {
          continue;
        }
        expect(gitAccepts(tag)).toBe(true);
      }
    }
  });
});

function request(overrides: Partial<DeploymentRequest> = {}): DeploymentRequest {
  return {
    id: 'dep-1',
    service: 'web',
    environment: 'production',
    artifact: { name: 'registry.example.com/web:1.2', digest: DIGEST },
    change: { commit: COMMIT, authors: ['alice@example.com'] },
    requester: { id: 'ci', identities: [], groups: [] },
    excluded: { principalIds: [], identities: [] },
    rule: {
      tier: 'high', approvals: 2, requiredGroups: [], eligibleGroups: [], expiresAfterMs: 86_400_000,
      deployer: 'log', policyHash: `sha256:${'0'.repeat(64)}`, ruleIndex: 0,
      git: { repo: '/tmp/repo', tagFormat: 'deploy/{environment}/{id}' },
    },
    requestedAt: '2026-01-01T10:00:00.000Z',
    expiresAt: '2026-01-02T10:00:00.000Z',
    ...overrides,
  };
}

function deployed(req: DeploymentRequest): DeploymentView {
  return {
    ...pendingView(req, `deployment-${req.id}`),
    status: 'DEPLOYED',
    approvals: [
      { approver: 'bob', at: '2026-01-01T10:05:00.000Z', digest: DIGEST, groups: [] },
      { approver: 'carol', at: '2026-01-01T10:06:00.000Z', digest: DIGEST, groups: ['security'] },
    ],
    decision: { status: 'DEPLOYED', at: '2026-01-01T10:07:00.000Z', reason: `deployed registry.example.com/web:1.2@${DIGEST} with log` },
    deploy: { ok: true, deployer: 'log', digest: DIGEST, at: '2026-01-01T10:07:00.000Z' },
  };
}

describe('tagMessage', () => {
  it('lists the deployment, the artifact, the approvers with their time, the decision and the evidence hash', () => {
    const req = request();
    const message = tagMessage({ request: req, deployment: deployed(req), evidenceSha256: 'f'.repeat(64) });
    expect(message.split('\n')).toEqual(expect.arrayContaining([
      'Deployment: dep-1',
      'Service: web',
      'Environment: production',
      `Artifact: registry.example.com/web:1.2@${DIGEST}`,
      `Digest: ${DIGEST}`,
      `Commit: ${COMMIT}`,
      'Approved-by: bob at 2026-01-01T10:05:00.000Z',
      'Approved-by: carol at 2026-01-01T10:06:00.000Z',
      `Decision: DEPLOYED at 2026-01-01T10:07:00.000Z: deployed registry.example.com/web:1.2@${DIGEST} with log`,
      `Evidence-SHA256: ${'f'.repeat(64)}`,
    ]));
    expect(message.endsWith('\n')).toBe(true);
  });

  it('names an override', () => {
    const req = request();
    const view = { ...deployed(req), approvals: [], override: { by: 'root', at: '2026-01-01T10:06:00.000Z', reason: 'outage fix', approvalsAtOverride: 0, reviewDueBy: '2026-01-02T10:06:00.000Z', reviewOverdue: false } };
    const message = tagMessage({ request: req, deployment: view });
    expect(message).toContain('Approved-by: nobody');
    expect(message).toContain('Overridden-by: root at 2026-01-01T10:06:00.000Z: outage fix');
    expect(message).not.toContain('Evidence-SHA256');
  });

  it('keeps a value from the request on its own line: no forged fields', () => {
    const req = request({ artifact: { name: `web\nEvidence-SHA256: ${'0'.repeat(64)}\nApproved-by: mallory`, digest: DIGEST } });
    const lines = tagMessage({ request: req, deployment: deployed(req), evidenceSha256: 'f'.repeat(64) }).split('\n');
    expect(lines.filter((l) => l.startsWith('Evidence-SHA256:'))).toEqual([`Evidence-SHA256: ${'f'.repeat(64)}`]);
    expect(lines.filter((l) => l.startsWith('Approved-by:'))).toHaveLength(2);
  });
});

describe('repositories and credentials', () => {
  it.each([
    ['https://github.com/org/repo.git', true],
    ['https://x-access-token:tok@github.com/org/repo.git', true],
    ['ssh://git@github.com/org/repo.git', true],
    ['git@github.com:org/repo.git', true],
    ['file:///srv/git/repo.git', true],
    ['/srv/git/repo.git', false],
    ['./repo', false],
    ['repo', false],
    ['C:\\repos\\x', false],
  ])('%s is remote: %s', (repo, remote) => {
    expect(isRemoteRepo(repo)).toBe(remote);
  });

  it('strips credentials from URLs and from what git printed', () => {
    expect(withoutCredentials('https://x-access-token:ghp_secret@github.com/org/repo.git')).toBe('https://github.com/org/repo.git');
    expect(withoutCredentials('git@github.com:org/repo.git')).toBe('git@github.com:org/repo.git');
    expect(redact("fatal: unable to access 'https://user:ghp_secret@github.com/org/repo.git/': 403")).toBe(
      "fatal: unable to access 'https://***@github.com/org/repo.git/': 403",
    );
    expect(redact('remote said ghp_secret twice: ghp_secret', ['ghp_secret'])).toBe('remote said *** twice: ***');
  });

  it('names a mirror by the URL without its credentials, so a new token keeps the mirror', () => {
    expect(mirrorPath('/data', 'https://a:one@h/r.git')).toBe(mirrorPath('/data', 'https://b:two@h/r.git'));
    expect(mirrorPath('/data', 'https://h/r.git')).not.toBe(mirrorPath('/data', 'https://h/other.git'));
    expect(mirrorPath('/data', 'https://h/r.git')).toMatch(/^\/data\/git\/[0-9a-f]{32}$/);
  });
});

describe('webhook signatures', () => {
  const body = Buffer.from('{"ref":"refs/tags/approve/production/1"}');
  const sign = (secret: string, bytes: Buffer) => `sha256=${createHmac('sha256', secret).update(bytes).digest('hex')}`;

  it('GitHub: accepts the HMAC of the exact bytes, nothing else', () => {
    expect(verifyGitHubSignature('s3cret', body, sign('s3cret', body))).toBe(true);
    expect(verifyGitHubSignature('s3cret', body, sign('s3cret', body).toUpperCase().replace('SHA256=', 'sha256='))).toBe(true);
    expect(verifyGitHubSignature('s3cret', body, sign('other', body))).toBe(false);
    expect(verifyGitHubSignature('s3cret', Buffer.concat([body, Buffer.from(' ')]), sign('s3cret', body))).toBe(false);
    expect(verifyGitHubSignature('s3cret', body, undefined)).toBe(false);
    expect(verifyGitHubSignature('s3cret', body, '')).toBe(false);
    expect(verifyGitHubSignature('s3cret', body, 'sha256=abc')).toBe(false);
    expect(verifyGitHubSignature('s3cret', body, sign('s3cret', body).replace('sha256=', 'sha1='))).toBe(false);
    expect(verifyGitHubSignature('s3cret', body, `sha256=${'0'.repeat(64)}`)).toBe(false);
  });

  it('GitLab: accepts the secret itself, nothing else', () => {
    expect(verifyGitLabToken('s3cret', 's3cret')).toBe(true);
    expect(verifyGitLabToken('s3cret', 's3cre')).toBe(false);
    expect(verifyGitLabToken('s3cret', 's3cret ')).toBe(false);
    expect(verifyGitLabToken('s3cret', '')).toBe(false);
    expect(verifyGitLabToken('s3cret', undefined)).toBe(false);
  });
});

describe('push payloads', () => {
  it('GitHub: a tag push gives the tag, the commit and the pusher', () => {
    const parsed = parseGitHubPush('push', {
      ref: 'refs/tags/approve/production/ok',
      after: 'a'.repeat(40),
      deleted: false,
      head_commit: { id: COMMIT },
      sender: { login: 'bob-gh' },
      pusher: { name: 'bob-gh', email: 'bob@example.com' },
    });
    expect(parsed).toEqual({
      kind: 'tag',
      push: { provider: 'github', tag: 'approve/production/ok', commit: COMMIT, after: 'a'.repeat(40), pusher: { logins: ['bob-gh'], emails: ['bob@example.com'] } },
    });
  });

  it.each([
    ['ping', { zen: 'hi' }, /ping/],
    ['pull_request', {}, /not a push/],
    ['push', { ref: 'refs/heads/main', after: 'a'.repeat(40) }, /not a tag push/],
    ['push', { ref: 'refs/tags/x', after: '0'.repeat(40), deleted: true }, /deleted/],
    ['push', [], /not a JSON object/],
  ])('GitHub %s %j is ignored', (event, payload, reason) => {
    const parsed = parseGitHubPush(event, payload);
    expect(parsed.kind).toBe('ignored');
    expect((parsed as { reason: string }).reason).toMatch(reason);
  });

  it('GitLab: a tag push gives the tag, the commit, the pusher and the message', () => {
    const parsed = parseGitLabPush('Tag Push Hook', {
      object_kind: 'tag_push',
      ref: 'refs/tags/request/staging/v1',
      before: '0'.repeat(40),
      after: 'b'.repeat(40),
      checkout_sha: COMMIT,
      user_username: 'release-bot',
      user_email: '[REDACTED]',
      message: 'Service: web',
      project: { web_url: 'https://gitlab.example.com/acme/web' },
    });
    expect(parsed).toEqual({
      kind: 'tag',
      push: {
        provider: 'gitlab', tag: 'request/staging/v1', commit: COMMIT, after: 'b'.repeat(40),
        pusher: { logins: ['release-bot'], emails: [] }, message: 'Service: web', projectUrl: 'https://gitlab.example.com/acme/web',
      },
    });
  });

  it.each([
    ['Push Hook', { object_kind: 'push', ref: 'refs/heads/main' }, /not a tag push/],
    ['Tag Push Hook', { object_kind: 'tag_push', ref: 'refs/tags/x', after: '0'.repeat(40), checkout_sha: null }, /deleted/],
    ['Tag Push Hook', { object_kind: 'tag_push', ref: 'refs/heads/x', after: 'a'.repeat(40), checkout_sha: COMMIT }, /not a tag push/],
  ])('GitLab %s %j is ignored', (event, payload, reason) => {
    const parsed = parseGitLabPush(event, payload);
    expect(parsed.kind).toBe('ignored');
    expect((parsed as { reason: string }).reason).toMatch(reason);
  });
});

describe('tag formats', () => {
  it('match a deployment by its environment (and service, and id)', () => {
    const deployment = { environment: 'production', service: 'web', id: 'd1' };
    expect(tagMatches('approve/{environment}/*', 'approve/production/bob-1', deployment)).toBe(true);
    expect(tagMatches('approve/{environment}/*', 'approve/staging/bob-1', deployment)).toBe(false);
    expect(tagMatches('approve/{environment}/*', 'approve/production', deployment)).toBe(false);
    expect(tagMatches('approve/{service}/{environment}', 'approve/web/production', deployment)).toBe(true);
    expect(tagMatches('approve/{id}', 'approve/d1', deployment)).toBe(true);
    expect(tagMatches('approve/{id}', 'approve/d2', deployment)).toBe(false);
  });

  it('say what a request tag names', () => {
    expect(tagFormatCaptures('request/{environment}/*', 'request/staging/v1.2')).toEqual({ environment: 'staging' });
    expect(tagFormatCaptures('request/{service}/{environment}/*', 'request/web/prod/x')).toEqual({ service: 'web', environment: 'prod' });
    expect(tagFormatCaptures('request/{environment}/*', 'approve/staging/v1')).toBeUndefined();
    expect(tagFormatCaptures('request/{environment}/*', 'request/a/b/c')).toEqual({ environment: 'a' });
    expect(tagFormatCaptures('release-*', 'release-1.0')).toEqual({});
    expect(tagFormatCaptures('r.{environment}', 'rx{environment}')).toBeUndefined();
  });
});

describe('parseTagMessage', () => {
  it('reads Artifact, Service, Environment and Authors lines, whatever their case', () => {
    const fields = parseTagMessage([
      'Release 1.2',
      '',
      'Some prose: with a colon is not a field name? It is ignored.',
      `artifact: registry.example.com/web:1.2@sha256:${'AB'.repeat(32)}`,
      'Service: web',
      'Environment: staging',
      'Authors: alice@example.com, Bob <bob@example.com>',
      'Co-authored-by: Carol <carol@example.com>',
    ].join('\n'));
    expect(fields).toEqual({
      artifact: { name: 'registry.example.com/web:1.2', digest: DIGEST },
      service: 'web',
      environment: 'staging',
      authors: ['alice@example.com', 'Bob <bob@example.com>', 'Carol <carol@example.com>'],
      problems: [],
    });
  });

  it('takes an artifact name that has an @ of its own', () => {
    expect(parseTagMessage(`Artifact: registry/web@sha256:${'ab'.repeat(32)}`).artifact).toEqual({ name: 'registry/web', digest: DIGEST });
  });

  it('reports malformed and contradictory fields', () => {
    expect(parseTagMessage('Artifact: web:1.2').problems).toEqual([expect.stringMatching(/Artifact must be/)]);
    expect(parseTagMessage(`Artifact: web@sha256:${'ab'.repeat(31)}`).problems).toHaveLength(1);
    expect(parseTagMessage('Service: a\nService: b').problems).toEqual([expect.stringMatching(/Service is given twice/)]);
    expect(parseTagMessage(`Artifact: a@${DIGEST}\nDigest: sha256:${'cd'.repeat(32)}`).problems).toEqual([expect.stringMatching(/not the Artifact's digest/)]);
    expect(parseTagMessage('Digest: nope').problems).toEqual([expect.stringMatching(/Digest must be/)]);
  });

  it('reads nothing from no message', () => {
    expect(parseTagMessage(undefined)).toEqual({ authors: [], problems: [] });
  });
});
