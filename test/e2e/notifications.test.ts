// Notifications through real servers: email to a real SMTP server (smtp-server) parsed with
// mailparser, webhooks to a real local HTTP receiver that checks the signature, Slack's Web API
// and response_url as a real local HTTP receiver, and Slack interactions signed exactly as Slack
// documents. The worker is a process of its own, so a test can kill it mid-schedule.

import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { TASK_QUEUE } from '../../workflows/definitions';
import { createPrincipal, deploymentBody, digestOf, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Mail {
  rcpt: string[];
  parsed: ParsedMail;
}

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  json: any;
}

const HOOK_SECRET = `hook-${randomBytes(8).toString('hex')}`;
const SLACK_SIGNING_SECRET = `signing-${randomBytes(8).toString('hex')}`;
const SLACK_BOT_TOKEN = `xoxb-${randomBytes(8).toString('hex')}`;
/** A second Slack app with an incoming webhook only (no bot token, so no dialog). */
const SLACK_SIGNING_SECRET_2 = `signing2-${randomBytes(8).toString('hex')}`;

let smtp: SMTPServer;
let smtpPort: number;
const mails: Mail[] = [];
let hooks: Server;
let hookPort: number;
const hooked: Received[] = [];
let slackApi: Server;
let slackPort: number;
const slackCalls: Received[] = [];
let slackTs = 0;
let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let worker: WorkerProcess | undefined;

function listen(server: Server | SMTPServer): Promise<number> {
  return new Promise((resolve) => {
    const net = (server as unknown as { server?: Server }).server ?? (server as Server);
    (server as Server).listen(0, '127.0.0.1', () => resolve((net.address() as AddressInfo).port));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => resolve(body));
    // A killed worker aborts its request mid-body; the receiver keeps what it has.
    req.on('error', () => resolve(body));
  });
}

