// Notifications: the `notify:` section of the configuration, the tiers' `notify` keys, and who
// may receive a message. Pure: validated here, sent by activities/notify.
//
// Recipients are people, compared as the gate compares them (policy/identity.ts): the change's
// authors and whoever requested it are never told "please approve", not even through a second
// principal or a look-alike address.

import { authorKeys, sharesIdentity } from './identity';
import type { DeploymentRequest, NotifyRule } from './types';

export type NotifyChannelSpec =
  | { name: string; type: 'email'; smtp: string; from: string }
  | {
      name: string;
      type: 'slack';
      webhookUrl?: string;
      botToken?: string;
      channel?: string;
      signingSecret?: string;
      /** Slack's Web API base (tests point it at a local receiver). */
      apiUrl: string;
    }
  | { name: string; type: 'webhook'; url: string; secret?: string };

export interface NotifySettings {
  channels: Record<string, NotifyChannelSpec>;
}

export const NOTIFY_EVENTS = ['requested', 'reminder', 'escalated', 'decided', 'expired'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api';

/**
 * At most this many reminders fit in one request's life (expiresAfter / remindEvery): a
 * workflow's history grows with every message, and nobody reads the 500th reminder.
 */
export const MAX_REMINDERS = 500;

/** The smallest remindEvery and escalateAfter: seconds, so tests can run a schedule. */
export const MIN_NOTIFY_INTERVAL_MS = 1_000;

/** What the configuration checker offers this module (policy/config.ts's Checker). */
export interface NotifyChecker {
  fail(key: string, what: string): undefined;
  keys(key: string, value: Record<string, unknown>, allowed: string[]): void;
  object(key: string, value: unknown): Record<string, unknown> | undefined;
  string(key: string, value: unknown): string | undefined;
  strings(key: string, value: unknown): string[] | undefined;
  duration(key: string, value: unknown): number | undefined;
}

const HTTP_URL = /^https?:\/\/[^\s]+$/;
const SMTP_URL = /^smtps?:\/\/[^\s]+$/;
const ADDRESS = /^[^\s@<>]+@[^\s@<>]+$/;

/** `notify:` at the top level: the channels tiers may name. */
export function validateNotifySection(check: NotifyChecker, raw: unknown): NotifySettings {
  const channels: Record<string, NotifyChannelSpec> = {};
  if (raw === undefined) return { channels };
  const section = check.object('notify', raw);
  if (!section) return { channels };
  check.keys('notify', section, ['channels']);
  const map = section.channels === undefined ? {} : check.object('notify.channels', section.channels);
  for (const [name, value] of Object.entries(map ?? {})) {
    const key = `notify.channels.${name}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) check.fail(key, 'channel names are letters, digits, ".", "_" and "-"');
    const spec = check.object(key, value);
    if (!spec) continue;
    if (spec.type === 'email') {
      check.keys(key, spec, ['type', 'smtp', 'from']);
      const smtp = check.string(`${key}.smtp`, spec.smtp);
      if (smtp && !SMTP_URL.test(smtp)) check.fail(`${key}.smtp`, 'must be an smtp:// or smtps:// URL, e.g. smtp://mail.example.com:587');
      const from = check.string(`${key}.from`, spec.from);
      if (from && !ADDRESS.test(from.replace(/^.*<([^<>]+)>\s*$/, '$1'))) check.fail(`${key}.from`, 'must be an email address, e.g. countersign@example.com');
      if (smtp && from) channels[name] = { name, type: 'email', smtp, from };
    } else if (spec.type === 'slack') {
      check.keys(key, spec, ['type', 'webhookUrl', 'botToken', 'channel', 'signingSecret', 'apiUrl']);
      const optional = (field: string) => (spec[field] === undefined ? undefined : check.string(`${key}.${field}`, spec[field]));
      const webhookUrl = optional('webhookUrl');
      const botToken = optional('botToken');
      const channel = optional('channel');
      const signingSecret = optional('signingSecret');
      const apiUrl = optional('apiUrl') ?? DEFAULT_SLACK_API_URL;
      for (const [field, url] of [['webhookUrl', webhookUrl], ['apiUrl', apiUrl]] as const) {
        if (url && !HTTP_URL.test(url)) check.fail(`${key}.${field}`, 'must be an http(s) URL');
      }
      if (botToken && !channel) check.fail(`${key}.channel`, 'is needed with botToken: the Slack channel id (e.g. C0123456) chat.postMessage posts to');
      if (!webhookUrl && !botToken) check.fail(key, 'needs webhookUrl (an incoming webhook) or botToken and channel (chat.postMessage)');
      channels[name] = { name, type: 'slack', webhookUrl, botToken, channel, signingSecret, apiUrl: apiUrl.replace(/\/+$/, '') };
    } else if (spec.type === 'webhook') {
      check.keys(key, spec, ['type', 'url', 'secret']);
      const url = check.string(`${key}.url`, spec.url);
      if (url && !HTTP_URL.test(url)) check.fail(`${key}.url`, `must be an http(s) URL, got ${JSON.stringify(url)}`);
      const secret = spec.secret === undefined ? undefined : check.string(`${key}.secret`, spec.secret);
      if (url) channels[name] = { name, type: 'webhook', url, secret };
    } else {
      check.fail(`${key}.type`, `must be one of email, slack, webhook; got ${spec.type === undefined ? 'nothing' : JSON.stringify(spec.type)}`);
    }
  }
  return { channels };
}

/** A tier's `notify`, `remindEvery`, `escalateAfter` and `escalateTo`; undefined when it notifies nobody. */
export function validateTierNotify(
  check: NotifyChecker,
  key: string,
  tier: Record<string, unknown>,
  settings: NotifySettings,
  expiresAfterMs: number,
): NotifyRule | undefined {
  const has = (field: string) => tier[field] !== undefined;
  if (!has('notify')) {
    for (const field of ['remindEvery', 'escalateAfter', 'escalateTo']) {
      if (has(field)) check.fail(`${key}.${field}`, 'needs notify: [channel, …] on the tier, naming where messages go');
    }
    return undefined;
  }
  const channels = check.strings(`${key}.notify`, tier.notify) ?? [];
  for (const channel of channels) {
    if (!Object.hasOwn(settings.channels, channel)) {
      const known = Object.keys(settings.channels);
      check.fail(`${key}.notify`, `names channel ${channel}, which notify.channels does not define${known.length ? ` (it defines ${known.join(', ')})` : ''}`);
    }
  }
  const interval = (field: string): number | undefined => {
    if (!has(field)) return undefined;
    const ms = check.duration(`${key}.${field}`, tier[field]);
    if (ms !== undefined && ms < MIN_NOTIFY_INTERVAL_MS) return check.fail(`${key}.${field}`, 'must be at least 1s');
    return ms;
  };
  const remindEveryMs = interval('remindEvery');
  const escalateAfterMs = interval('escalateAfter');
  const escalateTo = check.strings(`${key}.escalateTo`, tier.escalateTo) ?? [];
  if (remindEveryMs !== undefined && expiresAfterMs > 0 && expiresAfterMs / remindEveryMs > MAX_REMINDERS) {
    check.fail(`${key}.remindEvery`,
      `would send ${Math.floor(expiresAfterMs / remindEveryMs)} reminders before the tier's expiresAfter; at most ${MAX_REMINDERS}: choose at least ${Math.ceil(expiresAfterMs / MAX_REMINDERS / 1000)}s`);
  }
  if (escalateAfterMs !== undefined && escalateTo.length === 0) check.fail(`${key}.escalateTo`, 'is needed with escalateAfter: the groups whose members are told');
  if (escalateTo.length > 0 && escalateAfterMs === undefined) check.fail(`${key}.escalateAfter`, 'is needed with escalateTo: how long the request waits before it escalates');
  if (escalateAfterMs !== undefined && expiresAfterMs > 0 && escalateAfterMs >= expiresAfterMs) {
    check.fail(`${key}.escalateAfter`, 'must be shorter than the tier\'s expiresAfter, or the request expires before it escalates');
  }
  if (channels.length === 0) return undefined;
  return {
    channels,
    ...(remindEveryMs !== undefined ? { remindEveryMs } : {}),
    ...(escalateAfterMs !== undefined ? { escalateAfterMs } : {}),
    escalateTo,
  };
}

/** Who a candidate recipient is in the directory. */
export interface DirectoryEntry {
  id: string;
  emails: string[];
  roles: string[];
  groups: string[];
  /** The principal's identity keys as stored (canonical keys and their skeletons). */
  identityKeys: string[];
  slack?: string[];
}

/**
 * May this person be sent a message about the request? Never its requester, never a principal
 * the request excludes, never someone who shares an identity with an author (look-alikes
 * included: `excluded.identities` and `identityKeys` both carry UTS #39 skeletons).
 * `addressKeys` turns one address into its keys with skeletons (policy/confusables.ts), so an
 * address that stands for an author is dropped even when the directory entry itself is not.
 */
export function mayBeNotified(request: DeploymentRequest, entry: DirectoryEntry, addressKeys: (address: string) => string[]): boolean {
  if (entry.id === request.requester.id) return false;
  if (request.excluded.principalIds.includes(entry.id)) return false;
  if (sharesIdentity(entry.identityKeys, request.excluded.identities)) return false;
  if (sharesIdentity(entry.identityKeys, request.requester.identities)) return false;
  return entry.emails.every((email) => !sharesIdentity(addressKeys(email), request.excluded.identities));
}

/**
 * The people a message goes to: for `escalated`, members of the tier's escalateTo groups; for
 * every other event, the approvers who could approve (role approver, in eligibleGroups if the
 * tier has any). Those who already approved are not reminded. Sorted by id.
 */
export function recipientsOf(
  request: DeploymentRequest,
  event: NotifyEvent,
  directory: DirectoryEntry[],
  addressKeys: (address: string) => string[],
  approvedBy: string[] = [],
): DirectoryEntry[] {
  const rule = request.rule;
  const wanted = (entry: DirectoryEntry) => {
    if (event === 'escalated') return entry.groups.some((group) => rule.notify?.escalateTo.includes(group));
    if (!entry.roles.includes('approver')) return false;
    if (rule.eligibleGroups.length > 0 && !entry.groups.some((group) => rule.eligibleGroups.includes(group))) return false;
    if (event === 'reminder' && approvedBy.includes(entry.id)) return false;
    return true;
  };
  return directory
    .filter((entry) => wanted(entry) && mayBeNotified(request, entry, addressKeys))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Addresses of recipients, each once (compared canonically), never one that names an author. */
export function addressesOf(request: DeploymentRequest, recipients: DirectoryEntry[], addressKeys: (address: string) => string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const entry of recipients) {
    for (const email of entry.emails) {
      const keys = addressKeys(email);
      if (sharesIdentity(keys, request.excluded.identities)) continue;
      const canonical = authorKeys(email)[0] ?? email;
      if (seen.has(canonical)) continue;
      seen.add(canonical);
      out.push(email);
    }
  }
  return out;
}

/**
 * One delivery's key: the same for every retry of one message on one channel, so the email's
 * Message-ID, the webhook's X-Countersign-Delivery and the deliveries table all name it.
 */
export function deliveryKey(deploymentId: string, event: NotifyEvent, sequence: number, channel: string): string {
  return `${deploymentId}.${event}.${sequence}.${channel}`;
}

/**
 * Tries of one message before it is recorded as failed (the workflow's retry policy and the
 * activity's last-attempt check both read this): a failing channel costs the gate nothing.
 */
export const NOTIFY_ATTEMPTS = 4;
