// The OpenAPI document at /docs/openapi.json is generated from the routes, the DTOs that
// validate their input and the answers' schemas. These tests hold it to what the server really
// does: every route served is documented, every real answer of a whole flow matches the
// schema documented for its status, and the documented request bodies are the ones enforced.

import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { type Harness, startCountersign } from '../support/harness';
import { deploymentBody, standardCast, waitForStatus } from '../support/fixtures';
import type { HttpResponse } from '../support/http';

let harness: Harness;
let cast: Awaited<ReturnType<typeof standardCast>>;
let doc: any;
let ajv: Ajv;
const checked = new Set<string>();

beforeAll(async () => {
  harness = await startCountersign();
  cast = await standardCast(harness);
  doc = (await cast.http.get('/docs/openapi.json')).body;
  ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  ajv.addSchema({ $id: 'openapi', components: doc.components });
});

afterAll(async () => {
  await harness?.close();
});

const compiled = new Map<string, ValidateFunction>();
function validator(schema: any): ValidateFunction {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rebase(schema)));
  return compiled.get(key)!;
}

/** `#/components/...` refs, as the document writes them, made absolute for ajv. */
function rebase(schema: any): any {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"openapi#/components/'));
}

function operation(method: string, template: string) {
  const op = doc.paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${template} is not documented`);
  return op;
}

/**
 * Sends a real request and checks its answer against the document: the status is one the
 * operation lists, and the body validates against the schema listed for that status.
 */
async function call(method: string, template: string, params: Record<string, string>, token: string | undefined, body?: unknown): Promise<HttpResponse> {
  const op = operation(method, template);
  const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name])) + (params.query ? `?${params.query}` : '');
  const response = await cast.http.request(method, path, { token, body });
  const answer = op.responses[String(response.status)];
  if (!answer) throw new Error(`${method} ${template} answered ${response.status}, which its documentation does not list: ${JSON.stringify(response.body)}`);
  const media = response.contentType.split(';')[0].trim();
  const schema = answer.content?.[media]?.schema;
  if (response.status !== 204 && media.endsWith('json')) {
    if (!schema) throw new Error(`${method} ${template} ${response.status} answered ${media}, which its documentation does not describe`);
    const validate = validator(schema);
    if (!validate(response.body)) {
      throw new Error(`${method} ${template} ${response.status}: the answer does not match its documented schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(response.body).slice(0, 2000)}`);
    }
  }
  checked.add(`${method} ${template} ${response.status}`);
  return response;
}

/** The documented request body's component name. */
function requestBodyName(method: string, template: string): string | undefined {
  const ref: string | undefined = operation(method, template).requestBody?.content?.['application/json']?.schema?.$ref;
  return ref?.replace('#/components/schemas/', '');
}

/** Every route the Nest app serves, as OpenAPI templates (`/v1/deployments/{id}`). */
function servedRoutes(): string[] {
  const express = harness.api.app.getHttpAdapter().getInstance();
  const stack: any[] = express.router?.stack ?? express._router?.stack ?? [];
  const routes = new Set<string>();
  for (const layer of stack) {
    if (!layer.route) continue;
    const template = String(layer.route.path).replace(/:(\w+)/g, '{$1}');
    // Swagger's own pages, the approver page's HTML (api/ui, tested by test/e2e/approver-page*.test.ts),
    // and the catch-all that answers 404 for every unknown path.
    if (template.startsWith('/docs') || template === '/ui' || template.startsWith('/ui/') || template.includes('*')) continue;
    for (const method of Object.keys(layer.route.methods)) {
      if (method !== '_all') routes.add(`${method.toUpperCase()} ${template}`);
    }
  }
  return [...routes].sort();
}

describe('the served OpenAPI document', () => {
  it('documents every route the server serves, and no other', () => {
    const served = servedRoutes();
    expect(served.length).toBeGreaterThan(20);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([template, item]) => Object.keys(item).filter((key) => ['get', 'post', 'put', 'patch', 'delete'].includes(key)).map((method) => `${method.toUpperCase()} ${template}`))
      .sort();
    expect(documented).toEqual(served);
  });

  it('names each answer\'s own request body: Approval for approvals, Review for reviews', () => {
    expect(requestBodyName('POST', '/v1/deployments')).toBe('CreateDeployment');
    expect(requestBodyName('POST', '/v1/deployments/{id}/approvals')).toBe('Approval');
    expect(requestBodyName('POST', '/v1/deployments/{id}/rejections')).toBe('Rejection');
    expect(requestBodyName('POST', '/v1/deployments/{id}/cancel')).toBe('Cancel');
    expect(requestBodyName('POST', '/v1/deployments/{id}/override')).toBe('Override');
    expect(requestBodyName('POST', '/v1/deployments/{id}/review')).toBe('Review');
    expect(requestBodyName('POST', '/v1/principals')).toBe('CreatePrincipal');
    expect(requestBodyName('PATCH', '/v1/principals/{id}')).toBe('UpdatePrincipal');
    expect(requestBodyName('POST', '/v1/principals/{id}/tokens')).toBe('CreateToken');
    // The approval body is what a client sends, not the approval the gate counts.
    expect(doc.components.schemas.Approval.required).toEqual(['digest']);
    expect(Object.keys(doc.components.schemas.Approval.properties).sort()).toEqual(['comment', 'digest']);
  });

  it('lists every refusal reason, status and role from the lists the gate and the API use', async () => {
    const { REFUSAL_REASONS, DEPLOYMENT_STATUSES, ANSWER_KINDS } = await import('../../policy/types');
    const { ROLES } = await import('../../database/entities/principal.entity');
    const schemas = doc.components.schemas;
    expect(schemas.RefusedAnswer.properties.reason.enum).toEqual([...REFUSAL_REASONS, 'TOO_MANY_REFUSALS']);
    expect(schemas.RefusedAttempt.properties.reason.enum).toEqual([...REFUSAL_REASONS]);
    expect(schemas.RefusedAttempt.properties.kind.enum).toEqual([...ANSWER_KINDS]);
    expect(schemas.Deployment.properties.status.enum).toEqual([...DEPLOYMENT_STATUSES]);
    const status = operation('GET', '/v1/deployments').parameters.find((p: any) => p.name === 'status');
    expect(status.schema.enum).toEqual([...DEPLOYMENT_STATUSES]);
    expect(schemas.Principal.properties.roles.items.enum).toEqual([...ROLES]);
    expect(schemas.CreatePrincipal.properties.roles.items.enum).toEqual([...ROLES]);
  });

  it('marks the public routes as needing no token, and every other as needing one', () => {
    for (const [template, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(item)) {
        const isPublic = ['/healthz', '/readyz', '/metrics', '/v1/keys', '/v1/webhooks/git', '/v1/integrations/slack/interactions'].includes(template);
        const security = op.security ?? doc.security;
        expect([`${method} ${template}`, security.some((requirement: object) => Object.keys(requirement).length === 0)]).toEqual([`${method} ${template}`, isPublic]);
      }
    }
  });
});

describe('the document against the real answers', () => {
  it('refuses, with 422, a field the documented request body does not list, on every route that takes a body', async () => {
    const { body: created } = await call('POST', '/v1/deployments', {}, cast.ci.token, deploymentBody());
    const routes: Array<[string, string, string]> = [
      ['POST', '/v1/deployments', cast.ci.token],
      ['POST', '/v1/deployments/{id}/approvals', cast.bob.token],
      ['POST', '/v1/deployments/{id}/rejections', cast.bob.token],
      ['POST', '/v1/deployments/{id}/cancel', cast.ci.token],
      ['POST', '/v1/deployments/{id}/override', cast.admin],
      ['POST', '/v1/deployments/{id}/review', cast.bob.token],
      ['POST', '/v1/principals', cast.admin],
      ['PATCH', '/v1/principals/{id}', cast.admin],
      ['POST', '/v1/principals/{id}/tokens', cast.admin],
    ];
    for (const [method, template, token] of routes) {
      const schema = doc.components.schemas[requestBodyName(method, template)!];
      const valid = validator({ $ref: `#/components/schemas/${requestBodyName(method, template)}` });
      expect(schema.additionalProperties).toBe(false);
      expect(valid({ notAField: true })).toBe(false);
      const id = template.startsWith('/v1/principals') ? 'bob' : created.id;
      const response = await call(method, template, { id }, token, { notAField: true });
      expect([`${method} ${template}`, response.status]).toEqual([`${method} ${template}`, 422]);
      expect(response.body.detail).toContain('notAField is not a known field');
    }
  });

  it('a whole flow answers what the document describes, status by status', async () => {
    const { http, admin, ci, alice, bob, carol, dave, erin } = cast;
    // Principals and tokens.
    await call('POST', '/v1/principals', {}, admin, { id: 'olga', roles: ['admin'], emails: ['olga@example.com'] });
    await call('POST', '/v1/principals', {}, admin, { id: 'olga', roles: ['admin'] }); // 409
    await call('GET', '/v1/principals', {}, admin);
    await call('GET', '/v1/principals/{id}', { id: 'bob' }, admin);
    await call('GET', '/v1/principals/{id}', { id: 'nobody' }, admin); // 404
    await call('PATCH', '/v1/principals/{id}', { id: 'erin' }, admin, { groups: ['sre'] });
    const token = await call('POST', '/v1/principals/{id}/tokens', { id: 'erin' }, admin, { expiresIn: '30d' });
    await call('POST', '/v1/principals/{id}/tokens', { id: 'erin' }, admin); // no body: optional
    await call('GET', '/v1/principals/{id}/tokens', { id: 'erin' }, admin);
    await call('DELETE', '/v1/principals/{id}/tokens/{tokenId}', { id: 'erin', tokenId: token.body.id }, admin);
    await call('GET', '/v1/principals', {}, undefined); // 401
    await call('GET', '/v1/principals', {}, bob.token); // 403

    // A request, refused answers, and an approval that counts.
    const body = deploymentBody();
    const created = await call('POST', '/v1/deployments', {}, ci.token, { ...body, requestId: 'openapi-1' });
    expect(created.status).toBe(201);
    expect((await call('POST', '/v1/deployments', {}, ci.token, { ...body, requestId: 'openapi-1' })).status).toBe(200);
    await call('POST', '/v1/deployments', {}, ci.token, { ...body, environment: 'nowhere' }); // 422
    const id = created.body.id;
    expect((await call('POST', '/v1/deployments/{id}/approvals', { id }, alice.token, { digest: body.artifact.digest })).body.reason).toBe('AUTHOR');
    expect((await call('POST', '/v1/deployments/{id}/approvals', { id }, bob.token, { digest: `sha256:${'0'.repeat(64)}` })).body.reason).toBe('DIGEST_MISMATCH');
    await call('POST', '/v1/deployments/{id}/approvals', { id }, bob.token, { digest: body.artifact.digest, comment: 'looks right' });
    expect((await call('POST', '/v1/deployments/{id}/approvals', { id }, bob.token, { digest: body.artifact.digest })).body.reason).toBe('DUPLICATE');
    await call('POST', '/v1/deployments/{id}/approvals', { id }, bob.token, { digest: 'sha256:nope' }); // 422
    await call('POST', '/v1/deployments/{id}/approvals', { id: 'no-such-deployment' }, bob.token, { digest: body.artifact.digest }); // 404
    await call('POST', '/v1/deployments/{id}/review', { id }, bob.token, {}); // 409 NOT_OVERRIDDEN
    await call('POST', '/v1/deployments/{id}/approvals', { id }, carol.token, { digest: body.artifact.digest });
    const deployed = await waitForStatus(http, admin, id, ['DEPLOYED', 'FAILED']);
    await call('GET', '/v1/deployments/{id}', { id }, admin);
    await call('GET', '/v1/deployments/{id}', { id, query: 'waitForVersion=0' }, admin);
    await call('GET', '/v1/deployments/{id}', { id, query: 'waitForVersion=-1' }, admin); // 400
    // A closed deployment's stream answers its final state and ends.
    expect((await call('GET', '/v1/deployments/{id}/events', { id }, admin)).contentType).toMatch(/^text\/event-stream/);
    await call('GET', '/v1/deployments/{id}/events', { id: 'no-such-deployment' }, admin); // 404
    await call('POST', '/v1/deployments/{id}/rejections', { id }, dave.token, { comment: 'too late' }); // 409 NOT_PENDING
    expect(deployed.status).toBe('DEPLOYED');

    // A rejection and a cancel, each of its own request.
    const rejected = await call('POST', '/v1/deployments', {}, ci.token, deploymentBody());
    await call('POST', '/v1/deployments/{id}/rejections', { id: rejected.body.id }, dave.token, { comment: 'not now' });
    await call('POST', '/v1/deployments/{id}/cancel', { id: rejected.body.id }, ci.token, {}); // 409
    const cancelled = await call('POST', '/v1/deployments', {}, ci.token, deploymentBody());
    await call('POST', '/v1/deployments/{id}/cancel', { id: cancelled.body.id }, cast.otherCi.token, { reason: 'not yours' }); // 403 NOT_PERMITTED
    await call('POST', '/v1/deployments/{id}/cancel', { id: cancelled.body.id }, ci.token, { reason: 'superseded' });

    // Break-glass and its review.
    const overridden = await call('POST', '/v1/deployments', {}, ci.token, deploymentBody());
    await call('POST', '/v1/deployments/{id}/override', { id: overridden.body.id }, admin, { reason: 'incident 42: the fix must ship now' });
    await waitForStatus(http, admin, overridden.body.id, ['DEPLOYED', 'FAILED']);
    await call('POST', '/v1/deployments/{id}/review', { id: overridden.body.id }, erin.token, { comment: 'the fix was right' });
    await call('POST', '/v1/deployments/{id}/review', { id: overridden.body.id }, bob.token, {}); // 409 ALREADY_REVIEWED

    // Listing, filters and their refusals.
    await call('GET', '/v1/deployments', { query: 'service=web&status=DEPLOYED&limit=5' }, admin);
    await call('GET', '/v1/deployments', { query: 'overridden=true' }, admin);
    await call('GET', '/v1/deployments', { query: 'waitingFor=me' }, bob.token);
    await call('GET', '/v1/deployments', { query: 'waitingFor=me&status=PENDING' }, bob.token); // 400
    await call('GET', '/v1/deployments', { query: 'status=DONE' }, admin); // 400
    await call('GET', '/v1/deployments', { query: 'limit=500' }, admin); // 400
    await call('GET', '/v1/deployments', { query: 'before=nonsense' }, admin); // 422

    // Evidence and keys.
    const evidence = await call('GET', '/v1/deployments/{id}/evidence', { id }, bob.token);
    await call('GET', '/v1/deployments/{id}/evidence/{sha256}', { id, sha256: evidence.headers.get('x-evidence-sha256')! }, bob.token); // 404 (never tagged)
    await call('GET', '/v1/deployments/{id}/evidence/{sha256}', { id, sha256: 'not-a-hash' }, bob.token); // 400
    await call('GET', '/v1/keys', {}, undefined);

    // The audit trail, the policy, health.
    await call('GET', '/v1/audit', { query: `deployment=${id}&limit=50` }, admin);
    await call('GET', '/v1/audit', { query: 'after=x' }, admin); // 400
    await call('GET', '/v1/audit/verify', {}, admin);
    await call('POST', '/v1/audit/reconcile', { query: `deployment=${id}` }, admin);
    await call('POST', '/v1/audit/reconcile', { query: 'deployment=no-such-deployment' }, admin); // 404
    await call('GET', '/v1/policy', {}, admin);
    await call('POST', '/v1/policy/reload', {}, admin);
    await call('GET', '/v1/freezes', {}, ci.token);
    await call('GET', '/v1/freezes', { query: 'service=web&environment=production&from=2027-01-01T00:00:00Z&until=2027-02-01T00:00:00Z&limit=5' }, ci.token);
    await call('GET', '/v1/freezes', { query: 'from=nonsense' }, ci.token); // 400
    await call('GET', '/healthz', {}, undefined);
    await call('GET', '/readyz', {}, undefined);
    await call('GET', '/metrics', {}, undefined);
    await call('POST', '/v1/webhooks/git', {}, undefined, { ref: 'refs/tags/x' }); // 401 or 404
    await call('POST', '/v1/integrations/slack/interactions', {}, undefined, { payload: '{}' }); // 404: no Slack signing secret configured

    // Every documented route was called at least once.
    const called = new Set([...checked].map((entry) => entry.split(' ').slice(0, 2).join(' ')));
    expect(servedRoutes().filter((route) => !called.has(route))).toEqual([]);
  });
});
