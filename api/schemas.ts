// JSON Schemas of the request bodies: they validate requests and document them in /docs.

import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { refusedBodyProblem } from './input-guard';
import { invalid } from './problem';

const digest = {
  type: 'string',
  pattern: '^sha256:[0-9a-f]{64}$',
  description: '`sha256:` followed by 64 lowercase hex characters',
};
const text = (maxLength: number, description?: string) => ({ type: 'string', minLength: 1, maxLength, ...(description ? { description } : {}) });
const list = (items: object, maxItems = 50) => ({ type: 'array', items, maxItems, uniqueItems: true });
const name = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$' };

/** What an admin may set on a principal, at creation or later. */
const principalFields = {
  displayName: text(200),
  emails: list({ type: 'string', format: 'email', maxLength: 320 }),
  logins: list(text(100)),
  subjects: list(text(500)),
  roles: { ...list({ enum: ['pipeline', 'approver', 'admin'] }, 3), minItems: 1 },
  groups: list({ type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }),
  scopes: list({
    type: 'object',
    additionalProperties: false,
    properties: { service: text(128), environment: text(128) },
  }),
};

export const schemas = {
  CreateDeployment: {
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
  },
  Approval: {
    type: 'object',
    additionalProperties: false,
    required: ['digest'],
    properties: { digest: { ...digest, description: 'the digest you reviewed; must be the artifact\'s' }, comment: { type: 'string', maxLength: 4000 } },
  },
  Rejection: {
    type: 'object',
    additionalProperties: false,
    properties: { comment: { type: 'string', maxLength: 4000 } },
  },
  Cancel: {
    type: 'object',
    additionalProperties: false,
    properties: { reason: { type: 'string', maxLength: 4000 } },
  },
  Override: {
    type: 'object',
    additionalProperties: false,
    required: ['reason'],
    properties: { reason: { type: 'string', minLength: 10, maxLength: 4000, description: 'why the gate is bypassed (at least 10 characters)' } },
  },
  CreatePrincipal: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'roles'],
    properties: {
      id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', description: 'lowercase letters, digits, ".", "_" and "-"' },
      ...principalFields,
    },
  },
  UpdatePrincipal: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      ...principalFields,
    },
  },
  CreateToken: {
    type: 'object',
    additionalProperties: false,
    properties: { expiresIn: { type: 'string', pattern: '^\\d+[smhd]$', description: 'e.g. 30d; omitted: never expires' } },
  },
} as const;

export type SchemaName = keyof typeof schemas;

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
addFormats(ajv);
const validators = Object.fromEntries(
  Object.entries(schemas).map(([key, schema]) => [key, ajv.compile(schema)]),
) as Record<SchemaName, ReturnType<typeof ajv.compile>>;

function field(path: string): string {
  return path ? path.slice(1).replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.') : '';
}

function describeError(error: ErrorObject): string {
  const at = field(error.instancePath);
  const where = at ? `${at}` : 'the body';
  switch (error.keyword) {
    case 'required':
      return `${at ? `${at}.` : ''}${(error.params as { missingProperty: string }).missingProperty} is required`;
    case 'additionalProperties':
      return `${at ? `${at}.` : ''}${(error.params as { additionalProperty: string }).additionalProperty} is not a known field; remove it`;
    case 'pattern': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return `${where} must be ${description ?? `of the form ${(error.params as { pattern: string }).pattern}`}`;
    }
    case 'enum':
      return `${where} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}

/** Validates a parsed body; throws a 422 problem listing every error. A missing body counts as `{}`. */
export function validateBody<T>(schema: SchemaName, body: unknown): T {
  const refused = refusedBodyProblem(body);
  if (refused) throw refused;
  const value = body === undefined || body === null || (typeof body === 'object' && Object.keys(body as object).length === 0 && !Array.isArray(body)) ? {} : body;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalid('the request body must be a JSON object');
  }
  const validate = validators[schema];
  if (validate(value)) return value as T;
  const errors = [...new Set((validate.errors ?? []).map(describeError))];
  throw invalid(errors.join('; '), { errors });
}
