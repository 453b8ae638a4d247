// What operators see: GET /metrics (prom-client, api/health/metrics.ts) after requests are
// approved, deployed, rejected, left pending, expired and refused; and the API's request log
// lines (settings/logger.ts), which never carry a token.

import { createApiServer } from '../../api/server';
import { createLogger } from '../../settings/logger';
import { PolicyHolder } from '../../settings/policy-file';
import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { Http } from '../support/http';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;

beforeAll(async () => {
  harness = await startCountersign({
    policy: `
tiers:
  low:   { approvals: 1, expiresAfter: 24h }
  high:  { approvals: 2, expiresAfter: 24h }
  quick: { approvals: 1, expiresAfter: 2s }
deployers:
  broken: { type: command, run: ["false"] }
environments: [production, staging]
rules:
  - { service: "broken", tier: low, deployer: broken }
  - { service: "stale", tier: quick }
  - { environment: production, tier: high }
  - { tier: low }
`,
  });
  cast = await standardCast(harness);
});

afterAll(async () => {
  await harness?.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (no HELP or TYPE lines). */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    out.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return out;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
function valueOf(all: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = all.filter((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(): Promise<Sample[]> {
  const response = await cast.http.get('/metrics');
  expect(response.status).toBe(200);
  expect(response.contentType).toMatch(/^text\/plain;.*version=0\.0\.4/);
  return samples(response.body as string);
}

describe('metrics', () => {
  it('exports pending requests by tier, approval waits, refusals by reason, deploy outcomes and notification failures', async () => {
    const { http, ci, alice, bob, erin } = cast;
    const request = async (body: ReturnType<typeof deploymentBody>) => {
      const created = await http.post('/v1/deployments', ci.token, body);
      expect(created.status).toBe(201);
      return created.body.id as string;
    };

    // Approved by bob, deployed by the `log` deployer; refused twice before that.
    const shipped = deploymentBody({ environment: 'staging' });
    const shippedId = await request(shipped);
    expect((await http.post(`/v1/deployments/${shippedId}/approvals`, alice.token, { digest: shipped.artifact.digest })).body.reason).toBe('AUTHOR');
    expect((await http.post(`/v1/deployments/${shippedId}/approvals`, erin.token, { digest: deploymentBody().artifact.digest })).body.reason).toBe('DIGEST_MISMATCH');
    expect((await http.post(`/v1/deployments/${shippedId}/approvals`, bob.token, { digest: shipped.artifact.digest })).status).toBe(200);

    // Approved, then its deployer fails every run.
    const broken = deploymentBody({ service: 'broken', environment: 'staging' });
    const brokenId = await request(broken);
    expect((await http.post(`/v1/deployments/${brokenId}/approvals`, bob.token, { digest: broken.artifact.digest })).status).toBe(200);

    // Rejected; expired; and two production requests left waiting.
    const rejectedId = await request(deploymentBody({ environment: 'staging' }));
    expect((await http.post(`/v1/deployments/${rejectedId}/rejections`, bob.token, { comment: 'not today' })).status).toBe(200);
    const staleId = await request(deploymentBody({ service: 'stale', environment: 'staging' }));
    await request(deploymentBody());
    await request(deploymentBody());

    await waitForStatus(http, ci.token, shippedId, ['DEPLOYED']);
    await waitForStatus(http, ci.token, staleId, ['EXPIRED'], 20_000);
    await waitForStatus(http, ci.token, brokenId, ['FAILED'], 45_000);

    // The index is written just behind the gate.
    const all = await eventually(scrape, (s) => valueOf(s, 'countersign_deploys_total', { deployer: 'broken', outcome: 'FAILED' }) === 1
      && valueOf(s, 'countersign_approval_wait_seconds_count', { tier: 'quick', outcome: 'EXPIRED' }) === 1);

    expect(valueOf(all, 'countersign_pending_deployments', { tier: 'high' })).toBe(2);
    expect(valueOf(all, 'countersign_pending_deployments', { tier: 'low' })).toBeUndefined();
    expect(valueOf(all, 'countersign_deployments', { status: 'PENDING' })).toBe(2);

    const wait = (suffix: string, labels: Record<string, string>) => valueOf(all, `countersign_approval_wait_seconds${suffix}`, labels);
    expect(wait('_count', { tier: 'low', outcome: 'APPROVED' })).toBe(2);
    expect(wait('_bucket', { tier: 'low', outcome: 'APPROVED', le: '60' })).toBe(2);
    expect(wait('_bucket', { tier: 'low', outcome: 'APPROVED', le: '+Inf' })).toBe(2);
    expect(wait('_sum', { tier: 'low', outcome: 'APPROVED' })).toBeLessThan(60);
    expect(wait('_count', { tier: 'low', outcome: 'REJECTED' })).toBe(1);
    // Expired after its tier's 2 s: it waited at least that long.
    expect(wait('_sum', { tier: 'quick', outcome: 'EXPIRED' })).toBeGreaterThanOrEqual(2);
    expect(wait('_bucket', { tier: 'quick', outcome: 'EXPIRED', le: '60' })).toBe(1);
    expect(wait('_count', { tier: 'high', outcome: 'APPROVED' })).toBeUndefined();

    expect(valueOf(all, 'countersign_deploys_total', { deployer: 'log', outcome: 'DEPLOYED' })).toBe(1);
    expect(valueOf(all, 'countersign_deploys_total', { deployer: 'broken', outcome: 'FAILED' })).toBe(1);

    expect(valueOf(all, 'countersign_refusals_total', { reason: 'AUTHOR' })).toBe(1);
    expect(valueOf(all, 'countersign_refusals_total', { reason: 'DIGEST_MISMATCH' })).toBe(1);
    expect(all.filter((s) => s.name === 'countersign_refusals_total')).toHaveLength(2);

    expect(valueOf(all, 'countersign_notification_failures_total')).toBe(0);
    expect(valueOf(all, 'countersign_http_requests_total', { method: 'POST', route: '/v1/deployments/:id/approvals', status: '403' })).toBe(1);
    expect(valueOf(all, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  }, 90_000);
});

describe('request logs', () => {
  it('logs each request as one JSON line without its Authorization header, body or query string', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', name: 'api', destination: { write: (line: string) => lines.push(line) } });
    const api = await createApiServer({
      dataSource: harness.dataSource,
      temporal: harness.temporal,
      policy: new PolicyHolder(harness.policyFile),
      port: 0,
      host: '127.0.0.1',
      logger,
      options: { namespace: 'default', taskQueue: harness.taskQueue, answerTimeoutMs: 30_000 },
    });
    try {
      const http = new Http(api.url);
      const secret = 'query-secret-never-logged';
      const listed = await http.get(`/v1/deployments?service=${secret}`, cast.ci.token);
      expect(listed.status).toBe(200);
      const body = { id: 'logged-nowhere', roles: ['approver'], note: 'body-never-logged' };
      expect((await http.post('/v1/principals', cast.bob.token, body)).status).toBe(403);

      const entries = lines.map((line) => JSON.parse(line) as Record<string, any>);
      const requests = entries.filter((entry) => entry.req && entry.res);
      expect(requests).toEqual(expect.arrayContaining([
        expect.objectContaining({ name: 'api', level: 30, req: expect.objectContaining({ method: 'GET', path: '/v1/deployments' }), res: { statusCode: 200 } }),
        expect.objectContaining({ name: 'api', req: expect.objectContaining({ method: 'POST', path: '/v1/principals' }), res: { statusCode: 403 } }),
      ]));
      const text = lines.join('');
      for (const secretText of [cast.ci.token, cast.bob.token, secret, 'body-never-logged', 'authorization', 'Bearer']) {
        expect(text).not.toContain(secretText);
      }
    } finally {
      await api.close();
    }
  });
});