function receiver(into: Received[], answer: (req: Received) => { status: number; body: unknown }): Server {
  return createServer(async (req, res) => {
    const raw = await readBody(req);
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      json = undefined;
    }
    const received = { path: req.url ?? '', headers: req.headers, raw, json };
    into.push(received);
    const { status, body } = answer(received);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}

const POLICY = `
notify:
  channels:
    mail: { type: email, smtp: "smtp://127.0.0.1:\${NOTIFY_SMTP_PORT}", from: "countersign@example.com" }
    hook: { type: webhook, url: "http://127.0.0.1:\${NOTIFY_HOOK_PORT}/events", secret: "\${NOTIFY_HOOK_SECRET}" }
    chat: { type: slack, botToken: "\${NOTIFY_SLACK_BOT_TOKEN}", channel: C0DEPLOYS, signingSecret: "\${NOTIFY_SLACK_SIGNING_SECRET}", apiUrl: "http://127.0.0.1:\${NOTIFY_SLACK_PORT}/api" }
    webhookchat: { type: slack, webhookUrl: "http://127.0.0.1:\${NOTIFY_SLACK_PORT}/incoming", signingSecret: "\${NOTIFY_SLACK_SIGNING_SECRET_2}" }
    downmail: { type: email, smtp: "smtp://127.0.0.1:\${NOTIFY_DOWN_PORT}", from: "countersign@example.com" }
    downhook: { type: webhook, url: "http://127.0.0.1:\${NOTIFY_HOOK_PORT}/fail", secret: "\${NOTIFY_HOOK_SECRET}" }
tiers:
  low:    { approvals: 1, expiresAfter: 24h, notify: [mail, hook, chat] }
  high:   { approvals: 2, expiresAfter: 24h, notify: [mail, hook, chat] }
  timed:  { approvals: 2, expiresAfter: 30m, notify: [mail, hook], remindEvery: 4s, escalateAfter: 6s, escalateTo: [sre] }
  broken: { approvals: 1, expiresAfter: 1h, notify: [downmail, downhook] }
environments: [production, staging]
rules:
  - { service: "timed-*", tier: timed }
  - { service: "broken-*", tier: broken }
  - { environment: production, tier: high }
  - { tier: low }
`;

function startWorker(): Promise<WorkerProcess> {
  return startWorkerProcess({
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS!,
    DATABASE_URL: harness.databaseUrl,
    COUNTERSIGN_CONFIG: harness.policyFile,
    COUNTERSIGN_DATA_DIR: harness.dir,
    COUNTERSIGN_WORKFLOW_BUNDLE: process.env.COUNTERSIGN_WORKFLOW_BUNDLE!,
    COUNTERSIGN_PUBLIC_URL: 'https://countersign.example.com',
  });
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        mails.push({ rcpt: session.envelope.rcptTo.map((to) => to.address), parsed: await simpleParser(Buffer.concat(chunks)) });
        callback();
      });
    },
  });
  // smtp-server re-emits every connection's socket error on the server; a worker killed mid-send
  // resets its connection (ECONNRESET), which is what the kill tests do on purpose.
  smtp.on('error', () => undefined);
  smtpPort = await listen(smtp as unknown as Server);
  hooks = receiver(hooked, (req) => (req.path === '/fail' ? { status: 500, body: { error: 'down' } } : { status: 200, body: { ok: true } }));
  hookPort = await listen(hooks);
  slackApi = receiver(slackCalls, (req) => {
    if (req.path.startsWith('/response/')) return { status: 200, body: { ok: true } };
    if (req.headers.authorization !== `Bearer ${SLACK_BOT_TOKEN}`) return { status: 200, body: { ok: false, error: 'invalid_auth' } };
    if (req.path === '/api/chat.postMessage') return { status: 200, body: { ok: true, channel: 'C0DEPLOYS', ts: `${1_700_000_000 + ++slackTs}.000100` } };
    if (req.path === '/api/chat.update') return { status: 200, body: { ok: true, channel: req.json?.channel, ts: req.json?.ts } };
    if (req.path === '/api/views.open') return { status: 200, body: { ok: true, view: { id: 'V0001' } } };
    return { status: 200, body: { ok: false, error: 'unknown_method' } };
  });
  slackPort = await listen(slackApi);
  harness = await startCountersign({
    policy: POLICY,
    worker: false,
    taskQueue: TASK_QUEUE,
    env: {
      NOTIFY_SMTP_PORT: String(smtpPort),
      NOTIFY_HOOK_PORT: String(hookPort),
      NOTIFY_HOOK_SECRET: HOOK_SECRET,
      NOTIFY_SLACK_PORT: String(slackPort),
      NOTIFY_SLACK_BOT_TOKEN: SLACK_BOT_TOKEN,
      NOTIFY_SLACK_SIGNING_SECRET: SLACK_SIGNING_SECRET,
      NOTIFY_SLACK_SIGNING_SECRET_2: SLACK_SIGNING_SECRET_2,
      NOTIFY_DOWN_PORT: String(await freePort()),
    },
  });
  cast = await standardCast(harness);
  // Slack users, and zoe's second mailbox (sub-addressing delivers to zoe@): the same person.
  await cast.http.request('PATCH', '/v1/principals/bob', { token: cast.admin, body: { slack: ['UBOB0001'] } });
  await cast.http.request('PATCH', '/v1/principals/alice', { token: cast.admin, body: { slack: ['UALICE001'] } });
  await cast.http.request('PATCH', '/v1/principals/carol', { token: cast.admin, body: { slack: ['UCAROL001'] } });
  await createPrincipal(cast.http, cast.admin, { id: 'zed', roles: ['approver'], emails: ['zoe+deploys@example.com'] });
  worker = await startWorker();
});

afterAll(async () => {
  // Nothing left pending on the shared server's default queue for a later test's worker.
  const pending = (await cast?.http.get('/v1/deployments?status=PENDING', cast.admin).catch(() => undefined))?.body?.deployments ?? [];
  await Promise.all(pending.map((deployment: { id: string }) =>
    cast.http.post(`/v1/deployments/${deployment.id}/cancel`, cast.admin, { reason: 'test over' }).catch(() => undefined)));
  await worker?.kill('SIGKILL');
  await harness?.close();
  await new Promise((resolve) => smtp?.close(() => resolve(undefined)));
  hooks?.close();
  slackApi?.close();
}, 120_000);

async function request(overrides: Record<string, unknown> = {}) {
  const body = deploymentBody(overrides);
  const response = await cast.http.post('/v1/deployments', cast.ci.token, body);
  expect(response.status).toBe(201);
  return { body, deployment: response.body };
}

const mailsOf = (id: string, event?: string) => mails.filter((mail) => mail.parsed.messageId?.startsWith(`<${id}.${event ?? ''}`));
const hooksOf = (id: string) => hooked.filter((hook) => hook.path === '/events' && hook.json?.deployment?.id === id);
const slackPostsOf = (id: string) => slackCalls.filter((call) => call.path === '/api/chat.postMessage' && call.raw.includes(id));

