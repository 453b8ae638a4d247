// What a notification says, on every channel: what is asked (service, environment, artifact and
// digest, commit, authors, summary and link, tier), where it stands (approvals so far, what is
// missing, expiry) and where to answer (the approver page). Pure functions of the deployment.

import type { NotifyEvent } from '../../policy/notify';
import type { DeploymentView } from '../../policy/types';

export const EVENT_TYPES: Record<NotifyEvent, string> = {
  requested: 'deployment.requested',
  reminder: 'deployment.reminder',
  escalated: 'deployment.escalated',
  decided: 'deployment.decided',
  expired: 'deployment.expired',
};

/** Slack action ids: `countersign.approve:<deployment id>`; the approve button's value is the digest. */
export const SLACK_APPROVE = 'countersign.approve';
export const SLACK_REJECT = 'countersign.reject';

export function pageLink(publicBaseUrl: string, deploymentId: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/ui/deployments/${encodeURIComponent(deploymentId)}`;
}

/** The groups still missing a member's approval (requiredGroups not yet covered). */
export function missingGroups(view: DeploymentView): string[] {
  return view.requiredGroups.filter((group) => !view.approvals.some((approval) => approval.groups.includes(group)));
}

export interface Facts {
  headline: string;
  /** Label and value, in order. */
  rows: Array<[string, string]>;
  link: string;
  changeUrl?: string;
}

/** Text of one line: no control characters or line breaks from the request reach a header or a line. */
function oneLine(text: string, max = 500): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function describeDecision(view: DeploymentView): string {
  if (!view.decision) return view.status;
  return `${view.decision.status}${view.decision.by ? ` by ${view.decision.by}` : ''}: ${view.decision.reason}`;
}

export function facts(event: NotifyEvent, view: DeploymentView, link: string): Facts {
  const what = `${view.service} to ${view.environment}`;
  const headline = {
    requested: `Approval requested: ${what}`,
    reminder: `Reminder: ${what} still waits for approval`,
    escalated: `Escalated: ${what} has waited for approval since ${view.requestedAt}`,
    decided: `Decided: ${what} is ${view.decision?.status === 'DEPLOYING' ? 'APPROVED' : (view.decision?.status ?? view.status)}`,
    expired: `Expired: ${what} got no quorum`,
  }[event];
  const needed = Math.max(0, view.requiredApprovals - view.approvals.length);
  const groups = missingGroups(view);
  const missing = needed === 0 && groups.length === 0
    ? 'nothing'
    : `${needed} more approval${needed === 1 ? '' : 's'}${groups.length ? `, including a member of ${groups.join(', ')}` : ''}`;
  const commit = view.change.commit;
  const rows: Array<[string, string]> = [
    ['Service', view.service],
    ['Environment', view.environment],
    ['Artifact', view.artifact.name],
    ['Digest', view.artifact.digest],
    ['Commit', commit],
    ['Authors', view.change.authors.join(', ')],
    ...(view.change.summary ? [['Summary', view.change.summary] as [string, string]] : []),
    ...(view.change.url ? [['Change', view.change.url] as [string, string]] : []),
    ['Requested by', view.requestedBy],
    ['Tier', `${view.tier} (${view.requiredApprovals} approval${view.requiredApprovals === 1 ? '' : 's'}${view.requiredGroups.length ? `, one from each of ${view.requiredGroups.join(', ')}` : ''}${view.eligibleGroups.length ? `, only ${view.eligibleGroups.join(', ')} may approve` : ''})`],
    ['Approvals so far', view.approvals.length ? view.approvals.map((approval) => `${approval.approver} at ${approval.at}`).join(', ') : 'none'],
    ['Missing', view.status === 'PENDING' ? missing : '—'],
    ['Expires', view.expiresAt],
    ['Status', view.status],
  ];
  if (view.decision && (event === 'decided' || event === 'expired')) rows.push(['Decision', describeDecision(view)]);
  return { headline: oneLine(headline), rows: rows.map(([label, value]) => [label, oneLine(value, label === 'Summary' ? 2000 : 500)]), link, changeUrl: view.change.url };
}

export function emailSubject(event: NotifyEvent, view: DeploymentView): string {
  return oneLine(`[countersign] ${facts(event, view, '').headline} (${view.artifact.name})`, 250);
}

export function emailText(f: Facts, event: NotifyEvent): string {
  const width = Math.max(...f.rows.map(([label]) => label.length));
  const lines = [f.headline, '', ...f.rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`), ''];
  if (event === 'requested' || event === 'reminder' || event === 'escalated') {
    lines.push('Review and answer (approving confirms the digest above):', f.link);
  } else {
    lines.push('Details:', f.link);
  }
  return `${lines.join('\n')}\n`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}

