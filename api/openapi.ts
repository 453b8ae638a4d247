// The whole HTTP surface, served at /docs (UI) and /docs/openapi.json. Request bodies reuse
// the very schemas that validate them.

import type { OpenAPIObject } from '@nestjs/swagger';
import { schemas } from './schemas';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const body = (name: string, required = true) => ({ required, ...json(ref(name)) });
const ok = (description: string, schema: object) => ({ description, ...json(schema) });
const idParam = (name: string, description: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description });
const query = (name: string, description: string, schema: object = { type: 'string' }) => ({ name, in: 'query', required: false, schema, description });

const common = {
  '401': problem('No token, or an unknown, revoked or expired one'),
  '403': problem('The principal lacks the role this route needs'),
  '429': problem('Too many failed authentications from this client'),
  '503': problem('PostgreSQL or Temporal cannot be reached (`database-unavailable`, `temporal-unavailable`, `gate-unavailable`); retry after `Retry-After` seconds'),
};

const answerErrors = {
  ...common,
  '400': problem('The body is not JSON, or holds text that cannot be stored (NUL, lone surrogates, control characters) or nests too deep; `detail` names the field'),
  '404': problem('No such deployment, or one this principal may not see'),
  '429': problem('Too many failed authentications from this client, or (`too-many-refusals`) this principal was refused 10 times on this deployment and its further refusable attempts are turned away'),
  '415': problem('The body is not application/json'),
  '422': problem('The body does not match the schema; `detail` lists every error'),
};