function signedInteraction(payload: unknown, options: { secret?: string; timestamp?: number } = {}) {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', options.secret ?? SLACK_SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return cast.http.request('POST', '/v1/integrations/slack/interactions', {
    raw: body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
  });
}

function click(user: string, action: 'approve' | 'reject', id: string, value: string) {
  const trigger = `${randomBytes(4).toString('hex')}.1.2`;
  const responsePath = `/response/${randomBytes(6).toString('hex')}`;
  const payload = {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), team_id: 'T0001' },
    team: { id: 'T0001', domain: 'example' },
    api_app_id: 'A0001',
    container: { type: 'message', message_ts: '1700000001.000100', channel_id: 'C0DEPLOYS' },
    channel: { id: 'C0DEPLOYS', name: 'deploys' },
    response_url: `http://127.0.0.1:${slackPort}${responsePath}`,
    trigger_id: trigger,
    actions: [{ type: 'button', action_id: `countersign.${action}:${id}`, block_id: `countersign:${id}`, value, action_ts: '1700000002.000200' }],
  };
  return {
    payload,
    trigger,
    responses: () => slackCalls.filter((call) => call.path === responsePath).map((call) => call.json),
    dialog: () => slackCalls.find((call) => call.path === '/api/views.open' && call.json?.trigger_id === trigger)?.json,
  };
}

/** What Slack sends when the "Reject: why?" dialog is submitted. */
function submission(user: string, view: any, reason: string) {
  return {
    type: 'view_submission',
    user: { id: user, team_id: 'T0001' },
    team: { id: 'T0001' },
    view: { id: 'V0001', callback_id: view.callback_id, private_metadata: view.private_metadata, state: { values: { reason: { reason: { type: 'plain_text_input', value: reason } } } } },
  };
}

describe('email', () => {
  it('reaches the eligible approvers only: never the authors (however spelled, look-alikes included) nor the requester', async () => {
    const { body, deployment } = await request({
      environment: 'staging',
      change: {
        commit: body0().change.commit,
        // bob's address written with a Cyrillic о: a look-alike names bob.
        authors: ['alice@example.com', 'zoe@example.com', 'b\u043Eb@example.com'],
        requestedBy: 'erin@example.com',
        summary: 'Fix <script>alert(1)</script> & friends',
        url: 'https://git.example.com/web/pull/7',
      },
    });
    const [mail] = await eventually(async () => mailsOf(deployment.id, 'requested'), (found) => found.length === 1, 60_000);
    expect(mail.rcpt.sort()).toEqual(['carol@example.com', 'dave@example.com']);
    for (const excluded of ['alice@example.com', 'bob@example.com', 'erin@example.com', 'zoe+deploys@example.com', 'zoe@example.com']) {
      expect(mail.rcpt).not.toContain(excluded);
    }
    const { parsed } = mail;
    expect(parsed.messageId).toBe(`<${deployment.id}.requested.0.mail@countersign>`);
    expect(parsed.headers.get('x-countersign-delivery')).toBe(`${deployment.id}.requested.0.mail`);
    expect(parsed.subject).toContain('web to staging');
    const link = `https://countersign.example.com/ui/deployments/${deployment.id}`;
    for (const text of [parsed.text!, parsed.html as string]) {
      for (const fact of ['web', 'staging', body.artifact.name, body.artifact.digest, body.change.commit, 'alice@example.com', 'zoe@example.com', link, 'low', '1 more approval', deployment.expiresAt]) {
        expect(text).toContain(fact);
      }
    }
    expect(parsed.text).toContain('Fix <script>alert(1)</script> & friends');
    // HTML escapes what the request says: no markup of the requester's reaches a mail client.
    expect(parsed.html).not.toContain('<script>');
    expect(parsed.html).toContain('Fix &lt;script&gt;alert(1)&lt;/script&gt; &amp; friends');
    const row = await eventually(
      () => harness.dataSource.query(`SELECT status, recipients FROM notification_deliveries WHERE key = $1`, [`${deployment.id}.requested.0.mail`]),
      (rows: any[]) => rows[0]?.status === 'sent',
    );
    expect(row[0].recipients.sort()).toEqual(['carol', 'dave']);
  });
});

