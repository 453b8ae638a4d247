// follow(): the CLI's side of an event stream, against a local HTTP server that misbehaves on
// purpose: streams cut mid-way, silent streams, pages that are not streams, refusals, timeouts.

import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError, EXIT, Server } from '../../cli/common';
import { follow, FollowEnd } from '../../cli/follow';
import { runRequest } from '../../cli/request';
import type { DeploymentView } from '../../policy/types';

type Handler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

let http: HttpServer;
let base: string;
let handler: Handler;
let attempts: Array<{ lastEventId: string | undefined; authorization: string | undefined }>;

beforeAll(async () => {
  http = createServer((req, res) => {
    attempts.push({ lastEventId: req.headers['last-event-id'] as string | undefined, authorization: req.headers.authorization });
    handler(req, res, attempts.length);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

beforeEach(() => {
  attempts = [];
});

afterAll(async () => {
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
});

const DIGEST = `sha256:${'a'.repeat(64)}`;
function view(version: number, status: DeploymentView['status'] = 'PENDING', approvals: DeploymentView['approvals'] = []): DeploymentView {
  return {
    id: 'dep-1', status, service: 'web', environment: 'production', tier: 'high', requiredApprovals: 1, requiredGroups: [], eligibleGroups: [],
    approvals, refused: [], refusedCount: 0, artifact: { name: 'web', digest: DIGEST }, change: { commit: 'c', authors: ['a'] },
    requestedBy: 'ci', requestedAt: 'x', expiresAt: 'y', deployer: 'log', policyHash: 'h', workflowId: 'w', version,
    ...(status !== 'PENDING' ? { decision: { status, at: 'z', reason: `${status.toLowerCase()} for the test` } } : {}),
  };
}
const event = (v: DeploymentView) => `id: ${v.version}\nevent: deployment\ndata: ${JSON.stringify(v)}\n\n`;
const stream = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });

async function run(options: Parameters<typeof follow>[3]) {
  let out = '';
  const io = { stdout: (t: string) => void (out += t), stderr: () => undefined, env: {}, fetch: globalThis.fetch, cwd: '.', isTTY: false };
  const server = new Server(io, base, { origin: 'the test token', get: async () => 'secret-token' });
  try {
    const final = await follow(io, server, view(0), options);
    return { code: EXIT.OK, final, out, message: '' };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { code: err.exit, final: err instanceof FollowEnd ? err.view : undefined, out, message: err.message };
  }
}

describe('follow', () => {
  it('resumes a cut stream with Last-Event-ID and reaches DEPLOYED', async () => {
    handler = (_req, res, attempt) => {
      stream(res);
      if (attempt === 1) {
        res.write(`retry: 250\n\n${event(view(1, 'PENDING'))}`);
        setTimeout(() => res.socket?.destroy(), 50);
      } else {
        res.end(event(view(3, 'DEPLOYED', [{ approver: 'bob', at: 't', digest: DIGEST, groups: [] }])));
      }
    };
    const result = await run({ until: 'deployed' });
    expect(result.code).toBe(EXIT.OK);
    expect(attempts.map((a) => a.lastEventId)).toEqual(['0', '1']);
    expect(attempts[0].authorization).toBe('Bearer secret-token');
    expect(result.out).toMatch(/stream closed; reconnecting \(after version 1\)/);
    expect(result.out).toMatch(/approved by bob: 1 of 1 approvals/);
    expect(result.out).not.toContain('secret-token');
  });

  it('treats a silent stream as dead and reconnects', async () => {
    handler = (_req, res, attempt) => {
      stream(res);
      if (attempt === 1) res.write(': hello\n\n'); // then nothing at all
      else res.end(event(view(2, 'DEPLOYED')));
    };
    const result = await run({ until: 'deployed', silentForMs: 300 });
    expect(result.code).toBe(EXIT.OK);
    expect(attempts).toHaveLength(2);
  });

  it('reconnects quietly when the server renews a long stream', async () => {
    handler = (_req, res, attempt) => {
      stream(res);
      if (attempt === 1) res.end(`${event(view(1))}: reconnect: this stream has lasted as long as one may\n\n`);
      else res.end(event(view(2, 'APPROVED')));
    };
    const result = await run({ until: 'approved' });
    expect(result.code).toBe(EXIT.OK);
    expect(result.out).not.toContain('reconnecting');
  });

  it('gives up with 3 when what answers is not an event stream, for longer than it waits', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy login</html>');
    const result = await run({ until: 'deployed', unreachableForMs: 300 });
    expect(result.code).toBe(EXIT.SERVER);
    expect(result.message).toMatch(/not an event stream/);
    expect(result.out).toMatch(/cannot follow the gate just now/);
  });

  it('retries a 503, and stops at once with 3 on a 401, naming the token\'s origin', async () => {
    handler = (_req, res, attempt) => {
      if (attempt === 1) res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' }).end('{"detail":"restarting"}');
      else res.writeHead(401, { 'content-type': 'application/problem+json' }).end('{"detail":"token revoked"}');
    };
    const result = await run({ until: 'deployed' });
    expect(result.code).toBe(EXIT.SERVER);
    expect(attempts).toHaveLength(2);
    expect(result.message).toMatch(/answered 401: token revoked \(the token from the test token was refused/);
  });

  it('exits 1 with the reason when the gate says no, and 4 when the timeout passes first', async () => {
    handler = (_req, res) => {
      stream(res);
      res.end(event(view(4, 'REJECTED')));
    };
    const rejected = await run({ until: 'deployed' });
    expect(rejected).toMatchObject({ code: EXIT.INVALID, message: 'deployment dep-1 REJECTED: rejected for the test' });

    handler = (_req, res) => {
      stream(res);
      res.write(': keep-alive\n\n');
    };
    const timedOut = await run({ until: 'deployed', timeoutMs: 400 });
    expect(timedOut.code).toBe(EXIT.TIMEOUT);
    expect(timedOut.message).toMatch(/^timed out after 0s: deployment dep-1 is still PENDING \(needs 1 approval\)/);
    expect(timedOut.final?.status).toBe('PENDING');
  });

  it('ignores events that are not this deployment, and versions it has seen', async () => {
    handler = (_req, res) => {
      stream(res);
      res.end(`data: not json\n\n${event({ ...view(9, 'REJECTED'), id: 'other' })}${event(view(0, 'REJECTED'))}${event(view(5, 'DEPLOYED'))}`);
    };
    const result = await run({ until: 'deployed' });
    expect(result.code).toBe(EXIT.OK);
    expect(result.final?.version).toBe(5);
  });
});

describe('request', () => {
  const args = ['--service', 'web', '--environment', 'production', '--artifact', 'web', '--digest', DIGEST, '--commit', 'c'.repeat(40), '--author', 'a@x.io'];
  const io = () => {
    let out = '';
    let err = '';
    return {
      io: { stdout: (t: string) => void (out += t), stderr: (t: string) => void (err += t), env: { COUNTERSIGN_URL: base, COUNTERSIGN_TOKEN: 'secret-token' }, fetch: globalThis.fetch, cwd: '.', isTTY: false },
      out: () => out,
      err: () => err,
    };
  };
  const answer503ThenCreate: Handler = (_req, res, attempt) => {
    if (attempt === 1) res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"detail":"Temporal is unavailable"}');
    else res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(view(0)));
  };

  it('asks again after a 503 when --request-id makes it safe', async () => {
    handler = answer503ThenCreate;
    const { io: world, out, err } = io();
    expect(await runRequest([...args, '--request-id', 'k'], world)).toBe(EXIT.OK);
    expect(attempts).toHaveLength(2);
    expect(err()).toMatch(/answered 503: Temporal is unavailable; asking again with the same --request-id in 1 s/);
    expect(out()).toMatch(/^deployment dep-1 requested/);
  });

  it('does not ask twice without --request-id: a second request could be a second deployment', async () => {
    handler = answer503ThenCreate;
    const { io: world } = io();
    await expect(runRequest(args, world)).rejects.toMatchObject({ exit: EXIT.SERVER });
    expect(attempts).toHaveLength(1);
  });
});
