// What `countersign request --wait` and `countersign status` print about a deployment: pure
// functions of the deployment as the API answers it (and of the one before it, for a change).

import { isTerminal, type DeploymentStatus, type DeploymentView } from '../policy/types';

/** 5s, 2m05s, 1h02m03s. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(s)}s`;
  if (m > 0) return `${m}m${pad(s)}s`;
  return `${s}s`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The people counted, and what the quorum still lacks: a count and the required groups nobody covers yet. */
export function missing(view: DeploymentView): { approvals: number; groups: string[] } {
  const people = new Set(view.approvals.map((approval) => approval.approver)).size;
  const groups = view.requiredGroups.filter((group) => !view.approvals.some((approval) => approval.groups.includes(group)));
  return { approvals: Math.max(0, view.requiredApprovals - people), groups };
}

/** "needs 1 more approval and a member of security", or "" when nothing is missing. */
export function stillNeeds(view: DeploymentView): string {
  const { approvals, groups } = missing(view);
  const parts: string[] = [];
  if (approvals > 0) parts.push(`${plural(approvals, view.approvals.length ? 'more approval' : 'approval', view.approvals.length ? 'more approvals' : 'approvals')}`);
  if (groups.length) parts.push(`${groups.length === 1 ? 'a member' : 'members'} of ${groups.join(' and ')}`);
  return parts.length ? `needs ${parts.join(' and ')}` : '';
}

/** The rule as the request got it: "tier high: 2 approvals, including security, from sre". */
export function ruleText(view: DeploymentView): string {
  return `tier ${view.tier}: ${plural(view.requiredApprovals, 'approval')}` +
    (view.requiredGroups.length ? `, including a member of each of ${view.requiredGroups.join(', ')}` : '') +
    (view.eligibleGroups.length ? `, only from members of ${view.eligibleGroups.join(', ')}` : '') +
    ', never from an author of the change or the requester';
}

/** The approver page of a deployment. */
export function approverLink(base: string, id: string): string {
  return `${base.replace(/\/+$/, '')}/ui/deployments/${encodeURIComponent(id)}`;
}

/** What `request` prints once the deployment exists. */
export function requestedLines(view: DeploymentView, link: string, created: boolean): string[] {
  return [
    `deployment ${view.id} ${created ? 'requested' : 'already requested (same --request-id)'}: ${view.service} to ${view.environment}, ${view.artifact.name}@${view.artifact.digest}`,
    `  status    ${view.status}`,
    `  rule      ${ruleText(view)}`,
    ...(view.status === 'PENDING' ? [`  needs     ${stillNeeds(view).replace(/^needs /, '') || 'nothing more'} (expires ${view.expiresAt})`] : []),
    `  approvers ${link}`,
  ];
}

function progress(view: DeploymentView): string {
  const counted = `${new Set(view.approvals.map((a) => a.approver)).size} of ${view.requiredApprovals}`;
  const needs = stillNeeds(view);
  return `${counted} approvals${needs ? `; ${needs}` : ''}`;
}

/** Why it ended, one line: the decision's reason, and the deploy's error for FAILED. */
export function verdictLine(view: DeploymentView): string {
  // The gate's reasons name who decided ("rejected by dave: …"); without one, the decider.
  const by = !view.decision?.reason && view.decision?.by && view.decision.by !== 'countersign' ? ` by ${view.decision.by}` : '';
  const reason = view.decision?.reason ? `: ${view.decision.reason}` : '';
  if (view.status === 'FAILED' && view.deploy && !view.deploy.ok) {
    return `FAILED: the deploy with ${view.deploy.deployer} failed: ${view.deploy.error ?? 'no error given'}`;
  }
  return `${view.status}${by}${reason}`;
}

/**
 * One line per thing that changed between two versions of a deployment: who approved (and
 * what is still missing), refusals, the decision, the deploy result.
 */
export function changeLines(before: DeploymentView | undefined, after: DeploymentView): string[] {
  const lines: string[] = [];
  const known = new Set((before?.approvals ?? []).map((a) => `${a.approver}\n${a.at}`));
  after.approvals.forEach((approval, index) => {
    if (known.has(`${approval.approver}\n${approval.at}`)) return;
    // Each approval with the progress as it stood once it counted, when several arrive at once.
    const then = { ...after, approvals: after.approvals.slice(0, index + 1) };
    lines.push(`approved by ${approval.approver}${approval.comment ? ` ("${oneLine(approval.comment)}")` : ''}: ${progress(then)}`);
  });
  const refusedBefore = before?.refusedCount ?? 0;
  const newRefusals = Math.max(0, after.refusedCount - refusedBefore);
  // The view keeps the latest few whole; more than that in one step is counted.
  const shown = newRefusals > 0 ? after.refused.slice(-Math.min(newRefusals, after.refused.length)) : [];
  for (const attempt of shown) lines.push(`refused: ${attempt.kind} by ${attempt.actor}: ${attempt.reason}: ${oneLine(attempt.detail)}`);
  if (newRefusals > shown.length) lines.push(`refused: ${newRefusals - shown.length} more attempt(s)`);
  if (after.override && !before?.override) lines.push(`OVERRIDDEN by ${after.override.by}: ${oneLine(after.override.reason)}`);
  lines.push(...freezeLines(before, after));
  if (before?.status !== after.status) {
    // The gate writes an approval together with the deploy's start: the first view past PENDING
    // may already be DEPLOYING, still carrying the approval's decision.
    const approvedUnseen = after.status === 'DEPLOYING' && before?.status !== 'APPROVED' && after.decision?.status === 'APPROVED';
    if (approvedUnseen) lines.push(`APPROVED${after.decision?.reason ? `: ${oneLine(after.decision.reason)}` : ''}`);
    if (after.status === 'DEPLOYING') lines.push(`DEPLOYING with ${after.deployer}`);
    else if (after.status === 'DEPLOYED') lines.push(`DEPLOYED ${after.deploy?.digest ?? after.artifact.digest} with ${after.deploy?.deployer ?? after.deployer}`);
    else if (after.status === 'APPROVED') lines.push(`APPROVED${after.decision?.reason ? `: ${oneLine(after.decision.reason)}` : ''}`);
    else if (after.status !== 'PENDING' || before) lines.push(oneLine(verdictLine(after)));
  }
  return lines;
}