const statusEnum = ['PENDING', 'APPROVED', 'DEPLOYING', 'DEPLOYED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'FAILED'];

export function openApiDocument(): OpenAPIObject {
  return {
    openapi: '3.0.3',
    info: {
      title: 'Countersign',
      version: '0.1.0',
      description:
        'Deployment approval gate: no change reaches production unless someone other than its author approved it, ' +
        'for exactly the artifact deployed. Every route but /healthz, /readyz, /metrics and /docs needs ' +
        '`Authorization: Bearer <token>`; who acts is the token\'s principal, never a field of the body. ' +
        'Every error is an RFC 9457 problem document.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A Countersign token, or an OIDC JWT from an issuer under auth.oidc' } },
      schemas: {
        ...(schemas as unknown as Record<string, object>),
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail'],
          properties: {
            type: { type: 'string', format: 'uri' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string', description: 'what went wrong and what to do about it' },
            instance: { type: 'string' },
            reason: { type: 'string', description: 'for a refused answer: AUTHOR, REQUESTER, NOT_ELIGIBLE, DIGEST_MISMATCH, NOT_PENDING, DUPLICATE, EXPIRED, NOT_PERMITTED, NOT_OVERRIDDEN, ALREADY_REVIEWED, OVERRIDER, TOO_MANY_REFUSALS' },
            errors: { type: 'array', items: { type: 'string' } },
          },
        },
        Approval: {
          type: 'object',
          properties: {
            approver: { type: 'string' },
            at: { type: 'string', format: 'date-time' },
            digest: { type: 'string' },
            comment: { type: 'string' },
            groups: { type: 'array', items: { type: 'string' } },
          },
        },
        RefusedAttempt: {
          type: 'object',
          properties: {
            kind: { enum: ['approval', 'rejection', 'cancel', 'override', 'review'] },
            actor: { type: 'string' },
            at: { type: 'string', format: 'date-time' },
            reason: { type: 'string' },
            detail: { type: 'string' },
            digest: { type: 'string' },
          },
        },
        Deployment: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            status: { enum: statusEnum },
            service: { type: 'string' },
            environment: { type: 'string' },
            tier: { type: 'string' },
            requiredApprovals: { type: 'integer' },
            requiredGroups: { type: 'array', items: { type: 'string' } },
            eligibleGroups: { type: 'array', items: { type: 'string' } },
            approvals: { type: 'array', items: ref('Approval') },
            refused: { type: 'array', items: ref('RefusedAttempt'), description: 'the latest ten refused attempts; the audit trail keeps every one' },
            refusedCount: { type: 'integer', description: 'how many attempts the gate refused in all' },
            artifact: { type: 'object', properties: { name: { type: 'string' }, digest: { type: 'string' } } },
            change: { type: 'object' },
            requestId: { type: 'string' },
            requestedBy: { type: 'string' },
            requestedAt: { type: 'string', format: 'date-time' },
            expiresAt: { type: 'string', format: 'date-time' },
            decision: { type: 'object', properties: { status: { type: 'string' }, at: { type: 'string' }, by: { type: 'string' }, reason: { type: 'string' } } },
            deploy: { type: 'object', properties: { ok: { type: 'boolean' }, deployer: { type: 'string' }, digest: { type: 'string' }, at: { type: 'string' }, output: { type: 'string' }, error: { type: 'string' } } },
            override: { type: 'object', description: 'present when an admin overrode the gate', properties: { by: { type: 'string' }, at: { type: 'string' }, reason: { type: 'string' }, approvalsAtOverride: { type: 'integer' }, reviewDueBy: { type: 'string' }, reviewOverdue: { type: 'boolean' }, review: { type: 'object' } } },
            gitTag: { type: 'object', properties: { tag: { type: 'string' }, commit: { type: 'string' }, pushed: { type: 'boolean' }, detail: { type: 'string' } } },
            deployer: { type: 'string' },
            policyHash: { type: 'string' },
            workflowId: { type: 'string' },
            version: { type: 'integer' },
          },
        },
        Principal: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            displayName: { type: 'string' },
            emails: { type: 'array', items: { type: 'string' } },
            logins: { type: 'array', items: { type: 'string' } },
            subjects: { type: 'array', items: { type: 'string' } },
            roles: { type: 'array', items: { enum: ['pipeline', 'approver', 'admin'] } },
            groups: { type: 'array', items: { type: 'string' } },
            scopes: { type: 'array', items: { type: 'object', properties: { service: { type: 'string' }, environment: { type: 'string' } } } },
          },
        },
        TokenSecret: { type: 'object', properties: { id: { type: 'string' }, token: { type: 'string', description: 'shown once' }, expiresAt: { type: 'string', nullable: true } } },
        EvidenceEnvelope: {
          type: 'object',
          required: ['payload', 'payloadType', 'signatures'],
          properties: {
            payload: { type: 'string', format: 'byte', description: 'base64 of the canonical JSON of the in-toto statement' },
            payloadType: { enum: ['application/vnd.in-toto+json'] },
            signatures: { type: 'array', items: { type: 'object', properties: { keyid: { type: 'string' }, sig: { type: 'string', format: 'byte', description: 'Ed25519 over the DSSE v1 PAE' } } } },
          },
        },
        AuditEvent: {
          type: 'object',
          properties: {
            seq: { type: 'integer' }, id: { type: 'string' }, deploymentId: { type: 'string', nullable: true }, type: { type: 'string' },
            actor: { type: 'string' }, at: { type: 'string', format: 'date-time' }, outcome: { type: 'string', nullable: true },
            reason: { type: 'string', nullable: true }, data: { type: 'object' }, prevHash: { type: 'string' }, hash: { type: 'string' },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': { get: { summary: 'The process is alive', security: [], responses: { '200': ok('alive', { type: 'object' }) } } },
      '/readyz': { get: { summary: 'The database and Temporal answer', security: [], responses: { '200': ok('ready', { type: 'object' }), '503': problem('not ready; detail names what is down') } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'text exposition format' } } } },
      '/v1/principals': {
        post: {
          summary: 'Create a principal (admin); answers its first token, shown once',
          requestBody: body('CreatePrincipal'),
          responses: { '201': ok('created', { allOf: [ref('Principal'), { type: 'object', properties: { token: { type: 'string' }, tokenId: { type: 'string' } } }] }), '409': problem('the id exists, or an identity belongs to someone else'), '422': problem('invalid body'), ...common },
        },
        get: { summary: 'List principals (admin)', responses: { '200': ok('principals', { type: 'object', properties: { principals: { type: 'array', items: ref('Principal') } } }), ...common } },
      },
      '/v1/principals/{id}': {
        parameters: [idParam('id', 'principal id')],
        get: { summary: 'One principal, never a secret (admin)', responses: { '200': ok('principal', ref('Principal')), '404': problem('no such principal'), ...common } },
        patch: { summary: 'Change identities, roles, groups or scopes (admin)', requestBody: body('UpdatePrincipal'), responses: { '200': ok('principal', ref('Principal')), '404': problem('no such principal'), '409': problem('an identity belongs to someone else'), '422': problem('invalid body'), ...common } },
      },
      '/v1/principals/{id}/tokens': {
        parameters: [idParam('id', 'principal id')],
        post: { summary: 'Issue a token (admin)', requestBody: body('CreateToken', false), responses: { '201': ok('token, shown once', ref('TokenSecret')), '404': problem('no such principal'), '422': problem('invalid expiresIn'), ...common } },
        get: { summary: 'List tokens without secrets (admin)', responses: { '200': ok('tokens', { type: 'object' }), '404': problem('no such principal'), ...common } },
      },
      '/v1/principals/{id}/tokens/{tokenId}': {
        parameters: [idParam('id', 'principal id'), idParam('tokenId', 'token id')],
        delete: { summary: 'Revoke a token (admin): refused from then on', responses: { '204': { description: 'revoked' }, '404': problem('no such token'), ...common } },
      },
      '/v1/deployments': {
        post: {
          summary: 'Request a deployment (pipeline)',
          description: 'The tier comes from the policy for the service and environment, never from the request; `minimumTier` can only make it stricter. The same `requestId` again answers the same deployment with 200.',
          requestBody: body('CreateDeployment'),
          responses: { '201': ok('created, PENDING', ref('Deployment')), '200': ok('the deployment this requestId already names', ref('Deployment')), '403': problem('missing role, or outside the pipeline\'s scopes'), '409': problem('requestId reused for a different deployment'), '422': problem('invalid body, an environment (or listed service) the policy does not know (unknown-environment, naming the known ones), or no policy rule matches'), '400': problem('not JSON'), '503': problem('Temporal unavailable; retry with the same requestId') },
        },
        get: {
          summary: 'List deployments, newest first',
          parameters: [query('service', 'service name'), query('environment', 'environment'), query('status', 'status', { enum: statusEnum }), query('limit', '1 to 200, default 50', { type: 'integer' }), query('before', 'the `next` cursor of the previous page'), query('overridden', 'true: only break-glass deployments', { type: 'boolean' }), query('reviewOverdue', 'true: overrides whose retrospective review is overdue', { type: 'boolean' })],
          responses: { '200': ok('a page', { type: 'object', properties: { deployments: { type: 'array', items: ref('Deployment') }, next: { type: 'string', nullable: true } } }), '400': problem('bad filter'), ...common },
        },
      },
      '/v1/deployments/{id}': {
        parameters: [idParam('id', 'deployment id')],
        get: {
          summary: 'One deployment',
          responses: {
            '200': {
              description: 'the deployment',
              headers: {
                'Countersign-View-Source': {
                  description: '`workflow`: the live gate answered. `final`: the deployment is closed and this is its final record. ' +
                    '`index`: the gate did not answer within 5 s (a worker is down or restarting), so this is the listing index\'s copy, ' +
                    'which may lag the gate by the latest answers; ask again to see them.',
                  schema: { enum: ['workflow', 'final', 'index'] },
                },
              },
              ...json(ref('Deployment')),
            },
            '404': problem('no such deployment'),
            ...common,
          },
        },
      },
      '/v1/deployments/{id}/approvals': {
        parameters: [idParam('id', 'deployment id')],
        post: {
          summary: 'Approve (approver): counts once per person, for the artifact\'s digest only',
          requestBody: body('Approval'),
          responses: { '200': ok('the deployment after the approval is counted', ref('Deployment')), ...answerErrors, '403': problem('AUTHOR, REQUESTER or NOT_ELIGIBLE: the approver may not approve this change'), '409': problem('DIGEST_MISMATCH, NOT_PENDING, DUPLICATE or EXPIRED') },
        },
      },
      '/v1/deployments/{id}/rejections': {
        parameters: [idParam('id', 'deployment id')],
        post: { summary: 'Reject (approver): one eligible rejection ends the request', requestBody: body('Rejection', false), responses: { '200': ok('REJECTED', ref('Deployment')), ...answerErrors, '403': problem('AUTHOR, REQUESTER or NOT_ELIGIBLE'), '409': problem('NOT_PENDING or EXPIRED') } },
      },
      '/v1/deployments/{id}/cancel': {
        parameters: [idParam('id', 'deployment id')],
        post: { summary: 'Cancel (the requesting pipeline, or admin)', requestBody: body('Cancel', false), responses: { '200': ok('CANCELLED', ref('Deployment')), ...answerErrors, '403': problem('NOT_PERMITTED: another pipeline\'s request'), '409': problem('NOT_PENDING') } },
      },
      '/v1/deployments/{id}/override': {
        parameters: [idParam('id', 'deployment id')],
        post: { summary: 'Break-glass (admin, never an author): deploy on fewer approvals; marked overridden everywhere, and a retrospective review is then due within the tier\'s window', requestBody: body('Override'), responses: { '200': ok('APPROVED, overridden', ref('Deployment')), ...answerErrors, '403': problem('AUTHOR or REQUESTER: the admin may not override this change'), '409': problem('NOT_PENDING or EXPIRED') } },
      },
      '/v1/deployments/{id}/review': {
        parameters: [idParam('id', 'deployment id')],
        post: { summary: 'Retrospective review of an override (approver: eligible, not an author, not the overrider)', requestBody: body('Rejection', false), responses: { '200': ok('reviewed', ref('Deployment')), ...answerErrors, '403': problem('AUTHOR, OVERRIDER or NOT_ELIGIBLE'), '409': problem('NOT_OVERRIDDEN or ALREADY_REVIEWED') } },
      },
      '/v1/deployments/{id}/evidence': {
        parameters: [idParam('id', 'deployment id')],
        get: {
          summary: 'The signed evidence of one deployment (anyone who may see the deployment)',
          description:
            'A DSSE v1 envelope (`payloadType` `application/vnd.in-toto+json`) whose payload is the base64 of an in-toto Statement v1: ' +
            'subject the artifact and its sha256, `predicateType` `https://countersign.dev/deployment-approval/v1`, predicate the request, ' +
            'the change, the rule applied, every approval and refused attempt, the decision, any override, the deploy result, and the Temporal ' +
            'workflow and run ids. Signed with Ed25519 (see `GET /v1/keys`); `countersign verify FILE --key KEY` checks it offline. ' +
            'This is the current state. The evidence of a deployed request does not change when it is tagged in git, and its `X-Evidence-SHA256` is what the tag records; ' +
            'if it changes later (a retrospective review), `GET /v1/deployments/{id}/evidence/{sha256}` still serves what the tag named.',
          responses: {
            '200': {
              description: 'the DSSE envelope',
              headers: { 'X-Evidence-SHA256': { description: 'hex sha256 of the exact response body', schema: { type: 'string' } } },
              ...json(ref('EvidenceEnvelope')),
            },
            '404': problem('No such deployment, or one this principal may not see'),
            ...common,
            '503': problem('the server has no evidence key, or the gate of an open deployment did not answer (evidence is signed only from its live state; see Retry-After)'),
          },
        },
      },
      '/v1/deployments/{id}/evidence/{sha256}': {
        parameters: [idParam('id', 'deployment id'), { name: 'sha256', in: 'path', required: true, description: 'the 64 hex characters of a git tag\'s `Evidence-SHA256` line', schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } }],
        get: {
          summary: 'The evidence a git tag names, byte for byte (anyone who may see the deployment)',
          description:
            'When a deployment is tagged in git, the evidence the tag\'s `Evidence-SHA256` line names is kept, append-only. ' +
            'The current evidence can move on afterwards (a retrospective review of an override, a refused attempt while the workflow is still open); ' +
            'this route still serves the tagged bytes, whose sha256 is the one in the tag.',
          responses: {
            '200': {
              description: 'the DSSE envelope, as tagged',
              headers: { 'X-Evidence-SHA256': { description: 'hex sha256 of the exact response body (the path\'s sha256)', schema: { type: 'string' } } },
              ...json(ref('EvidenceEnvelope')),
            },
            '400': problem('not a sha256'),
            '404': problem('no such deployment, one this principal may not see, or no evidence of it kept under that sha256'),
            ...common,
          },
        },
      },
      '/v1/keys': {
        get: {
          summary: 'The public keys that sign evidence (no token needed)',
          security: [],
          responses: {
            '200': ok('keys', { type: 'object', properties: { keys: { type: 'array', items: { type: 'object', properties: { keyid: { type: 'string', description: 'sha256: + hex sha256 of the SPKI DER public key' }, algorithm: { enum: ['ed25519'] }, publicKeyPem: { type: 'string' } } } } } }),
          },
        },
      },
      '/v1/webhooks/git': {
        post: {
          summary: 'GitHub or GitLab tag pushes: approve or request deployments (authenticated by git.webhookSecret, not a token)',
          description:
            'Set the webhook to send JSON (`application/json`) push / tag push events with the policy\'s `git.webhookSecret`. ' +
            'GitHub: `X-GitHub-Event: push` signed with `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`; GitLab: ' +
            '`X-Gitlab-Event: Tag Push Hook` with `X-Gitlab-Token: <secret>`. The pusher (GitHub `sender.login` and `pusher.email`, ' +
            'GitLab `user_username` and `user_email`) must be a principal that claims those identities.\n\n' +
            '**Approve**: a tag matching `git.approveTagFormat` (default `approve/{environment}/*`, `{environment}` being each ' +
            'pending deployment\'s) on the commit of a PENDING deployment is the pusher\'s approval of it, under every check of ' +
            '`POST /v1/deployments/{id}/approvals` (approver role, not an author, not the requester, eligible groups); a ' +
            '`Digest:` or `Artifact:` line in a GitLab tag message binds it to that digest, otherwise the deployment\'s own. ' +
            'Answers 200 with one result per deployment, accepted or refused with the gate\'s reason.\n\n' +
            '**Request** (GitLab only: GitHub\'s push event carries no tag message): a tag matching `git.requestTagFormat` ' +
            '(default `request/{environment}/*`) whose annotated message has `Artifact: <name>@sha256:<64 hex>` and ' +
            '`Service: <name>` lines (optionally `Environment:` and `Authors:`) requests a deployment of its commit, the pusher ' +
            'being the requesting pipeline (pipeline role); authors are the pusher unless `Authors:` lines say otherwise. ' +
            'A redelivery answers the same deployment (200).',
          security: [],
          parameters: [
            { name: 'X-GitHub-Event', in: 'header', required: false, schema: { type: 'string' }, description: 'push (other events are ignored)' },
            { name: 'X-Hub-Signature-256', in: 'header', required: false, schema: { type: 'string' }, description: 'sha256=<hex HMAC of the raw body>' },
            { name: 'X-Gitlab-Event', in: 'header', required: false, schema: { type: 'string' }, description: 'Tag Push Hook (other events are ignored)' },
            { name: 'X-Gitlab-Token', in: 'header', required: false, schema: { type: 'string' }, description: 'the webhook secret' },
          ],
          requestBody: { required: true, ...json({ type: 'object', description: 'the GitHub push or GitLab tag push payload, as sent' }) },
          responses: {
            '200': ok('approval: one result per matching PENDING deployment; or request: the deployment a redelivery already made', {
              type: 'object',
              properties: {
                outcome: { enum: ['approval', 'request'] }, provider: { enum: ['github', 'gitlab'] }, tag: { type: 'string' }, commit: { type: 'string' },
                pusher: { type: 'string', nullable: true },
                results: { type: 'array', items: { type: 'object', properties: { deployment: { type: 'string' }, outcome: { enum: ['accepted', 'refused'] }, reason: { type: 'string' }, detail: { type: 'string' }, status: { type: 'string' } } } },
                created: { type: 'boolean' }, deployment: ref('Deployment'),
              },
            }),
            '201': ok('request: the deployment the tag requested, PENDING', { type: 'object', properties: { outcome: { enum: ['request'] }, deployment: ref('Deployment') } }),
            '202': ok('ignored: not a tag push, a deleted tag, or a tag matching no format or no PENDING deployment; `reason` says which', { type: 'object', properties: { outcome: { enum: ['ignored'] }, reason: { type: 'string' } } }),
            '401': problem('no GitHub or GitLab event header, or the signature or token does not match git.webhookSecret (audited)'),
            '403': problem('request tag: the pusher is unknown or lacks the pipeline role (audited)'),
            '404': problem('git webhooks are not configured: no git.webhookSecret in the policy'),
            '415': problem('the body is not application/json: set the webhook\'s content type to JSON'),
            '422': problem('a request tag from GitHub, or a tag message without the Artifact / Service lines'),
            '503': problem('the gate did not answer; the sender may redeliver'),
          },
        },
      },
      '/v1/audit': {
        get: {
          summary: 'Page through the audit trail in chain order (admin)',
          parameters: [query('deployment', 'deployment id'), query('since', 'ISO time, inclusive'), query('until', 'ISO time, exclusive'), query('actor', 'principal id'), query('type', 'event type'), query('after', 'the `next` of the previous page'), query('limit', '1 to 1000, default 100', { type: 'integer' })],
          responses: { '200': ok('a page', { type: 'object', properties: { events: { type: 'array', items: ref('AuditEvent') }, next: { type: 'string', nullable: true } } }), '400': problem('bad filter'), ...common },
        },
      },
      '/v1/audit/reconcile': {
        post: {
          summary: 'Fill in audit events the database missed, re-derived from workflow histories (admin); never duplicates',
          parameters: [query('deployment', 'one deployment (default: all the index knows)'), query('since', 'ISO time: deployments requested since')],
          responses: { '200': ok('what was added', { type: 'object', properties: { eventsAdded: { type: 'integer' }, results: { type: 'array', items: { type: 'object' } } } }), '400': problem('no history for that deployment'), ...common },
        },
      },
      '/v1/audit/verify': {
        get: { summary: 'Walk the hash chain (admin)', responses: { '200': ok('{"ok": true} or the first broken link', { type: 'object', properties: { ok: { type: 'boolean' }, events: { type: 'integer' }, brokenAt: { type: 'object' }, reason: { type: 'string' } } }), ...common } },
      },
      '/v1/policy': { get: { summary: 'The policy in force (admin)', responses: { '200': ok('tiers, rules and the file hash', { type: 'object' }), ...common } } },
      '/v1/policy/reload': { post: { summary: 'Reload the policy file (admin); an invalid file is refused and the old policy stays', responses: { '200': ok('reloaded', { type: 'object' }), '422': problem('the file is invalid; detail names the key'), ...common } } },
    },
  } as unknown as OpenAPIObject;
}
