// Notifications, the pure parts: the `notify:` configuration and the tiers' keys, who may receive
// a message, what a message says on each channel, and Slack's request signature.

import { createHmac } from 'node:crypto';
import { parse } from 'yaml';
import { redact } from '../../activities/notify';
import { emailHtml, emailSubject, emailText, facts, slackMessage, webhookBody } from '../../activities/notify/message';
import { signBody } from '../../activities/signing';
import { slackSignature } from '../../api/integrations/slack.service';
import { PolicyError, resolveRule, validatePolicy } from '../../policy/config';
import { principalIdentityKeys, withSkeletons } from '../../policy/confusables';
import { authorKeys } from '../../policy/identity';
import { addressesOf, deliveryKey, type DirectoryEntry, recipientsOf } from '../../policy/notify';
import type { DeploymentRequest, DeploymentView } from '../../policy/types';
import { pendingView } from '../../policy/view';

// Verbatim from CONTRACT.md, "Notifications and the approver page" (with the rules it needs).
const CONTRACT_YAML = `
notify:
  channels:
    mail: { type: email, smtp: "smtp://127.0.0.1:2525", from: "countersign@example.com" }
    chat: { type: slack, webhookUrl: "\${SLACK_WEBHOOK_URL}", signingSecret: "\${SLACK_SIGNING_SECRET}" }
    hook: { type: webhook, url: "http://127.0.0.1:9000/events", secret: "\${HOOK_SECRET}" }
tiers:
  high: { approvals: 2, expiresAfter: 24h, notify: [mail, hook], remindEvery: 4h }
rules:
  - { tier: high }
`;
const ENV = { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x', SLACK_SIGNING_SECRET: 'sign-me', HOOK_SECRET: 'hook-secret' };

function problemsOf(yaml: string, env: Record<string, string> = ENV): string[] {
  try {
    validatePolicy(parse(yaml), 'hash', env);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  return [];
}

const withTier = (tier: string, channels = 'mail: { type: email, smtp: "smtp://127.0.0.1:2525", from: "c@example.com" }') => `
notify:
  channels:
    ${channels}
tiers:
  t: ${tier}
rules:
  - { tier: t }
`;

describe('notify configuration', () => {
  it('accepts the CONTRACT.md form, substitutes ${VAR}s, and fixes the tier\'s schedule into the request\'s rule', () => {
    const policy = validatePolicy(parse(CONTRACT_YAML), 'hash', ENV);
    expect(policy.notify.channels.chat).toMatchObject({ type: 'slack', webhookUrl: ENV.SLACK_WEBHOOK_URL, signingSecret: 'sign-me', apiUrl: 'https://slack.com/api' });
    expect(policy.notify.channels.hook).toEqual({ name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9000/events', secret: 'hook-secret' });
    expect(policy.tiers.high.notify).toEqual({ channels: ['mail', 'hook'], remindEveryMs: 4 * 3_600_000, escalateTo: [] });
    // Channels are named in the rule, never inlined: no secret reaches a workflow's history.
    const rule = resolveRule(policy, 'web', 'production');
    expect(rule.notify).toEqual(policy.tiers.high.notify);
    expect(JSON.stringify(rule)).not.toContain('hook-secret');
  });

  it('a policy without notify: notifies nobody', () => {
    const policy = validatePolicy(parse('tiers:\n  low: { approvals: 1, expiresAfter: 1h }\nrules:\n  - { tier: low }\n'), 'hash');
    expect(policy.notify.channels).toEqual({});
    expect(policy.tiers.low.notify).toBeUndefined();
  });

  it.each([
    [withTier('{ approvals: 1, expiresAfter: 1h, notify: [nope] }'), 'tiers.t.notify: names channel nope, which notify.channels does not define'],
    [withTier('{ approvals: 1, expiresAfter: 1h, remindEvery: 1m }'), 'tiers.t.remindEvery: needs notify: [channel, …]'],
    [withTier('{ approvals: 1, expiresAfter: 1h, notify: [mail], remindEvery: soon }'), 'tiers.t.remindEvery: must be a duration'],
    [withTier('{ approvals: 1, expiresAfter: 7d, notify: [mail], remindEvery: 1m }'), 'tiers.t.remindEvery: would send 10080 reminders'],
    [withTier('{ approvals: 1, expiresAfter: 1h, notify: [mail], escalateAfter: 30m }'), 'tiers.t.escalateTo: is needed with escalateAfter'],
    [withTier('{ approvals: 1, expiresAfter: 1h, notify: [mail], escalateTo: [sre] }'), 'tiers.t.escalateAfter: is needed with escalateTo'],
    [withTier('{ approvals: 1, expiresAfter: 1h, notify: [mail], escalateAfter: 2h, escalateTo: [sre] }'), 'tiers.t.escalateAfter: must be shorter than'],
    [withTier('{ approvals: 1, expiresAfter: 1h, notify: [mail], remindEvery: 0s }'), 'tiers.t.remindEvery'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'chat: { type: slack, signingSecret: x }'), 'notify.channels.chat: needs webhookUrl'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'chat: { type: slack, botToken: xoxb-1 }'), 'notify.channels.chat.channel: is needed with botToken'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'chat: { type: slack, webhookUrl: "ftp://x" }'), 'notify.channels.chat.webhookUrl: must be an http(s) URL'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'mail: { type: email, smtp: "http://x", from: "c@example.com" }'), 'notify.channels.mail.smtp: must be an smtp:// or smtps:// URL'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'mail: { type: email, smtp: "smtp://x", from: "nobody" }'), 'notify.channels.mail.from: must be an email address'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'pager: { type: pagerduty }'), 'notify.channels.pager.type: must be one of email, slack, webhook'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'hook: { type: webhook, url: "https://x", secret: "${NOT_SET}" }'), 'notify.channels.hook.secret: refers to environment variable NOT_SET, which is not set'],
    [withTier('{ approvals: 1, expiresAfter: 1h }', 'hook: { type: webhook, url: "https://x", sekret: y }'), 'notify.channels.hook.sekret: unknown key'],
  ])('stops start-up naming the key: %#', (yaml, expected) => {
    const problems = problemsOf(yaml);
    expect(problems.some((problem) => problem.startsWith(expected))).toBe(true);
  });

  it('never repeats a secret in a problem', () => {
    const problems = problemsOf(withTier('{ approvals: 1, expiresAfter: 1h, notify: [mail, nope] }', 'mail: { type: email, smtp: "smtp://u:${SMTP_PASSWORD}@x", from: "c@example.com" }'), { SMTP_PASSWORD: 'p4ssw0rd-secret' });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).not.toContain('p4ssw0rd-secret');
  });

  it('a stricter minimumTier keeps the policy tier\'s notifications', () => {
    const policy = validatePolicy(parse(`
notify: { channels: { mail: { type: email, smtp: "smtp://x", from: "c@example.com" } } }
tiers:
  low: { approvals: 1, expiresAfter: 1h, notify: [mail] }
  two: { approvals: 2, expiresAfter: 2h, eligibleGroups: [sre] }
rules:
  - { tier: low }
`), 'hash');
    expect(resolveRule(policy, 'web', 'staging', 'two').notify).toEqual({ channels: ['mail'], escalateTo: [] });
  });
});