/**
 * An approved deploy the change calendar holds stays APPROVED: say so, and why, and until when;
 * and say what released it.
 */
function freezeLines(before: DeploymentView | undefined, after: DeploymentView): string[] {
  const was = before?.freeze;
  const now = after.freeze;
  if (!now) return [];
  if (now.frozen && (!was?.frozen || was.until !== now.until || was.reason !== now.reason)) {
    return [`HELD by a freeze (${now.windows.map(oneLine).join(', ')}) until ${now.until}: ${oneLine(now.reason)}`];
  }
  if (!now.frozen && was?.frozen !== false && now.released) {
    const how = now.released === 'overridden' && now.passedBy
      ? `passed by ${now.passedBy.by}'s override: ${oneLine(now.passedBy.reason)}`
      : now.released === 'ended' ? 'the freeze ended' : `the request was ${now.released} while held`;
    return [`RELEASED from the freeze: ${how}`];
  }
  return [];
}

/** The live status line on a terminal: status, progress, elapsed time. */
export function statusLine(view: DeploymentView, elapsedMs: number, note?: string): string {
  const held = view.freeze?.frozen ? `APPROVED, held by a freeze until ${view.freeze.until}` : undefined;
  const state = view.status === 'PENDING' ? `PENDING ${progress(view)}` : held ?? view.status;
  return `${state} · ${formatElapsed(elapsedMs)}${note ? ` · ${note}` : ''}`;
}

/** `countersign status`: the deployment in a few lines. */
export function statusLines(view: DeploymentView, link: string): string[] {
  const lines = [
    `deployment ${view.id}: ${view.service} to ${view.environment}, ${view.artifact.name}@${view.artifact.digest}`,
    `  status    ${view.status}${isTerminal(view.status) || view.status !== 'PENDING' ? '' : ` (expires ${view.expiresAt})`}`,
    `  rule      ${ruleText(view)}`,
    `  approvals ${view.approvals.length ? view.approvals.map((a) => `${a.approver} (${a.at})`).join(', ') : 'none yet'}`,
  ];
  if (view.status === 'PENDING') lines.push(`  needs     ${stillNeeds(view).replace(/^needs /, '') || 'nothing more'}`);
  if (view.refusedCount) lines.push(`  refused   ${plural(view.refusedCount, 'attempt')}, latest: ${view.refused.slice(-3).map((r) => `${r.actor} ${r.reason}`).join(', ')}`);
  lines.push(`  change    ${view.change.commit}${view.change.summary ? ` ${oneLine(view.change.summary)}` : ''}`);
  lines.push(`  authors   ${view.change.authors.join(', ')}`);
  lines.push(`  requested by ${view.requestedBy} at ${view.requestedAt}`);
  if (view.decision) lines.push(`  decision  ${oneLine(verdictLine(view))}`);
  if (view.freeze?.frozen) lines.push(`  held      by a freeze (${view.freeze.windows.map(oneLine).join(', ')}) until ${view.freeze.until}: ${oneLine(view.freeze.reason)}`);
  if (view.deploy) lines.push(`  deploy    ${view.deploy.ok ? 'succeeded' : `failed: ${oneLine(view.deploy.error ?? '')}`} with ${view.deploy.deployer} at ${view.deploy.at}`);
  lines.push(`  approvers ${link}`);
  return lines;
}

/** `countersign list`: one line per deployment. */
export function listLine(view: DeploymentView): string {
  const needs = view.status === 'PENDING' ? ` ${stillNeeds(view)}` : '';
  return `${view.id}  ${view.status.padEnd(9)} ${view.service} → ${view.environment}  tier ${view.tier}  ` +
    `${view.approvals.length}/${view.requiredApprovals}${needs}  ${view.artifact.digest.slice(0, 19)}…  requested by ${view.requestedBy} at ${view.requestedAt}`;
}

/** A whole line as printed: control characters (terminal escapes) from the server never reach the terminal. */
export function printable(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '\uFFFD');
}

/** Text from the server, made safe for one terminal line: no control characters, no escapes. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 500);
}

export function isWanted(status: DeploymentStatus, until: 'approved' | 'deployed'): boolean {
  return until === 'approved' ? ['APPROVED', 'DEPLOYING', 'DEPLOYED'].includes(status) : status === 'DEPLOYED';
}

/** The gate said no: the request will not reach what was wanted. */
export function isRefused(status: DeploymentStatus, until: 'approved' | 'deployed'): boolean {
  return isTerminal(status) && !isWanted(status, until);
}
