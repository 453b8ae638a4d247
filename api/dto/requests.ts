// What each route accepts: one DTO class per request body and per query string, its JSON Schema
// being both the check (api/validation.ts) and the description at /docs.

import { ROLES, type Role, type Scope } from '../../database/entities/principal.entity';
import { DEPLOYMENT_STATUSES, type DeploymentStatus } from '../../policy/types';
import { BodySchema, QuerySchema } from '../validation';

const digest = {
  type: 'string',
  pattern: '^sha256:[0-9a-f]{64}$',
  description: '`sha256:` followed by 64 lowercase hex characters',
};
const text = (maxLength: number, description?: string) => ({ type: 'string', minLength: 1, maxLength, ...(description ? { description } : {}) });
const list = (items: object, maxItems = 50) => ({ type: 'array', items, maxItems, uniqueItems: true });
const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$' };
const comment = { type: 'string', maxLength: 4000 };

/** What an admin may set on a principal, at creation or later. */
const principalFields = {
  displayName: text(200),
  emails: list({ type: 'string', format: 'email', maxLength: 320 }),
  logins: list(text(100)),
  subjects: list(text(500)),
  slack: list({ type: 'string', pattern: '^[UWuw][A-Za-z0-9]{2,31}$', description: 'a Slack user id (U0123ABCD): Approve and Reject in Slack act as this principal' }, 10),
  roles: { ...list({ enum: [...ROLES] }, ROLES.length), minItems: 1 },
  groups: list({ type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }),
  scopes: list({
    type: 'object',
    additionalProperties: false,
    properties: { service: text(128), environment: text(128) },
  }),
};

@BodySchema('CreateDeployment', {
  type: 'object',
  additionalProperties: false,
  required: ['service', 'environment', 'artifact', 'change'],
  properties: {
    service: { ...name, description: 'The service, as the policy rules name it' },
    environment: { ...name, description: 'The target environment, e.g. production' },
    artifact: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'digest'],
      properties: { name: text(512, 'e.g. registry.example.com/payments-api:1.4.2'), digest },
    },
    change: {
      type: 'object',
      additionalProperties: false,
      required: ['commit', 'authors'],
      properties: {
        commit: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'the full 40 (or 64) hex commit id' },
        authors: { ...list(text(320), 100), minItems: 1, description: 'every author: emails, git logins or Co-authored-by trailers' },
        requestedBy: text(320, 'who triggered the pipeline; may not approve'),
        summary: { type: 'string', maxLength: 4000 },
        url: { type: 'string', format: 'uri', maxLength: 2000 },
      },
    },
    requestId: { type: 'string', minLength: 1, maxLength: 200, description: 'idempotency key: the same key answers the same deployment' },
    minimumTier: { type: 'string', minLength: 1, maxLength: 64, description: 'a stricter tier than the policy gives; never a laxer one' },
  },
})
export class CreateDeploymentDto {
  service!: string;
  environment!: string;
  artifact!: { name: string; digest: string };
  change!: { commit: string; authors: string[]; requestedBy?: string; summary?: string; url?: string };
  requestId?: string;
  minimumTier?: string;
}

@BodySchema('Approval', {
  type: 'object',
  additionalProperties: false,
  required: ['digest'],
  properties: { digest: { ...digest, description: `${digest.description}: the digest you reviewed, which must be the artifact's` }, comment },
})
export class ApprovalDto {
  digest!: string;
  comment?: string;
}

@BodySchema('Rejection', { type: 'object', additionalProperties: false, properties: { comment } }, { optional: true })
export class RejectionDto {
  comment?: string;
}

@BodySchema('Cancel', { type: 'object', additionalProperties: false, properties: { reason: comment } }, { optional: true })
export class CancelDto {
  reason?: string;
}

@BodySchema('Override', {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    reason: { type: 'string', minLength: 10, maxLength: 4000, description: 'why the gate is bypassed (at least 10 characters)' },
    passFreeze: {
      type: 'boolean',
      description: 'also pass the change calendar: the deploy does not wait for a freeze (an override sent while the deploy is held by a freeze always passes it)',
    },
  },
})
export class OverrideDto {
  reason!: string;
  passFreeze?: boolean;
}

@BodySchema('Review', {
  type: 'object',
  additionalProperties: false,
  properties: { comment: { ...comment, description: 'what the review found' } },
}, { optional: true })
export class ReviewDto {
  comment?: string;
}

@BodySchema('CreatePrincipal', {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'roles'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', description: 'lowercase letters, digits, ".", "_" and "-"' },
    ...principalFields,
  },
})
export class CreatePrincipalDto {
  id!: string;
  displayName?: string;
  emails?: string[];
  logins?: string[];
  subjects?: string[];
  slack?: string[];
  roles!: Role[];
  groups?: string[];
  scopes?: Array<Partial<Scope>>;
}

