// The approver page's templates: functions from data to `Html`, every value escaped by the
// `html` tag (./html.ts). No script anywhere: forms post, links navigate.

import type { AuditEventEntity } from '../../database/entities/audit-event.entity';
import type { DeploymentView } from '../../policy/types';
import type { Actor } from '../auth/actor';
import { ICON_PATH, STYLESHEET_PATH } from './assets';
import { html, type Html, link, type Renderable, segment } from './html';
import { eventWords, missing, missingWords, REFUSAL_WORDS, statusTone, statusWords, timeLeft, utc } from './words';

export interface Chrome {
  actor?: Actor;
  /** The session's form token, for the sign-out form. */
  csrf?: string;
  /** Which navigation entry is this page. */
  current?: 'waiting' | 'history';
}

export function isAuditor(actor: Actor): boolean {
  return actor.roles.includes('admin');
}

export function layout(title: string, chrome: Chrome, main: Renderable): Html {
  const { actor, csrf, current } = chrome;
  const nav = actor
    ? html`<nav aria-label="Main"><ul>
        <li><a href="/ui/"${current === 'waiting' ? html` aria-current="page"` : ''}>Waiting for me</a></li>
        ${isAuditor(actor) ? html`<li><a href="/ui/history"${current === 'history' ? html` aria-current="page"` : ''}>History</a></li>` : ''}
      </ul></nav>
      <span class="who">Signed in as <strong>${actor.displayName || actor.id}</strong> (${actor.id})</span>
      <form class="inline" method="post" action="/ui/sign-out"><input type="hidden" name="csrf" value="${csrf ?? ''}"><button type="submit" class="secondary">Sign out</button></form>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Countersign</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="icon" href="${ICON_PATH}" type="image/svg+xml">
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="top"><div class="bar"><a class="brand" href="/ui/">Countersign</a>${nav}</div></header>
<main id="main" tabindex="-1">
${main}
</main>
<footer>Countersign: no change reaches production unless someone other than its author approved it.</footer>
</body>
</html>
`;
}

export function signInPage(options: { csrf: string; oidcLabel?: string; problem?: string; notice?: string; next?: string }): Html {
  return layout('Sign in', {}, html`
<h1>Sign in to answer deployment requests</h1>
${options.problem ? html`<div class="notice bad" role="alert"><h2>Not signed in</h2><p>${options.problem}</p></div>` : ''}
${options.notice ? html`<div class="notice ok" role="status"><p>${options.notice}</p></div>` : ''}
<div class="card">
<form method="post" action="/ui/sign-in">
  <input type="hidden" name="csrf" value="${options.csrf}">
  ${options.next ? html`<input type="hidden" name="next" value="${options.next}">` : ''}
  <label for="token">Personal token</label>
  <p class="hint" id="token-hint">The token an admin gave you (it starts with <code>cs_</code>). It is checked once; the page then keeps a session.</p>
  <input type="password" id="token" name="token" required autocomplete="current-password" aria-describedby="token-hint" spellcheck="false">
  <button type="submit">Sign in with the token</button>
</form>
</div>
${options.oidcLabel ? html`<div class="card"><p><a class="button" href="/ui/oidc/start">${options.oidcLabel}</a></p></div>` : ''}
`);
}

function badge(view: Pick<DeploymentView, 'status'>): Html {
  return html`<span class="badge ${statusTone(view.status)}">${statusWords(view.status)}</span>`;
}

function approvalsLine(view: DeploymentView): Html {
  return html`${view.approvals.length} of ${view.requiredApprovals} approval${view.requiredApprovals === 1 ? '' : 's'}${
    view.requiredGroups.length ? html`, including one from each of ${view.requiredGroups.join(', ')}` : ''}`;
}