const addressKeys = (address: string) => withSkeletons(authorKeys(address));

function entry(id: string, emails: string[], roles = ['approver'], groups: string[] = []): DirectoryEntry {
  return { id, emails, roles, groups, identityKeys: principalIdentityKeys({ emails }) };
}

function requestOf(overrides: Partial<DeploymentRequest> = {}, rule: Partial<DeploymentRequest['rule']> = {}): DeploymentRequest {
  const authors = ['alice@example.com', 'b\u043Eb@example.com'];
  return {
    id: 'd-1',
    service: 'web',
    environment: 'production',
    artifact: { name: 'registry.example.com/web:1', digest: `sha256:${'a'.repeat(64)}` },
    change: { commit: 'c'.repeat(40), authors, requestedBy: 'erin@example.com', summary: 'Fix <b>it</b> & more', url: 'https://git.example.com/pr/1' },
    requester: { id: 'ci', identities: [], groups: [] },
    excluded: { principalIds: ['alice'], identities: withSkeletons([...authors, 'erin@example.com'].flatMap(authorKeys)) },
    rule: { tier: 'high', approvals: 2, requiredGroups: ['security'], eligibleGroups: [], expiresAfterMs: 3_600_000, deployer: 'log', policyHash: 'h', ruleIndex: 0, notify: { channels: ['mail'], escalateTo: ['sre'] }, ...rule },
    requestedAt: '2026-12-01T10:00:00.000Z',
    expiresAt: '2026-12-01T11:00:00.000Z',
    ...overrides,
  };
}

