// Slack interactivity: Approve and Reject clicked in a Countersign message.
//
// Slack cannot send a bearer token: its request signature authenticates it instead, checked
// exactly as Slack documents (https://api.slack.com/authentication/verifying-requests-from-slack):
// `v0=` + hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}` with the app's signing
// secret, compared in constant time, the timestamp within five minutes. The Slack user is the
// principal that claims that Slack user id (`slack: [U…]` on the principal); the answer goes
// through the same gate as POST /v1/deployments/{id}/approvals and /rejections.
//
// Slack wants an answer within three seconds: the route answers 200 at once and reports the
// outcome through the interaction's response_url (the message updated, or a note to the clicker
// alone saying why the gate refused).

import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ArrayContains, type DataSource } from 'typeorm';
import { facts, pageLink, SLACK_APPROVE, SLACK_REJECT, slackEscape, slackMessage } from '../../activities/notify/message';
import { PrincipalEntity } from '../../database/entities/principal.entity';
import { slackUserKey } from '../../policy/identity';
import type { NotifyChannelSpec } from '../../policy/notify';
import type { DeploymentView } from '../../policy/types';
import type { PolicyHolder } from '../../settings/policy-file';
import { actorOf } from '../auth/auth.service';
import { AuditService } from '../audit/audit.service';
import { AuthFailures } from '../auth/rate-limit';
import { DeploymentsService } from '../deployments/deployments.service';
import { inspectJson } from '../input-guard';
import { badRequest, notFound, Problem } from '../problem';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, POLICY } from '../tokens';

/** Slack's replay window: a request signed more than five minutes ago (or ahead) is refused. */
export const SLACK_MAX_AGE_SECONDS = 5 * 60;
/** What a rejection from Slack records as its reason (the page asks for one; a button cannot). */
export const SLACK_REJECT_COMMENT = 'rejected from Slack';

const DEPLOYMENT_ID = /^[A-Za-z0-9-]{1,64}$/;

export interface SlackRequest {
  headers: Record<string, string | string[] | undefined>;
  rawBody?: Buffer;
  client: string;
  /** The API's own base URL as the caller reached it, when no public URL is configured. */
  baseUrl: string;
}

interface SlackAction {
  action_id?: unknown;
  value?: unknown;
}

interface SlackPayload {
  type?: unknown;
  user?: { id?: unknown };
  actions?: SlackAction[];
  response_url?: unknown;
}

const header = (headers: SlackRequest['headers'], name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? undefined : value;
};

/** `v0=<hex>` for `body` at `timestamp` with `secret`, as Slack signs. */
export function slackSignature(secret: string, timestamp: string, body: string | Buffer): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}

