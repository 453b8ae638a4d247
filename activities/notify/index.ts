// The notify activity: one message of one event on one channel, at most once per key.
//
// `notification_deliveries` is the record: a retry that finds its key `sent` sends nothing; a
// send interrupted by a crash after the message left but before the row says so is sent again
// with the same key (the email's Message-ID, the webhook's X-Countersign-Delivery), which the
// receiver can drop. A channel that keeps failing ends `failed` after NOTIFY_ATTEMPTS tries,
// answered as an outcome, never thrown: the gate goes on without it.

import { ApplicationFailure, Context, log } from '@temporalio/activity';
import nodemailer from 'nodemailer';
import { ArrayContains, ArrayOverlap, type DataSource } from 'typeorm';
import { NotificationDeliveryEntity } from '../../database/entities/notification-delivery.entity';
import { PrincipalEntity } from '../../database/entities/principal.entity';
import type { Policy } from '../../policy/config';
import { withSkeletons } from '../../policy/confusables';
import { authorKeys } from '../../policy/identity';
import {
  addressesOf,
  deliveryKey,
  type DirectoryEntry,
  NOTIFY_ATTEMPTS,
  type NotifyChannelSpec,
  type NotifyEvent,
  recipientsOf,
} from '../../policy/notify';
import type { DeploymentRequest } from '../../policy/types';
import { SIGNATURE_HEADER, signBody } from '../signing';
import type { NotifyActivities, NotifyInput, NotifyOutcome } from '../types';
import { EVENT_TYPES, emailHtml, emailSubject, emailText, facts, pageLink, slackMessage, webhookBody } from './message';

export interface NotifyDependencies {
  dataSource: DataSource;
  policy: () => Policy;
  /** The base of links to the approver page (COUNTERSIGN_PUBLIC_URL). */
  publicBaseUrl: string;
}

/** One send waits at most this long for the other side. */
const SEND_TIMEOUT_MS = 15_000;

const addressKeys = (address: string) => withSkeletons(authorKeys(address));

class SendFailure extends Error {}

interface Delivered {
  recipients?: string[];
  slackChannel?: string;
  slackTs?: string;
  /** Nothing to send (no eligible recipient): recorded as skipped. */
  skipped?: string;
}

/** Every secret of a channel, so that no error text recorded or logged can carry one. */
function secretsOf(spec: NotifyChannelSpec): string[] {
  const found: string[] = [];
  if (spec.type === 'slack') found.push(...[spec.botToken, spec.signingSecret, spec.webhookUrl].filter((v): v is string => Boolean(v)));
  if (spec.type === 'webhook') found.push(...[spec.secret, spec.url].filter((v): v is string => Boolean(v)));
  if (spec.type === 'email') {
    found.push(spec.smtp);
    try {
      const url = new URL(spec.smtp);
      if (url.password) found.push(decodeURIComponent(url.password), url.password);
    } catch {
      // validated at start-up
    }
  }
  return found.filter((secret) => secret.length >= 4);
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[redacted]');
  return out.slice(0, 1000);
}

