// The offline check of a piece of evidence: the signature, the statement, and that what it
// records satisfies the rule it records. Needs nothing but the envelope and the public key.

import { quorumMet, missingGroups } from '../policy/gate';
import type { Approval } from '../policy/types';
import { IN_TOTO_PAYLOAD_TYPE, verifyEnvelope } from './dsse';
import { keyIdOf, readPublicKey } from './keys';
import { hexDigest, type InTotoStatement, PREDICATE_TYPE, STATEMENT_TYPE } from './statement';

export interface EvidenceVerdict {
  ok: boolean;
  /** Why the evidence is not valid; empty when it is. */
  problems: string[];
  /** Worth knowing, not failures (an override, a duplicated approver). */
  notes: string[];
  /** The statement, whenever the payload parses (also when a check failed). */
  statement?: InTotoStatement;
  keyid?: string;
}

/** Statuses that only follow a passed gate (or an override). */
const PASSED_GATE = ['APPROVED', 'DEPLOYING', 'DEPLOYED', 'FAILED'];
/** Statuses in which nothing may have been deployed. */
const NOT_DEPLOYED = ['PENDING', 'REJECTED', 'EXPIRED', 'CANCELLED'];

export function normalizeDigest(digest: unknown): string | undefined {
  if (typeof digest !== 'string') return undefined;
  const hex = hexDigest(digest.trim()).toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function verifyEvidence(envelope: unknown, options: { publicKeyPem: string; digest?: string }): EvidenceVerdict {
  const problems: string[] = [];
  const notes: string[] = [];
  let keyid: string;
  let publicKey;
  try {
    publicKey = readPublicKey(options.publicKeyPem, 'the key');
    keyid = keyIdOf(publicKey);
  } catch (err) {
    return { ok: false, problems: [(err as Error).message], notes };
  }

  const signature = verifyEnvelope(envelope, publicKey, keyid);
  if (!signature.ok) problems.push(signature.reason);
  if (!signature.payload) return { ok: false, problems, notes, keyid };
  const payloadType = (envelope as { payloadType: string }).payloadType;
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    problems.push(`payloadType is ${JSON.stringify(payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}: this is not in-toto evidence`);
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(signature.payload.toString('utf8'));
  } catch (err) {
    problems.push(`the payload is not JSON (${(err as Error).message})`);
    return { ok: false, problems, notes, keyid };
  }
  const shape = statementShape(parsed);
  if (shape.length > 0) {
    problems.push(...shape);
    return { ok: false, problems, notes, keyid };
  }
  const statement = parsed as InTotoStatement;
  const subjectHex = statement.subject[0].digest.sha256.toLowerCase();

  if (options.digest !== undefined) {
    const wanted = normalizeDigest(options.digest);
    if (!wanted) problems.push(`--digest ${JSON.stringify(options.digest)} is not sha256:<64 hex>`);
    else if (wanted !== subjectHex) {
      problems.push(`the evidence is for sha256:${subjectHex}, not for sha256:${wanted}: it does not cover this artifact`);
    }
  }

  try {
    problems.push(...ruleProblems(statement, subjectHex, notes));
  } catch (err) {
    // The shape check lets through only what the rule check reads; this is the last line of defence.
    problems.push(`the statement is malformed: ${(err as Error).message}`);
  }
  return { ok: problems.length === 0, problems, notes, statement, keyid };
}

function statementShape(value: unknown): string[] {
  if (!isObject(value)) return ['the payload is not an in-toto statement (not a JSON object)'];
  const problems: string[] = [];
  if (value._type !== STATEMENT_TYPE) problems.push(`_type is ${JSON.stringify(value._type)}, not ${STATEMENT_TYPE}`);
  if (value.predicateType !== PREDICATE_TYPE) problems.push(`predicateType is ${JSON.stringify(value.predicateType)}, not ${PREDICATE_TYPE}`);
  const subject = value.subject;
  if (!Array.isArray(subject) || subject.length !== 1 || !isObject(subject[0]) || typeof subject[0].name !== 'string' ||
    !isObject(subject[0].digest) || typeof subject[0].digest.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(subject[0].digest.sha256)) {
    problems.push('subject must be one artifact with a name and a 64-hex sha256 digest');
  }
  const p = value.predicate;
  if (!isObject(p)) return [...problems, 'the statement has no predicate'];
  const strings = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (!isObject(p.request) || typeof p.request.requestedBy !== 'string' ||
    (p.request.excludedPrincipals !== undefined && !strings(p.request.excludedPrincipals))) {
    problems.push('predicate.request must record requestedBy (and excludedPrincipals as a list of ids)');
  }
  if (!isObject(p.rule) || typeof p.rule.tier !== 'string' || typeof p.rule.approvals !== 'number' ||
    !strings(p.rule.requiredGroups) || !strings(p.rule.eligibleGroups)) {
    problems.push('predicate.rule must record tier, approvals, requiredGroups and eligibleGroups');
  }
  if (!Array.isArray(p.approvals) || !p.approvals.every((a) => isObject(a) && typeof a.approver === 'string' &&
    typeof a.at === 'string' && typeof a.digest === 'string' && strings(a.groups))) {
    problems.push('predicate.approvals must be a list of {approver, at, digest, groups}');
  }
  if (!Array.isArray(p.refused)) problems.push('predicate.refused must be a list');
  if (!isObject(p.deployment) || typeof p.deployment.status !== 'string') problems.push('predicate.deployment.status is missing');
  if (p.decision !== undefined && (!isObject(p.decision) || typeof p.decision.status !== 'string')) problems.push('predicate.decision has no status');
  if (p.deploy !== undefined && (!isObject(p.deploy) || typeof p.deploy.digest !== 'string' || typeof p.deploy.ok !== 'boolean')) {
    problems.push('predicate.deploy must record ok and digest');
  }
  if (p.override !== undefined && (!isObject(p.override) || typeof p.override.by !== 'string' || typeof p.override.at !== 'string')) {
    problems.push('predicate.override must record by and at');
  }
  if (!isObject(p.temporal) || typeof p.temporal.workflowId !== 'string') problems.push('predicate.temporal.workflowId is missing');
  return problems;
}