function body0() {
  return deploymentBody();
}

describe('webhook', () => {
  it('POSTs exactly {event, deployment, link}, signed with HMAC-SHA256 of the body', async () => {
    const { deployment } = await request({ environment: 'staging' });
    const [hook] = await eventually(async () => hooksOf(deployment.id), (found) => found.length === 1, 60_000);
    expect(Object.keys(hook.json).sort()).toEqual(['deployment', 'event', 'link']);
    expect(hook.json.event).toBe('deployment.requested');
    expect(hook.json.link).toBe(`https://countersign.example.com/ui/deployments/${deployment.id}`);
    expect(hook.json.deployment).toMatchObject({ id: deployment.id, status: 'PENDING', service: 'web', environment: 'staging' });
    expect(hook.headers['x-countersign-signature']).toBe(`sha256=${createHmac('sha256', HOOK_SECRET).update(hook.raw).digest('hex')}`);
    expect(hook.headers['x-countersign-delivery']).toBe(`${deployment.id}.requested.0.hook`);
    // The secret itself never travels.
    expect(hook.raw).not.toContain(HOOK_SECRET);
  });
});

describe('Slack', () => {
  it('posts a Block Kit message with Approve (carrying the digest) and Reject, with the bot token', async () => {
    const { body, deployment } = await request({ environment: 'staging' });
    const [post] = await eventually(async () => slackPostsOf(deployment.id), (found) => found.length === 1, 60_000);
    expect(post.json.channel).toBe('C0DEPLOYS');
    const actions = post.json.blocks.find((block: any) => block.type === 'actions').elements;
    const approve = actions.find((element: any) => element.action_id === `countersign.approve:${deployment.id}`);
    expect(approve.value).toBe(body.artifact.digest);
    expect(actions.some((element: any) => element.action_id === `countersign.reject:${deployment.id}`)).toBe(true);
    expect(JSON.stringify(post.json.blocks)).toContain(body.artifact.digest);
    // The approvers who may answer are mentioned by their Slack ids; alice, the author, is not.
    const mentions = JSON.stringify(post.json.blocks);
    expect(mentions).toContain('<@UBOB0001>');
    expect(mentions).toContain('<@UCAROL001>');
    expect(mentions).not.toContain('UALICE001');
  });

  it('an approval clicked in Slack goes through the gate, updates the message, and decided updates it again', async () => {
    const { body, deployment } = await request({ environment: 'staging' });
    const [post] = await eventually(async () => slackPostsOf(deployment.id), (found) => found.length === 1, 60_000);
    const ts = (await harness.dataSource.query(`SELECT slack_ts FROM notification_deliveries WHERE key = $1`, [`${deployment.id}.requested.0.chat`]))[0].slack_ts;
    expect(ts).toMatch(/^\d+\.000100$/);
    const { payload, responses } = click('UBOB0001', 'approve', deployment.id, body.artifact.digest);
    const answer = await signedInteraction(payload);
    expect(answer.status).toBe(200);
    const [response] = await eventually(async () => responses(), (found) => found.length === 1, 30_000);
    expect(response.replace_original).toBe(true);
    expect(JSON.stringify(response.blocks)).toContain('Approved by bob from Slack');
    const approved = await waitForStatus(cast.http, cast.admin, deployment.id, ['DEPLOYED']);
    expect(approved.approvals).toEqual([expect.objectContaining({ approver: 'bob', digest: body.artifact.digest })]);
    // The decided event updates the original message: no more buttons, the outcome shown.
    const update = await eventually(
      async () => slackCalls.find((call) => call.path === '/api/chat.update' && call.json?.ts === ts),
      (found) => found !== undefined,
      60_000,
    );
    expect(update!.json.channel).toBe(post.json.channel);
    expect(JSON.stringify(update!.json.blocks)).not.toContain('countersign.approve');
    expect(update!.json.text).toContain('APPROVED');
  });

  it('a decision made elsewhere updates the Slack message too', async () => {
    const { body, deployment } = await request({ environment: 'staging' });
    await eventually(async () => slackPostsOf(deployment.id), (found) => found.length === 1, 60_000);
    const ts = (await eventually(
      () => harness.dataSource.query(`SELECT slack_ts FROM notification_deliveries WHERE key = $1`, [`${deployment.id}.requested.0.chat`]),
      (rows: any[]) => Boolean(rows[0]?.slack_ts),
    ))[0].slack_ts;
    expect((await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.carol.token, { digest: body.artifact.digest })).status).toBe(200);
    const update = await eventually(
      async () => slackCalls.find((call) => call.path === '/api/chat.update' && call.json?.ts === ts),
      (found) => found !== undefined,
      60_000,
    );
    expect(JSON.stringify(update!.json.blocks)).toContain('carol');
  });

  it('refuses a bad signature and a stale timestamp (401), and records nothing as an answer', async () => {
    const { body, deployment } = await request({ environment: 'staging' });
    const { payload, responses } = click('UBOB0001', 'approve', deployment.id, body.artifact.digest);
    const forged = await signedInteraction(payload, { secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    expect(forged.contentType).toContain('application/problem+json');
    expect(forged.body.detail).toContain('X-Slack-Signature');
    expect(forged.body.detail).not.toContain(SLACK_SIGNING_SECRET);
    const stale = await signedInteraction(payload, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(stale.status).toBe(401);
    expect(stale.body.detail).toContain('5 minutes');
    // A replayed body with a fresh timestamp but the old signature.
    const unsigned = await cast.http.request('POST', '/v1/integrations/slack/interactions', {
      raw: `payload=${encodeURIComponent(JSON.stringify(payload))}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(unsigned.status).toBe(401);
    await sleep(1_000);
    expect(responses()).toEqual([]);
    expect((await cast.http.get(`/v1/deployments/${deployment.id}`, cast.admin)).body.approvals).toEqual([]);
  });

  it('tells an unknown Slack user, an author and a wrong digest why, and counts nothing', async () => {
    const { body, deployment } = await request({ environment: 'staging' });
    const unknown = click('UNOBODY01', 'approve', deployment.id, body.artifact.digest);
    expect((await signedInteraction(unknown.payload)).status).toBe(200);
    const [toUnknown] = await eventually(async () => unknown.responses(), (found) => found.length === 1, 30_000);
    expect(toUnknown).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(toUnknown.text).toContain('does not know your Slack user');

    const author = click('UALICE001', 'approve', deployment.id, body.artifact.digest);
    expect((await signedInteraction(author.payload)).status).toBe(200);
    const [toAuthor] = await eventually(async () => author.responses(), (found) => found.length === 1, 30_000);
    expect(toAuthor.replace_original).toBe(false);
    expect(toAuthor.text).toContain('refused your approval');
    expect(toAuthor.text).toContain('alice is an author');

    const wrong = click('UBOB0001', 'approve', deployment.id, digestOf('another artifact'));
    expect((await signedInteraction(wrong.payload)).status).toBe(200);
    const [toWrong] = await eventually(async () => wrong.responses(), (found) => found.length === 1, 30_000);
    expect(toWrong.text).toContain('is not the artifact\'s digest');

    const view = (await cast.http.get(`/v1/deployments/${deployment.id}`, cast.admin)).body;
    expect(view).toMatchObject({ status: 'PENDING', approvals: [] });
    const trail = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${deployment.id}`, cast.admin)).body.events as any[],
      (events) => events.filter((event) => event.type === 'approval.refused').length >= 3,
    );
    expect(trail.filter((event) => event.type === 'approval.refused').map((event) => event.reason).sort()).toEqual(['AUTHOR', 'DIGEST_MISMATCH', 'UNKNOWN_SLACK_USER']);
  });

  it('Reject asks why in a dialog (with a bot token), and the reason given ends the request as REJECTED', async () => {
    const { deployment } = await request({ environment: 'staging' });
    const reject = click('UCAROL001', 'reject', deployment.id, deployment.id);
    expect((await signedInteraction(reject.payload)).status).toBe(200);
    const opened = await eventually(async () => reject.dialog(), (found) => found !== undefined, 30_000);
    expect(opened.view.type).toBe('modal');
    expect((await cast.http.get(`/v1/deployments/${deployment.id}`, cast.admin)).body.status).toBe('PENDING');
    // An empty reason rejects nothing.
    expect((await signedInteraction(submission('UCAROL001', opened.view, '   '))).status).toBe(200);
    await eventually(async () => reject.responses(), (found) => found.length === 1, 30_000);
    expect(reject.responses()[0].text).toContain('needs a reason');
    expect((await cast.http.get(`/v1/deployments/${deployment.id}`, cast.admin)).body.status).toBe('PENDING');
    // The dialog's answer is signed like any interaction: a forged one is refused.
    expect((await signedInteraction(submission('UCAROL001', opened.view, 'forged'), { secret: 'nope' })).status).toBe(401);
    expect((await signedInteraction(submission('UCAROL001', opened.view, 'the migration is not reviewed'))).status).toBe(200);
    const rejected = await waitForStatus(cast.http, cast.admin, deployment.id, ['REJECTED']);
    expect(rejected.decision).toMatchObject({ by: 'carol' });
    expect(rejected.decision.reason).toContain('the migration is not reviewed');
    const [, replaced] = await eventually(async () => reject.responses(), (found) => found.length === 2, 30_000);
    expect(replaced.replace_original).toBe(true);
    expect(JSON.stringify(replaced.blocks)).toContain('Rejected by carol from Slack');
  });

  it('without a bot token, Reject records "rejected from Slack"', async () => {
    const { deployment } = await request({ environment: 'staging' });
    const { payload, responses, dialog } = click('UCAROL001', 'reject', deployment.id, deployment.id);
    expect((await signedInteraction(payload, { secret: SLACK_SIGNING_SECRET_2 })).status).toBe(200);
    await eventually(async () => responses(), (found) => found.length === 1, 30_000);
    expect(dialog()).toBeUndefined();
    const rejected = await waitForStatus(cast.http, cast.admin, deployment.id, ['REJECTED']);
    expect(rejected.decision).toMatchObject({ by: 'carol' });
    expect(rejected.decision.reason).toContain('rejected from Slack');
  });
});

describe('Slack: identities and hostile input', () => {
  it('one Slack user names one principal: a second claim, in any case, is refused 409 naming the holder', async () => {
    const taken = await cast.http.request('PATCH', '/v1/principals/erin', { token: cast.admin, body: { slack: ['ubob0001'] } });
    expect(taken.status).toBe(409);
    expect(taken.body.detail).toContain('Slack user ubob0001 already belongs to principal bob');
    const bob = await cast.http.get('/v1/principals/bob', cast.admin);
    expect(bob.body.slack).toEqual(['UBOB0001']);
    const malformed = await cast.http.request('PATCH', '/v1/principals/erin', { token: cast.admin, body: { slack: ['<@UBOB0001>'] } });
    expect(malformed.status).toBe(422);
  });

  it('a signed body that is not a Slack form, or whose payload is not a sane JSON object, is answered 400', async () => {
    const send = (body: string) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      return cast.http.request('POST', '/v1/integrations/slack/interactions', {
        raw: body,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': timestamp,
          'x-slack-signature': `v0=${createHmac('sha256', SLACK_SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`,
        },
      });
    };
    for (const body of [
      'token=x&user=y',
      `payload=${encodeURIComponent('{not json')}`,
      `payload=${encodeURIComponent('[1,2]')}`,
      `payload=${encodeURIComponent(`${'['.repeat(100)}${']'.repeat(100)}`)}`,
      `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U\u0000' } }))}`,
    ]) {
      const answer = await send(body);
      expect([body.slice(0, 40), answer.status]).toEqual([body.slice(0, 40), 400]);
      expect(answer.contentType).toContain('application/problem+json');
    }
    // Too big to be Slack's: refused before any parsing.
    expect((await send(`payload=${'x'.repeat(1_100_000)}`)).status).toBe(413);
  });

  it('the same approval clicked 20 times at once counts once', async () => {
    const { body, deployment } = await request({ environment: 'production' });
    const clicks = Array.from({ length: 20 }, () => click('UBOB0001', 'approve', deployment.id, body.artifact.digest));
    const answers = await Promise.all(clicks.map((c) => signedInteraction(c.payload)));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    await eventually(async () => clicks.flatMap((c) => c.responses()), (found) => found.length === 20, 60_000);
    const view = (await cast.http.get(`/v1/deployments/${deployment.id}`, cast.admin)).body;
    expect(view.status).toBe('PENDING');
    expect(view.approvals.map((approval: { approver: string }) => approval.approver)).toEqual(['bob']);
    const told = clicks.flatMap((c) => c.responses());
    expect(told.filter((r) => r.replace_original === true)).toHaveLength(1);
    expect(told.filter((r) => r.replace_original === false).every((r) => /already approved|refused/.test(r.text))).toBe(true);
  });
});

