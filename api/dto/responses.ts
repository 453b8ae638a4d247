// What each route answers, as JSON Schemas declared once: the components of /docs, named by
// the controllers' @ApiResponse decorators (see `answers` below). The main views are closed
// (every field listed, `additionalProperties: false`), so that test/e2e/openapi.test.ts
// catches an answer and its description drifting apart.

import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ROLES } from '../../database/entities/principal.entity';
import { ANSWER_KINDS, DEPLOYMENT_STATUSES, REFUSAL_REASONS } from '../../policy/types';
import type { JsonSchema } from '../validation';

export const ref = (name: ViewName) => ({ $ref: `#/components/schemas/${name}` });

const string = { type: 'string' };
const time = { type: 'string', format: 'date-time' };
const strings = { type: 'array', items: string };
const integer = { type: 'integer' };
const nullable = (schema: object) => ({ ...schema, nullable: true });

/** An object with exactly these fields: `required` always present, `optional` sometimes. */
function closed(required: Record<string, object>, optional: Record<string, object> = {}, description?: string): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    required: Object.keys(required),
    properties: { ...required, ...optional },
    ...(description ? { description } : {}),
  };
}

const principal = {
  id: string,
  displayName: string,
  emails: strings,
  logins: strings,
  subjects: strings,
  slack: strings,
  roles: { type: 'array', items: { type: 'string', enum: [...ROLES] } },
  groups: strings,
  scopes: { type: 'array', items: closed({ service: string, environment: string }) },
  createdAt: time,
  updatedAt: time,
};

/** The `reason` of a problem that refuses an answer: the gate's own, or the API's limit. */
export const PROBLEM_REASONS = [...REFUSAL_REASONS, 'TOO_MANY_REFUSALS'] as const;