function ruleProblems(statement: InTotoStatement, subjectHex: string, notes: string[]): string[] {
  const problems: string[] = [];
  const p = statement.predicate;
  const rule = p.rule;
  const approvals: Approval[] = p.approvals;
  const excluded = new Set(p.request.excludedPrincipals ?? []);

  const seen = new Set<string>();
  for (const approval of approvals) {
    if (seen.has(approval.approver)) notes.push(`${approval.approver} appears more than once among the approvals; counted once`);
    seen.add(approval.approver);
    if (normalizeDigest(approval.digest) !== subjectHex) {
      problems.push(`${approval.approver} approved ${approval.digest}, not the subject sha256:${subjectHex}`);
    }
    if (approval.approver === p.request.requestedBy) {
      problems.push(`${approval.approver} requested the deployment and approved it: segregation of duties is broken`);
    }
    if (excluded.has(approval.approver)) {
      problems.push(`${approval.approver} is an author of the change (or triggered it) and approved it: segregation of duties is broken`);
    }
    if (rule.eligibleGroups.length > 0 && !approval.groups.some((group) => rule.eligibleGroups.includes(group))) {
      problems.push(`${approval.approver} is not in ${rule.eligibleGroups.join(', ')}, the only groups tier ${rule.tier} accepts approvals from`);
    }
  }

  const status = p.decision?.status ?? p.deployment.status;
  if (PASSED_GATE.includes(status)) {
    const met = quorumMet(rule, approvals);
    const people = seen.size;
    const missing = missingGroups(rule, approvals);
    const shortBy =
      `${people} distinct approver${people === 1 ? '' : 's'} of ${rule.approvals} required` +
      (missing.length ? `; no approval from ${missing.join(', ')}` : '');
    if (p.override) {
      notes.push(
        `the gate was overridden by ${p.override.by} at ${p.override.at} (${p.override.reason})` +
          (met ? '' : `: ${shortBy}`) +
          (p.override.review ? `; reviewed by ${p.override.review.by} at ${p.override.review.at}` : '; not reviewed yet') +
          (p.override.reviewOverdue && !p.override.review ? ' (review overdue)' : ''),
      );
    } else if (!met) {
      problems.push(`the decision ${status} does not follow from the approvals: ${shortBy} (tier ${rule.tier})`);
    }
  }
  if (p.freeze) {
    const freeze = p.freeze;
    notes.push(
      `the change calendar held the deploy from ${freeze.heldSince} (${freeze.windows?.join(', ')}: ${freeze.reason})` +
        (freeze.passedBy ? `; the freeze was passed by ${freeze.passedBy.by}'s override at ${freeze.passedBy.at} (${freeze.passedBy.reason})` : '') +
        (freeze.released && !freeze.passedBy ? `; released ${freeze.releasedAt ?? ''} (${freeze.released})` : '') +
        (freeze.frozen ? '; still held' : ''),
    );
    if (freeze.frozen && p.deploy) problems.push('a deploy is recorded although the change calendar still holds it');
  }
  if (p.supersededBy) notes.push(`superseded by the newer deployment ${p.supersededBy}`);
  if (p.deploy) {
    if (NOT_DEPLOYED.includes(status)) problems.push(`a deploy is recorded although the decision is ${status}`);
    if (normalizeDigest(p.deploy.digest) !== subjectHex) {
      problems.push(`the deploy ran ${p.deploy.digest}, not the subject sha256:${subjectHex}`);
    }
  } else if (status === 'DEPLOYED') {
    problems.push('the decision is DEPLOYED but no deploy result is recorded');
  }
  return problems;
}
