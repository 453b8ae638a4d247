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
import { badCharacter, inspectJson } from '../input-guard';
import { badRequest, notFound, Problem } from '../problem';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, POLICY } from '../tokens';

/** Slack's replay window: a request signed more than five minutes ago (or ahead) is refused. */
export const SLACK_MAX_AGE_SECONDS = 5 * 60;
/** What a rejection from Slack records as its reason when no dialog can ask for one (no bot token). */
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
  trigger_id?: unknown;
  view?: {
    callback_id?: unknown;
    private_metadata?: unknown;
    state?: { values?: { reason?: { reason?: { value?: unknown } } } };
  };
}

type SlackApp = Extract<NotifyChannelSpec, { type: 'slack' }>;

/** The dialog that asks a rejecting approver why. */
const REJECT_VIEW = 'countersign.reject.reason';

function responseUrlOf(payload: SlackPayload): string | undefined {
  return typeof payload.response_url === 'string' && /^https?:\/\/\S+$/.test(payload.response_url) ? payload.response_url : undefined;
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

  private apps(): SlackApp[] {
    return Object.values(this.policy.current().notify.channels)
      .filter((spec): spec is SlackApp => spec.type === 'slack' && Boolean(spec.signingSecret));
  }

  /** Checks the signature, answers at once, and works the click out behind the answer. */
  async handle(req: SlackRequest): Promise<void> {
    const apps = this.apps();
    if (apps.length === 0) {
      throw notFound('Slack interactivity is not configured: give a slack channel of notify.channels a signingSecret');
    }
    const app = await this.verify(req, apps);
    const payload = this.parse(req.rawBody!);
    if (payload.type === 'view_submission' && payload.view?.callback_id === REJECT_VIEW) {
      this.behind('reject', this.submitted(payload, req.baseUrl));
      return;
    }
    const action = Array.isArray(payload.actions) ? payload.actions[0] : undefined;
    const actionId = typeof action?.action_id === 'string' ? action.action_id : '';
    const [kind, id] = actionId.split(':', 2);
    if (payload.type !== 'block_actions' || (kind !== SLACK_APPROVE && kind !== SLACK_REJECT)) return; // e.g. "Open in Countersign"
    if (kind === SLACK_REJECT && app.botToken && typeof payload.trigger_id === 'string') {
      // A reason is asked for in a dialog (the trigger lasts 3 seconds: opened at once).
      this.behind(id ?? '', this.askReason(app, payload, id ?? '', req.baseUrl));
      return;
    }
    this.behind(id ?? '', this.answer(payload, kind, id ?? '', action?.value, req.baseUrl));
  }

  /** Work done after Slack has its 200, kept track of and never thrown into the void. */
  private behind(what: string, work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      this.logger.error(`Slack answer (${what}) failed: ${(err as Error).message}`);
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  /** Opens the "Reject: why?" dialog; the response_url travels in it to report the outcome. */
  private async askReason(app: SlackApp, payload: SlackPayload, id: string, baseUrl: string): Promise<void> {
    const responseUrl = responseUrlOf(payload);
    if (!DEPLOYMENT_ID.test(id)) return this.respond(responseUrl, { response_type: 'ephemeral', replace_original: false, text: 'This button names no deployment Countersign knows.' });
    const view = {
      type: 'modal',
      callback_id: REJECT_VIEW,
      private_metadata: JSON.stringify({ id, responseUrl: responseUrl ?? null }).slice(0, 3000),
      title: { type: 'plain_text', text: 'Reject deployment' },
      submit: { type: 'plain_text', text: 'Reject' },
      close: { type: 'plain_text', text: 'Cancel' },
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `Nothing is deployed once you reject deployment \`${id}\`. The reason is recorded in the audit trail.` } },
        {
          type: 'input',
          block_id: 'reason',
          label: { type: 'plain_text', text: 'Why?' },
          element: { type: 'plain_text_input', action_id: 'reason', multiline: true, min_length: 1, max_length: 4000 },
        },
      ],
    };
    try {
      const response = await fetch(`${app.apiUrl}/views.open`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${app.botToken}` },
        body: JSON.stringify({ trigger_id: payload.trigger_id, view }),
        signal: AbortSignal.timeout(5_000),
        redirect: 'error',
      });
      const answer = (await response.json().catch(() => ({}))) as { ok?: boolean; error?: string };
      if (answer.ok) return;
      this.logger.warn(`Slack views.open answered ${answer.error ?? response.status}`);
    } catch (err) {
      this.logger.warn(`Slack views.open could not be reached: ${(err as Error).message}`);
    }
    return this.respond(responseUrl, {
      response_type: 'ephemeral',
      replace_original: false,
      text: `Countersign could not open the dialog that asks for your reason; nothing was rejected. Reject on ${pageLink(this.options.publicBaseUrl ?? baseUrl, id)} instead.`,
    });
  }

  /** The dialog's answer: the rejection with the reason given. */
  private async submitted(payload: SlackPayload, baseUrl: string): Promise<void> {
    let meta: { id?: unknown; responseUrl?: unknown } = {};
    try {
      meta = JSON.parse(typeof payload.view?.private_metadata === 'string' ? payload.view.private_metadata : '{}') as typeof meta;
    } catch {
      // not ours
    }
    const id = typeof meta.id === 'string' ? meta.id : '';
    const responseUrl = typeof meta.responseUrl === 'string' ? meta.responseUrl : undefined;
    const reason = payload.view?.state?.values?.reason?.reason?.value;
    const text = typeof reason === 'string' ? reason.trim() : '';
    const tell = (message: string) => this.respond(responseUrl, { response_type: 'ephemeral', replace_original: false, text: message });
    if (!text) return tell('A rejection needs a reason; nothing was rejected.');
    const bad = badCharacter(text);
    if (bad) return tell(`The reason contains ${bad}; nothing was rejected.`);
    return this.answer({ ...payload, response_url: responseUrl }, SLACK_REJECT, id, undefined, baseUrl, text.slice(0, 4000));
  }

  private async verify(req: SlackRequest, apps: SlackApp[]): Promise<SlackApp> {
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
    const matches = apps.map((app) => sameSignature(slackSignature(app.signingSecret!, timestamp, body), signature));
    const index = matches.indexOf(true);
    if (index < 0) throw await refuse('X-Slack-Signature does not match the signing secret');
    return apps[index];
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

  private async answer(payload: SlackPayload, kind: string, id: string, value: unknown, baseUrl: string, reason?: string): Promise<void> {
    const responseUrl = responseUrlOf(payload);
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
        view = await this.deployments.reject(actor, id, reason ?? SLACK_REJECT_COMMENT);
      }
    } catch (err) {
      if (err instanceof Problem) return tell(`Countersign refused your ${action}: ${slackEscape(err.detail)}`);
      throw err;
    }
    const link = pageLink(this.options.publicBaseUrl ?? baseUrl, id);
    const note = kind === SLACK_APPROVE
      ? `Approved by ${principal.id} from Slack (digest ${view.artifact.digest})`
      : `Rejected by ${principal.id} from Slack${reason ? `: ${reason}` : ''}`;
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