@BodySchema('UpdatePrincipal', { type: 'object', additionalProperties: false, minProperties: 1, properties: { ...principalFields } })
export class UpdatePrincipalDto {
  displayName?: string;
  emails?: string[];
  logins?: string[];
  subjects?: string[];
  slack?: string[];
  roles?: Role[];
  groups?: string[];
  scopes?: Array<Partial<Scope>>;
}

@BodySchema('CreateToken', {
  type: 'object',
  additionalProperties: false,
  properties: { expiresIn: { type: 'string', pattern: '^\\d+[smhd]$', description: 'e.g. 30d; omitted: never expires' } },
}, { optional: true })
export class CreateTokenDto {
  expiresIn?: string;
}

const flag = (description: string) => ({ type: 'boolean', description });
const isoTime = (description: string) => ({ type: 'string', description: `${description}: an ISO 8601 time such as 2026-01-31T00:00:00Z` });

@QuerySchema('ListDeployments', {
  type: 'object',
  properties: {
    service: { type: 'string', description: 'service name' },
    environment: { type: 'string', description: 'environment' },
    status: { type: 'string', enum: [...DEPLOYMENT_STATUSES] },
    limit: { type: 'integer', minimum: 1, maximum: 200, default: 50, description: 'a whole number from 1 to 200' },
    before: { type: 'string', description: 'the `next` cursor of the previous page' },
    overridden: flag('true or false (true: only break-glass deployments)'),
    reviewOverdue: flag('true or false (true: overrides whose retrospective review is overdue)'),
    waitingFor: {
      type: 'string',
      enum: ['me'],
      description: '`me`: only PENDING deployments the authenticated principal may approve now and whose quorum their approval would move ' +
        '(an approver, eligible under the tier, not an author or the requester, not already approved by them; when every approval still missing ' +
        'must come from a required group nobody covers yet, only its members). Combines with service, environment, limit and before; not with status, overridden or reviewOverdue.',
    },
  },
})
export class ListDeploymentsQuery {
  service?: string;
  environment?: string;
  status?: DeploymentStatus;
  limit?: number;
  before?: string;
  overridden?: boolean;
  reviewOverdue?: boolean;
  waitingFor?: 'me';
}

@QuerySchema('GetDeployment', {
  type: 'object',
  properties: {
    waitForVersion: {
      type: 'integer',
      minimum: 0,
      maximum: 2147483647,
      description: 'long-poll: answer once the deployment\'s `version` is greater than this (at once if it already is, or the deployment is closed), ' +
        'or after waitSeconds with the deployment as it is; GET /v1/deployments/{id}/events pushes every change instead',
    },
    waitSeconds: { type: 'integer', minimum: 1, maximum: 60, default: 30, description: 'with waitForVersion: the longest wait, 1 to 60 seconds' },
  },
})
export class GetDeploymentQuery {
  waitForVersion?: number;
  waitSeconds?: number;
}

@QuerySchema('ListAudit', {
  type: 'object',
  properties: {
    deployment: { type: 'string', description: 'deployment id' },
    since: isoTime('inclusive'),
    until: isoTime('exclusive'),
    actor: { type: 'string', description: 'principal id' },
    type: { type: 'string', description: 'event type' },
    after: { type: 'string', pattern: '^\\d{1,18}$', description: 'the `next` value of an earlier page' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'a whole number from 1 to 1000' },
  },
})
export class ListAuditQuery {
  deployment?: string;
  since?: string;
  until?: string;
  actor?: string;
  type?: string;
  after?: string;
  limit?: number;
}

@QuerySchema('Reconcile', {
  type: 'object',
  properties: {
    deployment: { type: 'string', description: 'one deployment (default: all the index knows)' },
    since: isoTime('deployments requested since'),
  },
})
export class ReconcileQuery {
  deployment?: string;
  since?: string;
}

@QuerySchema('ListFreezes', {
  type: 'object',
  properties: {
    from: isoTime('the start of the horizon (default now)'),
    until: isoTime('the end of the horizon (default 30 days after from; at most 366 days after it)'),
    service: { type: 'string', maxLength: 128, description: 'only windows that apply to this service (and, with environment, whether it is frozen now)' },
    environment: { type: 'string', maxLength: 128, description: 'only windows that apply to this environment' },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50, description: 'occurrences listed per window: a whole number from 1 to 500' },
  },
})
export class ListFreezesQuery {
  from?: string;
  until?: string;
  service?: string;
  environment?: string;
  limit?: number;
}