function sameSignature(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

@Injectable()
export class SlackService {
  private readonly logger = new Logger('Slack');
  /** Answers still being worked on after the 200 (so a shutdown or a test can wait for them). */
  readonly inFlight = new Set<Promise<void>>();

  constructor(
    @Inject(POLICY) private readonly policy: PolicyHolder,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
    private readonly deployments: DeploymentsService,
    private readonly audit: AuditService,
    private readonly failures: AuthFailures,
  ) {}

  private secrets(): string[] {
    return Object.values(this.policy.current().notify.channels)
      .filter((spec): spec is Extract<NotifyChannelSpec, { type: 'slack' }> => spec.type === 'slack')
      .map((spec) => spec.signingSecret)
      .filter((secret): secret is string => Boolean(secret));
  }

  /** Checks the signature, answers at once, and works the click out behind the answer. */
  async handle(req: SlackRequest): Promise<void> {
    const secrets = this.secrets();
    if (secrets.length === 0) {
      throw notFound('Slack interactivity is not configured: give a slack channel of notify.channels a signingSecret');
    }
    await this.verify(req, secrets);
    const payload = this.parse(req.rawBody!);
    const action = Array.isArray(payload.actions) ? payload.actions[0] : undefined;
    const actionId = typeof action?.action_id === 'string' ? action.action_id : '';
    const [kind, id] = actionId.split(':', 2);
    if (payload.type !== 'block_actions' || (kind !== SLACK_APPROVE && kind !== SLACK_REJECT)) return; // e.g. "Open in Countersign"
    const work = this.answer(payload, kind, id ?? '', action?.value, req.baseUrl).catch((err: unknown) => {
      this.logger.error(`Slack answer to ${id} failed: ${(err as Error).message}`);
    });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async verify(req: SlackRequest, secrets: string[]): Promise<void> {
    const timestamp = header(req.headers, 'x-slack-request-timestamp');
    const signature = header(req.headers, 'x-slack-signature');
    // Guessed signatures count against the same per-client budget as tokens and webhook secrets.
    this.failures.assertMayTry(req.client, 'Slack signature');
    const refuse = async (reason: string) => {
      this.failures.record(req.client);
      await this.audit.record({ type: 'auth.refused', actor: `client:${req.client}`, outcome: 'refused', reason, data: { path: '/v1/integrations/slack/interactions', via: 'slack' } });
      return new Problem(401, 'unauthorized', `${reason}; Slack signs each request with the app's signing secret (notify.channels.<slack>.signingSecret)`);
    };
    if (!timestamp || !/^\d{1,12}$/.test(timestamp)) throw await refuse('no valid X-Slack-Request-Timestamp header');
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > SLACK_MAX_AGE_SECONDS) {
      throw await refuse(`X-Slack-Request-Timestamp is more than ${SLACK_MAX_AGE_SECONDS / 60} minutes from now (a replayed or delayed request)`);
    }
    if (!signature || !/^v0=[0-9a-f]{64}$/.test(signature)) throw await refuse('no valid X-Slack-Signature header');
    const body = req.rawBody ?? Buffer.alloc(0);
    // Every configured secret is tried, each compared in constant time.
    const matches = secrets.map((secret) => sameSignature(slackSignature(secret, timestamp, body), signature));
    if (!matches.includes(true)) throw await refuse('X-Slack-Signature does not match the signing secret');
  }

  private parse(raw: Buffer): SlackPayload {
    const form = new URLSearchParams(raw.toString('utf8'));
    const text = form.get('payload');
    if (!text) throw badRequest('the body must be a form with a payload= field, as Slack sends interactions');
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw badRequest('payload= is not JSON');
    }
    const problem = inspectJson(payload, { rule: 'storable' });
    if (problem) throw problem;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw badRequest('payload= must be a JSON object');
    return payload as SlackPayload;
  }

  private async answer(payload: SlackPayload, kind: string, id: string, value: unknown, baseUrl: string): Promise<void> {
    const responseUrl = typeof payload.response_url === 'string' && /^https?:\/\/\S+$/.test(payload.response_url) ? payload.response_url : undefined;
    const tell = (text: string) => this.respond(responseUrl, { response_type: 'ephemeral', replace_original: false, text });
    const userId = typeof payload.user?.id === 'string' ? payload.user.id : '';
    const key = slackUserKey(userId);
    const principal = key ? await this.db.getRepository(PrincipalEntity).findOne({ where: { identityKeys: ArrayContains([key]) } }) : null;
    const action = kind === SLACK_APPROVE ? 'approval' : 'rejection';
    if (!principal) {
      await this.audit.record({ type: `${action}.refused`, actor: `slack:${userId.slice(0, 64) || 'unknown'}`, deploymentId: DEPLOYMENT_ID.test(id) ? id : undefined, outcome: 'refused', reason: 'UNKNOWN_SLACK_USER', data: { via: 'slack' } });
      return tell(`Countersign does not know your Slack user (${slackEscape(userId.slice(0, 64))}): ask an admin to add it to your principal (PATCH /v1/principals/<you> with "slack": ["${slackEscape(userId.slice(0, 64))}"]). Nothing was recorded as your answer.`);
    }
    if (!principal.roles.includes('approver')) {
      await this.audit.record({ type: `${action}.refused`, actor: principal.id, deploymentId: DEPLOYMENT_ID.test(id) ? id : undefined, outcome: 'refused', reason: 'needs role approver', data: { via: 'slack' } });
      return tell(`${principal.id} has no approver role, so Countersign cannot take an answer from you.`);
    }
    if (!DEPLOYMENT_ID.test(id)) return tell('This button names no deployment Countersign knows.');
    const actor = actorOf(principal, 'slack');
    let view: DeploymentView;
    try {
      if (kind === SLACK_APPROVE) {
        const digest = typeof value === 'string' ? value : '';
        view = await this.deployments.approve(actor, id, digest, 'approved from Slack');
      } else {
        view = await this.deployments.reject(actor, id, SLACK_REJECT_COMMENT);
      }
    } catch (err) {
      if (err instanceof Problem) return tell(`Countersign refused your ${action}: ${slackEscape(err.detail)}`);
      throw err;
    }
    const link = pageLink(this.options.publicBaseUrl ?? baseUrl, id);
    const note = kind === SLACK_APPROVE
      ? `Approved by ${principal.id} from Slack (digest ${view.artifact.digest})`
      : `Rejected by ${principal.id} from Slack`;
    const message = slackMessage(facts(view.status === 'PENDING' ? 'requested' : 'decided', view, link), view, note);
    await this.respond(responseUrl, { replace_original: true, ...message });
  }

  private async respond(url: string | undefined, body: Record<string, unknown>): Promise<void> {
    if (!url) return;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
        redirect: 'error',
      });
      if (!response.ok) this.logger.warn(`Slack response_url answered ${response.status}`);
    } catch (err) {
      this.logger.warn(`Slack response_url could not be reached: ${(err as Error).message}`);
    }
  }
}