const views = {
  Problem: {
    type: 'object',
    description: 'An RFC 9457 problem document; further members name what the error concerns',
    required: ['type', 'title', 'status', 'detail'],
    properties: {
      type: { type: 'string', format: 'uri' },
      title: string,
      status: integer,
      detail: { type: 'string', description: 'what went wrong and what to do about it' },
      instance: string,
      reason: { type: 'string', description: 'why it was refused, as a constant' },
      errors: { ...strings, description: 'every error in the body, one sentence each' },
    },
  },
  RefusedAnswer: {
    allOf: [{ $ref: '#/components/schemas/Problem' }],
    type: 'object',
    description: 'The gate refused an answer (the audit trail keeps it); `reason` says why',
    required: ['reason'],
    properties: {
      reason: { type: 'string', enum: [...PROBLEM_REASONS] },
      deployment: { $ref: '#/components/schemas/Deployment' },
      refused: { ...integer, description: 'too-many-refusals: how many times this principal was refused on this deployment' },
    },
  },
  Artifact: closed({ name: string, digest: string }),
  Change: closed({ commit: string, authors: strings }, { requestedBy: string, summary: string, url: string }),
  CountedApproval: closed({ approver: string, at: time, digest: string, groups: strings }, { comment: string }),
  RefusedAttempt: closed(
    { kind: { type: 'string', enum: [...ANSWER_KINDS] }, actor: string, at: time, reason: { type: 'string', enum: [...REFUSAL_REASONS] }, detail: string },
    { digest: string },
  ),
  Decision: closed({ status: { type: 'string', enum: [...DEPLOYMENT_STATUSES] }, at: time, reason: string }, { by: string }),
  DeployResult: closed({ ok: { type: 'boolean' }, deployer: string, digest: string, at: time }, { output: string, error: string }),
  OverrideRecord: closed(
    { by: string, at: time, reason: string, approvalsAtOverride: integer, reviewDueBy: time, reviewOverdue: { type: 'boolean' } },
    {
      review: closed({ by: string, at: time, late: { type: 'boolean' } }, { comment: string }),
      passFreeze: { type: 'boolean', description: 'the override also passes the change calendar: the deploy does not wait for a freeze' },
    },
    'present when an admin overrode the gate',
  ),
  GitTag: closed({ tag: string, commit: string, pushed: { type: 'boolean' } }, { detail: string }),
  FreezeHold: closed(
    { frozen: { type: 'boolean', description: 'true while the approved deploy waits for the freeze to end' }, reason: string, until: time, windows: strings, heldSince: time },
    {
      releasedAt: time,
      released: { type: 'string', enum: ['ended', 'overridden', 'expired', 'cancelled'], description: 'what let it go' },
      passedBy: closed({ by: string, at: time, reason: string }, {}, 'the break-glass override that passed the freeze'),
    },
    'present once the change calendar has held (or an override has passed) the approved deploy; the status stays APPROVED while held',
  ),
  FreezeCalendar: closed(
    {
      now: time,
      from: time,
      until: time,
      policyHash: string,
      windows: {
        type: 'array',
        items: closed({
          name: string,
          environment: { type: 'string', description: 'a glob, compared canonically' },
          service: { type: 'string', description: 'a glob, compared canonically (`*`: every service)' },
          reason: string,
          kind: { type: 'string', enum: ['once', 'cron', 'weekly'] },
          schedule: { type: 'object', description: 'as configured: from/until, or cron/duration/timeZone, or weekly/timeZone' },
          active: { type: 'boolean', description: 'in force now' },
          occurrences: { type: 'array', items: closed({ from: time, until: time, active: { type: 'boolean' } }) },
          truncated: { type: 'boolean', description: 'more occurrences fall in the horizon than `limit`' },
        }),
      },
    },
    {
      target: closed(
        { service: string, environment: string, frozen: { type: 'boolean' } },
        { until: time, reason: string, windows: strings },
        'with service and environment: whether a deploy of that service to that environment is frozen now, until when and why',
      ),
    },
  ),
  Deployment: closed(
    {
      id: string,
      status: { type: 'string', enum: [...DEPLOYMENT_STATUSES] },
      service: string,
      environment: string,
      tier: string,
      requiredApprovals: integer,
      requiredGroups: strings,
      eligibleGroups: strings,
      approvals: { type: 'array', items: { $ref: '#/components/schemas/CountedApproval' } },
      refused: { type: 'array', items: { $ref: '#/components/schemas/RefusedAttempt' }, description: 'the latest refused attempts; the audit trail keeps every one' },
      refusedCount: { ...integer, description: 'how many attempts the gate refused in all' },
      artifact: { $ref: '#/components/schemas/Artifact' },
      change: { $ref: '#/components/schemas/Change' },
      requestedBy: string,
      requestedAt: time,
      expiresAt: time,
      deployer: string,
      policyHash: string,
      workflowId: string,
      version: integer,
    },
    {
      requestId: string,
      decision: { $ref: '#/components/schemas/Decision' },
      deploy: { $ref: '#/components/schemas/DeployResult' },
      override: { $ref: '#/components/schemas/OverrideRecord' },
      gitTag: { $ref: '#/components/schemas/GitTag' },
      freeze: { $ref: '#/components/schemas/FreezeHold' },
      supersededBy: { type: 'string', description: 'the newer request for the same service and environment that cancelled this one (CANCELLED)' },
    },
  ),
  DeploymentPage: closed({ deployments: { type: 'array', items: { $ref: '#/components/schemas/Deployment' } }, next: nullable(string) }),
  Principal: closed(principal),
  PrincipalList: closed({ principals: { type: 'array', items: { $ref: '#/components/schemas/Principal' } } }),
  CreatedPrincipal: closed({ ...principal, token: { type: 'string', description: 'shown once' }, tokenId: string }),
  TokenSecret: closed({ id: string, token: { type: 'string', description: 'shown once' }, expiresAt: nullable(time) }),
  TokenList: closed({
    tokens: {
      type: 'array',
      items: closed({ id: string, createdAt: time, expiresAt: nullable(time), revokedAt: nullable(time), active: { type: 'boolean' } }, { lastUsedAt: nullable(time) }),
    },
  }),
  EvidenceEnvelope: closed({
    payload: { type: 'string', format: 'byte', description: 'base64 of the canonical JSON of the in-toto statement' },
    payloadType: { type: 'string', enum: ['application/vnd.in-toto+json'] },
    signatures: { type: 'array', items: closed({ keyid: string, sig: { type: 'string', format: 'byte', description: 'Ed25519 over the DSSE v1 PAE' } }) },
  }),
  Keys: closed({
    keys: {
      type: 'array',
      items: closed({ keyid: { type: 'string', description: 'sha256: + hex sha256 of the SPKI DER public key' }, algorithm: { type: 'string', enum: ['ed25519'] }, publicKeyPem: string }),
    },
  }),
  AuditEvent: closed({
    seq: integer,
    id: string,
    deploymentId: nullable(string),
    type: string,
    actor: string,
    at: time,
    outcome: nullable(string),
    reason: nullable(string),
    data: { type: 'object' },
    prevHash: string,
    hash: string,
  }),
  AuditPage: closed({ events: { type: 'array', items: { $ref: '#/components/schemas/AuditEvent' } }, next: nullable(string) }),
  AuditVerdict: closed(
    { ok: { type: 'boolean' }, events: integer },
    { head: { type: 'string', description: 'the hash of the last event, when the chain holds' }, brokenAt: closed({ seq: string, eventId: string }), reason: string },
  ),
  ReconcileReport: closed({
    eventsAdded: integer,
    results: {
      type: 'array',
      items: closed({ deploymentId: string, eventsInHistory: integer, eventsAdded: integer, indexUpdated: { type: 'boolean' } }, { runs: integer, error: string }),
    },
  }),
  Policy: closed({
    file: string,
    hash: string,
    tiers: {
      type: 'object',
      additionalProperties: closed({ tier: string, approvals: integer, requiredGroups: strings, eligibleGroups: strings, expiresAfterMs: integer }, { supersede: { type: 'boolean' } }),
    },
    rules: { type: 'array', items: { type: 'object', required: ['service', 'environment', 'tier', 'deployer'] } },
    environments: { $ref: '#/components/schemas/KnownNames' },
    services: { $ref: '#/components/schemas/KnownNames' },
  }),
  KnownNames: closed(
    { names: strings, patterns: strings, allowUnknown: { type: 'boolean' }, listed: { type: 'boolean' } },
    {},
    'the names the policy knows: `listed` when it lists them; `allowUnknown` when another name is accepted',
  ),
  PolicyReloaded: closed({ hash: string, changed: { type: 'boolean' } }),
  Alive: closed({ ok: { type: 'boolean' } }),
  Ready: closed({ ok: { type: 'boolean' }, checks: closed({ database: string, temporal: string }) }),
  GitWebhookAnswer: {
    type: 'object',
    additionalProperties: false,
    required: ['outcome'],
    properties: {
      outcome: { type: 'string', enum: ['approval', 'request', 'ignored'] },
      provider: { type: 'string', enum: ['github', 'gitlab'] },
      tag: string,
      commit: string,
      pusher: nullable(string),
      reason: { type: 'string', description: 'ignored: why' },
      results: {
        type: 'array',
        items: closed({ deployment: string, outcome: { type: 'string', enum: ['accepted', 'refused'] } }, { reason: string, detail: string, status: string }),
      },
      created: { type: 'boolean' },
      deployment: { $ref: '#/components/schemas/Deployment' },
    },
  },
} satisfies Record<string, JsonSchema>;