export function waitingPage(chrome: Chrome, rows: DeploymentView[], options: { notice?: string; next?: string | null } = {}): Html {
  const now = Date.now();
  const list = rows.length === 0
    ? html`<p class="card">Nothing is waiting for you. Requests you may approve show here as they come in.</p>`
    : html`<ul class="cards">${rows.map((view) => html`
<li class="card"><article aria-labelledby="d-${view.id}">
  <h2 id="d-${view.id}"><a href="/ui/deployments/${segment(view.id)}">${view.service} → ${view.environment}</a> ${badge(view)}</h2>
  <p class="meta">${view.artifact.name} · tier ${view.tier} · requested by ${view.requestedBy} ${utc(view.requestedAt)}</p>
  ${view.change.summary ? html`<p>${view.change.summary}</p>` : ''}
  <dl class="facts">
    <dt>Approvals</dt><dd>${approvalsLine(view)}</dd>
    <dt>Still needs</dt><dd>${missingWords(view)}</dd>
    <dt>Expires</dt><dd><time datetime="${view.expiresAt}">${utc(view.expiresAt)}</time> (${timeLeft(view.expiresAt, now)})</dd>
  </dl>
</article></li>`)}</ul>`;
  return layout('Waiting for me', { ...chrome, current: 'waiting' }, html`
<h1>Waiting for me</h1>
${options.notice ? html`<div class="notice ok" role="status"><p>${options.notice}</p></div>` : ''}
<p class="meta">${rows.length === 0 ? '' : `${rows.length}${options.next ? '+' : ''} request${rows.length === 1 ? '' : 's'} you may answer: `}pending, not your own changes, under tiers you are eligible for. Newest first.</p>
${list}
${options.next ? html`<p class="pager"><a href="/ui/?before=${encodeURIComponent(options.next)}">Older requests</a></p>` : ''}
`);
}

export interface DeploymentPageOptions {
  csrf: string;
  timeline: AuditEventEntity[];
  /** The trail holds more events of this deployment than the timeline shows. */
  timelineCut?: boolean;
  /** The outcome of the person's last answer. */
  answered?: 'approval' | 'rejection';
  /** A refusal of the answer just sent: its reason and the gate's own words. */
  refusal?: { kind: string; reason?: string; detail: string; status?: number };
  /** What the person typed, kept when the answer was refused. */
  typed?: { digest?: string; comment?: string; reason?: string };
  temporalUrl?: string;
  source?: string;
}

function refusalNotice(refusal: NonNullable<DeploymentPageOptions['refusal']>): Html {
  const words = refusal.reason ? REFUSAL_WORDS[refusal.reason as keyof typeof REFUSAL_WORDS] : undefined;
  const noun = refusal.kind === 'rejection' ? 'rejection' : 'approval';
  // 503: the gate did not answer in time; the answer may still count when it does.
  const what = refusal.status === 503 ? `Your ${noun} is not confirmed yet` : `Your ${noun} was not counted`;
  return html`<div class="notice bad" role="alert" id="refusal"><h2>${what}</h2>
<p>${words ?? refusal.detail}</p>${words ? html`<p class="meta">The gate said: ${refusal.detail}</p>` : ''}</div>`;
}