describe('reminders and escalation', () => {
  it('reminds the approvers who have not approved, escalates once to escalateTo, never to an author; one message per event across a worker restart', async () => {
    const { body, deployment } = await request({ service: 'timed-web', environment: 'staging' });
    await eventually(async () => mailsOf(deployment.id, 'requested'), (found) => found.length === 1, 60_000);
    expect((await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.bob.token, { digest: body.artifact.digest })).status).toBe(200);
    const [firstReminder] = await eventually(async () => mailsOf(deployment.id, 'reminder'), (found) => found.length >= 1, 60_000);
    // bob approved: he is not reminded; alice, the author, never is.
    expect(firstReminder.rcpt.sort()).toEqual(['carol@example.com', 'dave@example.com', 'erin@example.com', 'zoe+deploys@example.com']);

    // Kill the worker mid-schedule (between messages), as a crash would, and start another.
    await sleep(500);
    await worker!.kill('SIGKILL');
    worker = await startWorker();

    const [escalation] = await eventually(async () => mailsOf(deployment.id, 'escalated'), (found) => found.length >= 1, 90_000);
    expect(escalation.rcpt).toEqual(['dave@example.com']);
    expect(escalation.parsed.subject).toContain('Escalated');
    await eventually(async () => mailsOf(deployment.id, 'reminder'), (found) => found.length >= 2, 90_000);
    expect((await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.erin.token, { digest: body.artifact.digest })).status).toBe(200);
    await eventually(async () => mailsOf(deployment.id, 'decided'), (found) => found.length === 1, 60_000);
    await sleep(5_000);

    const ours = mailsOf(deployment.id);
    const ids = ours.map((mail) => mail.parsed.messageId);
    // One message per event (and reminder slot) per channel, whatever the restart did.
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id?.includes('.requested.'))).toHaveLength(1);
    expect(ids.filter((id) => id?.includes('.escalated.'))).toHaveLength(1);
    expect(ids.filter((id) => id?.includes('.decided.'))).toHaveLength(1);
    const hookKeys = hooksOf(deployment.id).map((hook) => hook.headers['x-countersign-delivery']);
    expect(new Set(hookKeys).size).toBe(hookKeys.length);
    // Nothing ever went to the author.
    expect(ours.flatMap((mail) => mail.rcpt)).not.toContain('alice@example.com');
    // No reminder after the decision.
    const decidedAt = ids.indexOf(ids.find((id) => id?.includes('.decided.')));
    expect(ids.slice(decidedAt + 1)).toEqual([]);
  });
});