export type ViewName = keyof typeof views;

/** Every answer's schema by component name, for the document's components. */
export function responseSchemas(): Record<string, JsonSchema> {
  return views;
}

const PROBLEM_JSON = 'application/problem+json';

/** An answer of a route: its status, what it means, and the view it carries (if any). */
export function Answer(status: number, description: string, view?: ViewName, headers?: Record<string, { description: string; schema: object }>) {
  return ApiResponse({ status, description, ...(view ? { schema: ref(view) } : {}), ...(headers ? { headers } : {}) });
}

/** The problems a route can answer, by status: each a problem+json document. */
export function Problems(problems: Record<number, string>, view: 'Problem' | 'RefusedAnswer' = 'Problem') {
  return applyDecorators(
    ...Object.entries(problems).map(([status, description]) =>
      ApiResponse({ status: Number(status), description, content: { [PROBLEM_JSON]: { schema: ref(view) } } }),
    ),
  );
}

/** What every authenticated route can answer besides its own. */
export const AUTHENTICATED_PROBLEMS = {
  401: 'No token, or an unknown, revoked or expired one',
  403: 'The principal lacks the role this route needs',
  429: 'Too many failed authentications from this client',
  503: 'PostgreSQL or Temporal cannot be reached (`database-unavailable`, `temporal-unavailable`, `gate-unavailable`); retry after `Retry-After` seconds',
};
