// `npm run demo`: after `npm start`'s servers are up, walks the control once through the real
// HTTP API so a newcomer sees it work: a pipeline and two approvers, a request whose author is one
// of the approvers, that author's approval refused (segregation of duties), the other approver's
// counted, the deploy, and the Temporal UI link to the finished workflow. Idempotent over a kept
// data folder: principals that exist from an earlier demo get a fresh token instead.

import { createHash, randomBytes } from 'node:crypto';
import { WorkflowClient } from '@temporalio/client';
import { connectTemporal } from '../settings/temporal';
import type { TemporalConnectionSettings } from '../settings/temporal-connection';

export interface DemoOptions {
  apiUrl: string;
  adminToken: string;
  temporalAddress: string;
  /** TLS or an API key when TEMPORAL_ADDRESS names a secured server. */
  temporalConnection?: TemporalConnectionSettings;
  namespace: string;
  temporalUiUrl?: string;
  say: (line: string) => void;
  /** How long to wait for the deploy after the approval; default 60 s. */
  timeoutMs?: number;
}

export interface DemoResult {
  deploymentId: string;
  workflowId: string;
  runId: string;
  status: string;
  /** The finished workflow in the Temporal Web UI, when the server has one. */
  workflowUrl?: string;
}

interface Answer {
  status: number;
  body: any;
}

async function call(apiUrl: string, method: string, route: string, token: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  return { status: response.status, body: parsed };
}

function expectStatus(what: string, answer: Answer, ...statuses: number[]): Answer {
  if (!statuses.includes(answer.status)) {
    throw new Error(`demo: ${what} answered ${answer.status}, expected ${statuses.join(' or ')}: ${JSON.stringify(answer.body)}`);
  }
  return answer;
}

/** The principal's token: created with it, or a new token for the one an earlier demo created. */
async function principal(options: DemoOptions, body: { id: string; roles: string[]; emails?: string[] }): Promise<string> {
  const created = await call(options.apiUrl, 'POST', '/v1/principals', options.adminToken, { displayName: body.id, ...body });
  if (created.status === 201) return created.body.token;
  expectStatus(`creating principal ${body.id}`, created, 409);
  const token = await call(options.apiUrl, 'POST', `/v1/principals/${encodeURIComponent(body.id)}/tokens`, options.adminToken, {});
  return expectStatus(`a token for ${body.id}`, token, 201).body.token;
}

export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  const parts = [namespace, 'workflows', workflowId, runId, 'history'].map(encodeURIComponent);
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${parts.join('/')}`;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { apiUrl, say } = options;
  say('demo: the admin creates a pipeline (demo-ci) and two approvers (demo-alice, demo-bob)');
  const ci = await principal(options, { id: 'demo-ci', roles: ['pipeline'] });
  const alice = await principal(options, { id: 'demo-alice', roles: ['approver'], emails: ['demo-alice@example.com'] });
  const bob = await principal(options, { id: 'demo-bob', roles: ['approver'], emails: ['demo-bob@example.com'] });

  const seed = randomBytes(8).toString('hex');
  const digest = `sha256:${createHash('sha256').update(seed).digest('hex')}`;
  const request = {
    service: 'demo-web',
    environment: 'staging',
    artifact: { name: `registry.example.com/demo-web:${seed}`, digest },
    change: {
      commit: createHash('sha1').update(seed).digest('hex'),
      authors: ['demo-alice@example.com'],
      summary: 'npm run demo',
      url: 'https://git.example.com/demo-web/pull/1',
    },
  };
  const created = expectStatus('the deployment request', await call(apiUrl, 'POST', '/v1/deployments', ci, request), 201).body;
  say(`demo: demo-ci requests ${request.service} to ${request.environment}: ${created.id}, ${created.status}, tier ${created.tier}, ${created.requiredApprovals} approval(s) needed`);

  const refused = await call(apiUrl, 'POST', `/v1/deployments/${created.id}/approvals`, alice, { digest, comment: 'my own change' });
  expectStatus('the author approving her own change', refused, 403);
  say(`demo: demo-alice wrote the change, so her approval is refused (${refused.status}): ${refused.body?.detail ?? JSON.stringify(refused.body)}`);

  const approved = await call(apiUrl, 'POST', `/v1/deployments/${created.id}/approvals`, bob, { digest, comment: 'looks good' });
  expectStatus("demo-bob's approval", approved, 200);
  say(`demo: demo-bob approves the same digest: ${approved.body.status}`);

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let view: any = approved.body;
  while (!['DEPLOYED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELLED'].includes(view.status)) {
    if (Date.now() > deadline) throw new Error(`demo: ${created.id} is still ${view.status} after the approval`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    view = expectStatus('reading the deployment', await call(apiUrl, 'GET', `/v1/deployments/${created.id}`, ci), 200).body;
  }
  say(`demo: ${created.id} is ${view.status}`);

  const connection = await connectTemporal(options.temporalAddress, options.temporalConnection, 10_000);
  let runId: string;
  try {
    const client = new WorkflowClient({ connection, namespace: options.namespace });
    runId = (await client.getHandle(created.workflowId).describe()).runId;
  } finally {
    await connection.close();
  }
  const workflowUrl = options.temporalUiUrl ? workflowUiUrl(options.temporalUiUrl, options.namespace, created.workflowId, runId) : undefined;
  say(`demo: the workflow ${created.workflowId}${workflowUrl ? ` in the Temporal UI: ${workflowUrl}` : ` (run ${runId}; no Temporal UI URL is known)`}`);
  return { deploymentId: created.id, workflowId: created.workflowId, runId, status: view.status, workflowUrl };
}