describe('a failing channel', () => {
  it('SMTP down and a receiver answering 500 do not hold up the gate, and the failures are visible', async () => {
    const { body, deployment } = await request({ service: 'broken-web', environment: 'staging' });
    expect((await cast.http.post(`/v1/deployments/${deployment.id}/approvals`, cast.bob.token, { digest: body.artifact.digest })).status).toBe(200);
    await waitForStatus(cast.http, cast.admin, deployment.id, ['DEPLOYED'], 60_000);
    const rows = await eventually(
      () => harness.dataSource.query(`SELECT key, channel, status, attempts, error FROM notification_deliveries WHERE deployment_id = $1 AND event = 'requested' ORDER BY channel`, [deployment.id]),
      (found: any[]) => found.length === 2 && found.every((row) => row.status === 'failed'),
      120_000,
    );
    expect(rows.map((row: any) => row.channel)).toEqual(['downhook', 'downmail']);
    expect(rows[0].error).toContain('answered 500');
    expect(rows.every((row: any) => row.attempts === 4)).toBe(true);
    // No secret in what is recorded.
    expect(JSON.stringify(rows)).not.toContain(HOOK_SECRET);
    const trail = await eventually(
      async () => (await cast.http.get(`/v1/audit?deployment=${deployment.id}`, cast.admin)).body.events as any[],
      (events) => events.filter((event) => event.type === 'notification.failed').length >= 2,
      120_000,
    );
    expect(trail.filter((event) => event.type === 'notification.failed').map((event) => event.data.channel).sort()).toEqual(expect.arrayContaining(['downhook', 'downmail']));
    const metrics = (await cast.http.get('/metrics')).body as string;
    expect(metrics).toMatch(/countersign_notification_failures_total\{channel="downhook"\} [1-9]/);
    expect(metrics).toMatch(/countersign_notification_failures_total\{channel="downmail"\} [1-9]/);
  });
});