describe('recipients', () => {
  const directory = [
    entry('alice', ['alice@example.com']),
    entry('bob', ['bob@example.com']), // an author wrote "bоb" with a Cyrillic о: the same person
    entry('carol', ['carol@example.com'], ['approver'], ['security']),
    entry('dave', ['dave@example.com'], ['approver'], ['sre']),
    entry('erin', ['Erin+deploys@Example.com']), // the requester, under another spelling
    entry('frank', ['frank@example.com'], ['pipeline']),
    entry('gina', ['gina@example.com'], ['admin'], ['sre']),
    entry('ci', ['ci@example.com'], ['approver']),
  ];

  it('are the approvers who may approve, never an author, a look-alike of one, the requester or the requesting principal', () => {
    const people = recipientsOf(requestOf(), 'requested', directory, addressKeys);
    expect(people.map((p) => p.id)).toEqual(['carol', 'dave']);
    expect(addressesOf(requestOf(), people, addressKeys)).toEqual(['carol@example.com', 'dave@example.com']);
  });

  it('only members of eligibleGroups when the tier has them', () => {
    expect(recipientsOf(requestOf({}, { eligibleGroups: ['sre'] }), 'requested', directory, addressKeys).map((p) => p.id)).toEqual(['dave']);
  });

  it('a reminder skips who already approved', () => {
    expect(recipientsOf(requestOf(), 'reminder', directory, addressKeys, ['carol']).map((p) => p.id)).toEqual(['dave']);
  });

  it('an escalation goes to the escalateTo groups\' members, whatever their role, with the same exclusions', () => {
    const request = requestOf({ requester: { id: 'gina', identities: [], groups: ['sre'] } });
    expect(recipientsOf(request, 'escalated', directory, addressKeys).map((p) => p.id)).toEqual(['dave']);
    expect(recipientsOf(requestOf(), 'escalated', directory, addressKeys).map((p) => p.id)).toEqual(['dave', 'gina']);
  });

  it('drops an address that names an author even when its directory entry does not', () => {
    const sneaky = { ...entry('sam', ['sam@example.com', 'alice+sam@example.com']), identityKeys: principalIdentityKeys({ emails: ['sam@example.com'] }) };
    expect(recipientsOf(requestOf(), 'requested', [sneaky], addressKeys)).toEqual([]);
  });

  it('each delivery has one stable key per event, sequence and channel', () => {
    expect(deliveryKey('d-1', 'reminder', 3, 'mail')).toBe('d-1.reminder.3.mail');
  });
});