async function post(url: string, body: string, headers: Record<string, string>, what: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(SEND_TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new SendFailure(`${what} could not be reached (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).slice(0, 200);
    throw new SendFailure(`${what} answered ${response.status}${text ? `: ${text}` : ''}`);
  }
  return response;
}

/** The directory entries that may be told about `request` (never its authors or requester). */
async function directory(dataSource: DataSource, request: DeploymentRequest, event: NotifyEvent): Promise<DirectoryEntry[]> {
  const principals = dataSource.getRepository(PrincipalEntity);
  const rows = event === 'escalated'
    ? await principals.find({ where: { groups: ArrayOverlap(request.rule.notify?.escalateTo ?? []) } })
    : await principals.find({ where: { roles: ArrayContains(['approver']) } });
  return rows.map((row) => ({ id: row.id, emails: row.emails, roles: row.roles, groups: row.groups, identityKeys: row.identityKeys, slack: row.slack }));
}

export function createNotifyActivities({ dataSource, policy, publicBaseUrl }: NotifyDependencies): NotifyActivities {
  const deliveries = () => dataSource.getRepository(NotificationDeliveryEntity);

  async function sendEmail(spec: Extract<NotifyChannelSpec, { type: 'email' }>, input: NotifyInput, key: string): Promise<Delivered> {
    const people = recipientsOf(input.request, input.event, await directory(dataSource, input.request, input.event), addressKeys,
      input.deployment.approvals.map((approval) => approval.approver));
    const to = addressesOf(input.request, people, addressKeys);
    if (to.length === 0) return { skipped: 'no eligible approver with an email address in the directory', recipients: [] };
    const link = pageLink(publicBaseUrl, input.request.id);
    const f = facts(input.event, input.deployment, link);
    const transport = nodemailer.createTransport({
      url: spec.smtp,
      connectionTimeout: SEND_TIMEOUT_MS,
      greetingTimeout: SEND_TIMEOUT_MS,
      socketTimeout: SEND_TIMEOUT_MS,
    } as Parameters<typeof nodemailer.createTransport>[0]);
    try {
      await transport.sendMail({
        from: spec.from,
        // Everyone asked sees who else was: the approvers of one request answer it together.
        to,
        subject: emailSubject(input.event, input.deployment),
        text: emailText(f, input.event),
        html: emailHtml(f, input.event),
        messageId: `<${key}@countersign>`,
        headers: { 'X-Countersign-Delivery': key, 'X-Countersign-Event': EVENT_TYPES[input.event], 'Auto-Submitted': 'auto-generated' },
      });
    } catch (err) {
      throw new SendFailure(`SMTP: ${(err as Error).message}`);
    } finally {
      transport.close();
    }
    return { recipients: people.map((person) => person.id) };
  }

  async function slackApi(spec: Extract<NotifyChannelSpec, { type: 'slack' }>, method: string, payload: Record<string, unknown>) {
    const response = await post(`${spec.apiUrl}/${method}`, JSON.stringify(payload), {
      'content-type': 'application/json; charset=utf-8',
      authorization: `Bearer ${spec.botToken}`,
    }, `Slack ${method}`);
    const answer = (await response.json().catch(() => ({}))) as { ok?: boolean; error?: string; channel?: string; ts?: string };
    if (!answer.ok) throw new SendFailure(`Slack ${method} answered ${answer.error ?? 'not ok'}`);
    return answer;
  }

  async function sendSlack(spec: Extract<NotifyChannelSpec, { type: 'slack' }>, input: NotifyInput): Promise<Delivered> {
    const link = pageLink(publicBaseUrl, input.request.id);
    // The approvers who may answer (never an author or the requester) are mentioned by their Slack ids.
    const people = input.event === 'decided' || input.event === 'expired'
      ? []
      : recipientsOf(input.request, input.event, await directory(dataSource, input.request, input.event), addressKeys,
        input.deployment.approvals.map((approval) => approval.approver));
    const mention = people.flatMap((person) => person.slack ?? []);
    const message = slackMessage(facts(input.event, input.deployment, link), input.deployment, undefined, mention);
    if (!spec.botToken) {
      await post(spec.webhookUrl!, JSON.stringify(message), { 'content-type': 'application/json' }, 'Slack incoming webhook');
      return { recipients: people.map((person) => person.id) };
    }
    // Later events refer to the request's message: they update it, and remind in its thread.
    const first = input.event === 'requested'
      ? null
      : await deliveries().findOne({ where: { key: deliveryKey(input.request.id, 'requested', 0, input.channel) } });
    if (first?.slackTs && first.slackChannel) {
      await slackApi(spec, 'chat.update', { channel: first.slackChannel, ts: first.slackTs, ...message });
      if (input.event === 'reminder' || input.event === 'escalated') {
        await slackApi(spec, 'chat.postMessage', { channel: first.slackChannel, thread_ts: first.slackTs, text: message.text, blocks: message.blocks });
      }
      return { slackChannel: first.slackChannel, slackTs: first.slackTs, recipients: people.map((person) => person.id) };
    }
    const posted = await slackApi(spec, 'chat.postMessage', { channel: spec.channel, ...message });
    return { slackChannel: posted.channel, slackTs: posted.ts, recipients: people.map((person) => person.id) };
  }

  async function sendWebhook(spec: Extract<NotifyChannelSpec, { type: 'webhook' }>, input: NotifyInput, key: string): Promise<Delivered> {
    const body = webhookBody(input.event, input.deployment, pageLink(publicBaseUrl, input.request.id));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-countersign-delivery': key,
      'x-countersign-event': EVENT_TYPES[input.event],
      'idempotency-key': key,
    };
    if (spec.secret) headers[SIGNATURE_HEADER] = signBody(spec.secret, body);
    await post(spec.url, body, headers, 'webhook');
    return {};
  }

  return {
    async notify(input: NotifyInput): Promise<NotifyOutcome> {
      const key = deliveryKey(input.request.id, input.event, input.sequence, input.channel);
      const attempt = Context.current().info.attempt;
      const last = attempt >= NOTIFY_ATTEMPTS;
      const existing = await deliveries().findOne({ where: { key } });
      if (existing && existing.status !== 'sending') {
        return { key, status: existing.status, recipients: existing.recipients.length, ...(existing.error ? { error: existing.error } : {}) };
      }
      const spec = policy().notify.channels[input.channel];
      const base = { key, deploymentId: input.request.id, event: input.event, sequence: input.sequence, channel: input.channel };
      if (!spec) {
        const error = `channel ${input.channel} is not in notify.channels any more`;
        await deliveries().upsert({ ...base, channelType: 'unknown', status: 'failed', attempts: attempt, error, updatedAt: new Date() }, ['key']);
        return { key, status: 'failed', error };
      }
      await deliveries().upsert({ ...base, channelType: spec.type, status: 'sending', attempts: attempt, updatedAt: new Date() }, ['key']);
      try {
        const done = spec.type === 'email' ? await sendEmail(spec, input, key)
          : spec.type === 'slack' ? await sendSlack(spec, input)
            : await sendWebhook(spec, input, key);
        const status = done.skipped ? 'skipped' : 'sent';
        await deliveries().update({ key }, {
          status,
          recipients: done.recipients ?? [],
          error: done.skipped ?? null,
          slackChannel: done.slackChannel ?? null,
          slackTs: done.slackTs ?? null,
          updatedAt: new Date(),
        });
        return { key, status, recipients: done.recipients?.length ?? 0, ...(done.skipped ? { error: done.skipped } : {}) };
      } catch (err) {
        if (!(err instanceof SendFailure)) throw err;
        const error = redact(err.message, secretsOf(spec));
        await deliveries().update({ key }, { status: last ? 'failed' : 'sending', error, updatedAt: new Date() });
        if (!last) throw ApplicationFailure.retryable(error, 'NotificationFailed');
        log.warn(`notification ${key} failed after ${attempt} tries: ${error}`, { deploymentId: input.request.id, channel: input.channel });
        return { key, status: 'failed', error };
      }
    },
  };
}