export function deploymentPage(chrome: Chrome, view: DeploymentView, options: DeploymentPageOptions): Html {
  const actor = chrome.actor!;
  const now = Date.now();
  const { approvals, groups } = missing(view);
  const canAnswer = view.status === 'PENDING' && actor.roles.includes('approver');
  const answeredNotice = options.answered === 'approval'
    ? html`<div class="notice ok" role="status"><h2>Your approval was counted</h2><p>${view.status === 'PENDING' ? html`It still needs ${missingWords(view)}.` : html`The request is now ${statusWords(view.status)}.`}</p><p><a href="/ui/">Back to the requests waiting for you</a></p></div>`
    : options.answered === 'rejection'
      ? html`<div class="notice ok" role="status"><h2>You rejected this request</h2><p>Nothing will be deployed.</p><p><a href="/ui/">Back to the requests waiting for you</a></p></div>`
      : '';
  const refused = view.refused.length
    ? html`<h2>Refused attempts</h2><p class="meta">${view.refusedCount} in all${view.refusedCount > view.refused.length ? html`; the latest ${view.refused.length} here, every one in the audit trail` : ''}.</p>
<ul>${view.refused.map((attempt) => html`<li><strong>${attempt.actor}</strong> tried to give ${attempt.kind === 'approval' ? 'an approval' : `a ${attempt.kind}`} at ${utc(attempt.at)}: ${REFUSAL_WORDS[attempt.reason] ?? attempt.reason} <span class="meta">(${attempt.detail})</span></li>`)}</ul>`
    : '';
  const decision = view.decision
    ? html`<dt>Decision</dt><dd>${statusWords(view.decision.status)}${view.decision.by ? html` by ${view.decision.by}` : ''} at ${utc(view.decision.at)}: ${view.decision.reason}</dd>`
    : '';
  // One approval per person: who has given theirs is told so instead of offered a second.
  const mine = view.approvals.find((approval) => approval.approver === actor.id);
  const approveForm = mine
    ? html`<section class="card" aria-labelledby="approve-title">
  <h3 id="approve-title">Approve</h3>
  <p>You approved <code>${mine.digest}</code> at ${utc(mine.at)}. It counts once; it still needs ${missingWords(view)}.</p>
</section>`
    : html`<form class="card" method="post" action="/ui/deployments/${segment(view.id)}/approve" aria-labelledby="approve-title">
  <h3 id="approve-title">Approve</h3>
  <input type="hidden" name="csrf" value="${options.csrf}">
  <label for="digest">Digest of the artifact you reviewed</label>
  <p class="hint" id="digest-hint">Paste or type the <code>sha256:…</code> digest of what you reviewed. The gate counts your approval only if it is this artifact's digest.</p>
  <input type="text" id="digest" name="digest" required autocomplete="off" spellcheck="false" aria-describedby="digest-hint" value="${options.typed?.digest ?? ''}">
  <label for="approve-comment">Comment (optional)</label>
  <textarea id="approve-comment" name="comment" maxlength="4000">${options.typed?.comment ?? ''}</textarea>
  <button type="submit">Approve</button>
</form>`;
  const answers = canAnswer
    ? html`<h2 id="answer">Your answer</h2>
<div class="answers">
${approveForm}
<form class="card" method="post" action="/ui/deployments/${segment(view.id)}/reject" aria-labelledby="reject-title">
  <h3 id="reject-title">Reject</h3>
  <input type="hidden" name="csrf" value="${options.csrf}">
  <label for="reason">Reason (required)</label>
  <p class="hint" id="reason-hint">Say why, for the requester and the audit trail. One eligible rejection ends the request: nothing is deployed.</p>
  <textarea id="reason" name="reason" required maxlength="4000" aria-describedby="reason-hint">${options.typed?.reason ?? ''}</textarea>
  <button type="submit" class="danger">Reject</button>
</form>
</div>`
    : '';
  const auditorLinks = isAuditor(actor)
    ? html`<h2>For auditors</h2><ul>
<li><a href="/ui/deployments/${segment(view.id)}/evidence">Signed evidence (JSON, DSSE envelope)</a>: checked offline with <code>countersign verify</code></li>
${options.temporalUrl ? html`<li>${link(options.temporalUrl, 'The workflow in the Temporal UI')}: every update and the gate's answer to it</li>` : ''}
</ul>`
    : '';
  return layout(`${view.service} → ${view.environment}`, chrome, html`
${options.refusal ? refusalNotice(options.refusal) : ''}
${answeredNotice}
<h1>${view.service} → ${view.environment} ${badge(view)}</h1>
${options.source === 'index' ? html`<p class="notice bad" role="status">The gate did not answer just now (a worker may be restarting); this is the last recorded state, which may lag. Reload in a moment.</p>` : ''}
<section class="card" aria-labelledby="what">
<h2 id="what">What is asked</h2>
<dl class="facts">
  <dt>Service</dt><dd>${view.service}</dd>
  <dt>Environment</dt><dd>${view.environment}</dd>
  <dt>Artifact</dt><dd>${view.artifact.name}</dd>
  <dt>Digest</dt><dd class="digest">${view.artifact.digest}</dd>
  <dt>Commit</dt><dd><code>${view.change.commit}</code></dd>
  <dt>Authors</dt><dd>${view.change.authors.join(', ')}</dd>
  ${view.change.requestedBy ? html`<dt>Triggered by</dt><dd>${view.change.requestedBy}</dd>` : ''}
  <dt>Summary</dt><dd>${view.change.summary ?? 'none given'}</dd>
  ${view.change.url ? html`<dt>Change</dt><dd>${link(view.change.url, view.change.url)}</dd>` : ''}
  <dt>Tier</dt><dd>${view.tier}: ${approvalsLine(view)}${view.eligibleGroups.length ? html`; only members of ${view.eligibleGroups.join(', ')} may answer` : ''}</dd>
  <dt>Requested</dt><dd>by ${view.requestedBy} at ${utc(view.requestedAt)}</dd>
  <dt>Expires</dt><dd><time datetime="${view.expiresAt}">${utc(view.expiresAt)}</time>${view.status === 'PENDING' ? html` (${timeLeft(view.expiresAt, now)})` : ''}</dd>
  ${decision}
  ${view.override ? html`<dt>Override</dt><dd>by ${view.override.by} at ${utc(view.override.at)}: ${view.override.reason}${view.override.review ? html`; reviewed by ${view.override.review.by}` : html`; review due by ${utc(view.override.reviewDueBy)}`}</dd>` : ''}
  ${view.deploy ? html`<dt>Deploy</dt><dd>${view.deploy.ok ? 'succeeded' : 'failed'} (${view.deploy.deployer}) at ${utc(view.deploy.at)}${view.deploy.error ? html`: ${view.deploy.error}` : ''}</dd>` : ''}
</dl>
</section>
<section class="card" aria-labelledby="approvals">
<h2 id="approvals">Approvals so far</h2>
<p>${approvalsLine(view)}. Still needs: ${missingWords(view)}${approvals === 0 && groups.length === 0 ? '' : '.'}</p>
${view.approvals.length ? html`<ul>${view.approvals.map((approval) => html`<li><strong>${approval.approver}</strong>${approval.groups.length ? html` (${approval.groups.join(', ')})` : ''} at ${utc(approval.at)}${approval.comment ? html`: “${approval.comment}”` : ''}</li>`)}</ul>` : ''}
${refused}
</section>
${answers}
<section class="card" aria-labelledby="timeline">
<h2 id="timeline">Timeline</h2>
${options.timeline.length === 0 ? html`<p class="meta">The audit trail has nothing for this request yet (it is written just behind the gate).</p>` : html`<ol class="timeline">${options.timeline.map((event) => html`
<li><time datetime="${new Date(event.at).toISOString()}">${utc(event.at)}</time> · <strong>${event.actor}</strong> ${eventWords(event.type)}${event.reason ? html`: ${REFUSAL_WORDS[event.reason as keyof typeof REFUSAL_WORDS] ?? event.reason}` : ''}${typeof event.data?.comment === 'string' && event.data.comment ? html` <span class="meta">“${event.data.comment}”</span>` : ''}</li>`)}</ol>`}
${options.timelineCut ? html`<p class="meta">The first ${options.timeline.length} events of the audit trail; an admin reads them all with <code>GET /v1/audit?deployment=${view.id}</code>.</p>` : ''}
</section>
${auditorLinks}
`);
}

export function historyPage(chrome: Chrome, rows: DeploymentView[], options: { status?: string; next?: string | null; temporalUrl: (view: DeploymentView) => string | undefined }): Html {
  const statuses = ['', 'DEPLOYED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'FAILED', 'APPROVED', 'DEPLOYING', 'PENDING'];
  return layout('History', { ...chrome, current: 'history' }, html`
<h1>History</h1>
<form class="card" method="get" action="/ui/history">
  <label for="status">Status</label>
  <select id="status" name="status">${statuses.map((status) => html`<option value="${status}"${status === (options.status ?? '') ? html` selected` : ''}>${status || 'any status'}</option>`)}</select>
  <button type="submit">Show</button>
</form>
${rows.length === 0 ? html`<p class="card">No deployments match.</p>` : html`
<table>
<caption class="meta">Newest first. Each links to its page, its signed evidence and its workflow in the Temporal UI.</caption>
<thead><tr><th scope="col">Deployment</th><th scope="col">Status</th><th scope="col">Approved by</th><th scope="col">Decided</th><th scope="col">Records</th></tr></thead>
<tbody>${rows.map((view) => {
    const temporal = options.temporalUrl(view);
    return html`<tr>
<td data-label="Deployment"><a href="/ui/deployments/${segment(view.id)}">${view.service} → ${view.environment}</a><br><span class="meta">${view.artifact.name}</span></td>
<td data-label="Status">${badge(view)}${view.override ? html` <span class="badge bad">overridden</span>` : ''}</td>
<td data-label="Approved by">${view.approvals.map((approval) => approval.approver).join(', ') || 'nobody'}</td>
<td data-label="Decided">${view.decision ? html`${utc(view.decision.at)}${view.decision.by ? html` by ${view.decision.by}` : ''}` : 'not yet'}</td>
<td data-label="Records"><a href="/ui/deployments/${segment(view.id)}/evidence">Evidence</a>${temporal ? html` · ${link(temporal, 'Temporal UI')}` : ''}</td>
</tr>`;
  })}</tbody>
</table>`}
${options.next ? html`<p class="pager"><a href="/ui/history?${options.status ? `status=${encodeURIComponent(options.status)}&` : ''}before=${encodeURIComponent(options.next)}">Older</a></p>` : ''}
`);
}

export function errorPage(chrome: Chrome, status: number, title: string, detail: string): Html {
  return layout(title, chrome, html`
<div class="notice bad" role="alert"><h1>${title}</h1><p>${detail}</p></div>
<p><a href="/ui/">Back to the requests waiting for you</a></p>
<p class="meta">HTTP ${status}</p>
`);
}