describe('message content', () => {
  const request = requestOf();
  const view: DeploymentView = {
    ...pendingView(request, 'deployment-d-1'),
    approvals: [{ approver: 'carol', at: '2026-12-01T10:05:00.000Z', digest: request.artifact.digest, groups: ['security'] }],
  };
  const link = 'https://countersign.example.com/ui/deployments/d-1';

  it('says what is asked, where it stands and where to answer, in text and escaped HTML', () => {
    const f = facts('requested', view, link);
    const text = emailText(f, 'requested');
    const html = emailHtml(f, 'requested');
    for (const fact of ['web', 'production', 'registry.example.com/web:1', request.artifact.digest, request.change.commit, 'alice@example.com', 'high', 'carol at 2026-12-01T10:05:00.000Z', '1 more approval', request.expiresAt, link, 'https://git.example.com/pr/1']) {
      expect(text).toContain(fact);
      expect(html).toContain(fact);
    }
    expect(text).toContain('Fix <b>it</b> & more');
    expect(html).toContain('Fix &lt;b&gt;it&lt;/b&gt; &amp; more');
    expect(html).not.toContain('<b>it</b>');
  });

  it('names what is missing: the count and the groups', () => {
    const f = facts('reminder', { ...view, approvals: [] }, link);
    expect(f.rows.find(([label]) => label === 'Missing')![1]).toBe('2 more approvals, including a member of security');
  });

  it('keeps control characters and line breaks of the request out of the subject and the lines', () => {
    const hostile = { ...view, service: 'web\r\nBcc: evil@example.com' };
    expect(emailSubject('requested', hostile)).not.toMatch(/[\r\n]/);
    expect(facts('requested', hostile, link).rows.every(([, value]) => !/[\r\n]/.test(value))).toBe(true);
  });

  it('links only http(s) change URLs in HTML', () => {
    const html = emailHtml(facts('requested', { ...view, change: { ...view.change, url: 'javascript:alert(1)' } }, link), 'requested');
    expect(html).not.toContain('href="javascript:');
  });

  it('Slack: Approve carries the digest and the deployment id, Reject the id; none once decided', () => {
    const message = slackMessage(facts('requested', view, link), view);
    const actions = (message.blocks.at(-1) as { elements: Array<{ action_id: string; value?: string }> }).elements;
    expect(actions.find((a) => a.action_id === 'countersign.approve:d-1')!.value).toBe(request.artifact.digest);
    expect(actions.some((a) => a.action_id === 'countersign.reject:d-1')).toBe(true);
    const decided = { ...view, status: 'REJECTED' as const, decision: { status: 'REJECTED' as const, at: 'now', by: 'dave', reason: 'rejected by dave: no' } };
    const after = slackMessage(facts('decided', decided, link), decided);
    expect(JSON.stringify(after.blocks)).not.toContain('countersign.approve');
    expect(JSON.stringify(after.blocks)).toContain('rejected by dave: no');
  });

  it('Slack: mrkdwn control characters in the request are escaped', () => {
    const message = slackMessage(facts('requested', { ...view, change: { ...view.change, summary: '<!channel> hi' } }, link), view);
    expect(JSON.stringify(message.blocks)).not.toContain('<!channel>');
  });

  it('webhook: exactly {event, deployment, link}', () => {
    const body = JSON.parse(webhookBody('escalated', view, link));
    expect(Object.keys(body).sort()).toEqual(['deployment', 'event', 'link']);
    expect(body.event).toBe('deployment.escalated');
  });
});

describe('signatures and secrets', () => {
  it('signs webhook bodies as the webhook deployer does', () => {
    expect(signBody('secret', '{"a":1}')).toBe(`sha256=${createHmac('sha256', 'secret').update('{"a":1}').digest('hex')}`);
  });

  it('computes Slack\'s v0 signature as Slack documents it (their published example)', () => {
    const body = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(slackSignature('8f742231b10e8888abcd99yyyzzz85a5', '1531420618', body)).toBe('v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
  });

  it('redacts every secret from recorded errors', () => {
    expect(redact('connect to https://hooks.slack.com/services/T/B/xyz-secret failed', ['https://hooks.slack.com/services/T/B/xyz-secret'])).toBe('connect to [redacted] failed');
  });
});

describe('COUNTERSIGN_PUBLIC_URL', () => {
  // Imported here so that the settings module is read only by this block.
  const { readSettings } = require('../../settings/settings') as typeof import('../../settings/settings');

  it('is the base of links, without a trailing slash; default the API\'s own URL', () => {
    expect(readSettings({ PORT: '4000' }).publicBaseUrl).toBe('http://127.0.0.1:4000');
    expect(readSettings({ COUNTERSIGN_PUBLIC_URL: 'https://countersign.example.com/' }).publicBaseUrl).toBe('https://countersign.example.com');
  });

  it('must be a URL', () => {
    expect(() => readSettings({ COUNTERSIGN_PUBLIC_URL: 'countersign' })).toThrow(/COUNTERSIGN_PUBLIC_URL/);
  });
});