/** Only http(s) links become links; anything else is shown as text. */
function safeHref(url: string): string | undefined {
  return /^https?:\/\/[^\s"'<>]+$/i.test(url) ? url : undefined;
}

export function emailHtml(f: Facts, event: NotifyEvent): string {
  const rows = f.rows
    .map(([label, value]) => {
      const href = label === 'Change' ? safeHref(value) : undefined;
      const shown = href ? `<a href="${escapeHtml(href)}">${escapeHtml(value)}</a>` : escapeHtml(value);
      const mono = label === 'Digest' || label === 'Commit' ? ' style="font-family:monospace"' : '';
      return `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(label)}</th><td${mono}>${shown}</td></tr>`;
    })
    .join('\n');
  const action = event === 'requested' || event === 'reminder' || event === 'escalated' ? 'Review and answer' : 'Details';
  return [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<h2>${escapeHtml(f.headline)}</h2>`,
    `<table>${rows}</table>`,
    `<p><a href="${escapeHtml(f.link)}">${action}</a></p>`,
    '</body></html>',
  ].join('\n');
}

/** Slack mrkdwn: `&`, `<` and `>` are its control characters. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

/**
 * Block Kit: the facts, then Approve (its value is the digest the message shows: approving
 * from Slack confirms that digest) and Reject while the request is PENDING; the outcome once
 * it is not. `note` adds a line (e.g. who answered from Slack).
 */
export function slackMessage(f: Facts, view: DeploymentView, note?: string, mention: string[] = []): SlackMessage {
  const field = ([label, value]: [string, string]) => ({ type: 'mrkdwn', text: `*${slackEscape(label)}*\n${slackEscape(value).slice(0, 1900)}` });
  const fields = f.rows.map(field);
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: f.headline.slice(0, 150) } },
    // Slack allows at most 10 fields per section.
    ...chunk(fields, 10).map((part) => ({ type: 'section', fields: part })),
  ];
  if (note) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(note).slice(0, 2000) }] });
  // Slack user ids only (`U…`, checked): a mention pings the approvers who were asked.
  const users = mention.filter((id) => /^[UW][A-Z0-9]{2,31}$/.test(id)).slice(0, 50);
  if (users.length && view.status === 'PENDING') {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Asked: ${users.map((id) => `<@${id}>`).join(' ')}` }] });
  }
  const actions: unknown[] = [{ type: 'button', text: { type: 'plain_text', text: 'Open in Countersign' }, url: f.link, action_id: `countersign.open:${view.id}` }];
  if (view.status === 'PENDING') {
    actions.unshift(
      {
        type: 'button',
        style: 'primary',
        text: { type: 'plain_text', text: 'Approve' },
        action_id: `${SLACK_APPROVE}:${view.id}`,
        value: view.artifact.digest,
        confirm: {
          title: { type: 'plain_text', text: 'Approve this digest?' },
          text: { type: 'mrkdwn', text: `You approve exactly \`${view.artifact.digest}\` of ${slackEscape(view.artifact.name)}.` },
          confirm: { type: 'plain_text', text: 'Approve' },
          deny: { type: 'plain_text', text: 'Cancel' },
        },
      },
      {
        type: 'button',
        style: 'danger',
        text: { type: 'plain_text', text: 'Reject' },
        action_id: `${SLACK_REJECT}:${view.id}`,
        value: view.id,
        confirm: {
          title: { type: 'plain_text', text: 'Reject this deployment?' },
          text: { type: 'mrkdwn', text: 'Nothing is deployed once it is rejected.' },
          confirm: { type: 'plain_text', text: 'Reject' },
          deny: { type: 'plain_text', text: 'Cancel' },
        },
      },
    );
  }
  blocks.push({ type: 'actions', block_id: `countersign:${view.id}`, elements: actions });
  return { text: f.headline, blocks };
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The webhook channel's body: exactly `{"event", "deployment", "link"}`. */
export function webhookBody(event: NotifyEvent, view: DeploymentView, link: string): string {
  return JSON.stringify({ event: EVENT_TYPES[event], deployment: view, link });
}
