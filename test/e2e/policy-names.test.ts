// A tier by spelling: a request for `Production`, `PRODUCTION` or `production.` must meet the
// production rule, never the catch-all; an environment the policy does not know is refused
// unless the policy allows unknown names. HTTP API, real Temporal, real PostgreSQL, real worker.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PolicyError } from '../../policy/config';
import { loadPolicy } from '../../settings/policy-file';
import { SearchKeys } from '../../workflows/definitions';
import { createPrincipal, deploymentBody, type Person } from '../support/fixtures';
import { type Harness, startCountersign } from '../support/harness';
import { Http } from '../support/http';

const SECRET = 'names-webhook-secret';
// The policy: a strict rule for production, then a catch-all. No `environments:`, so
// the environments it knows are the ones its rules name: production.
const POLICY = `
tiers:
  low:  { approvals: 1, expiresAfter: 24h }
  high: { approvals: 2, expiresAfter: 24h }
rules:
  - { environment: production, tier: high }
  - { tier: low }
git:
  webhookSecret: ${SECRET}
`;

let harness: Harness;
let http: Http;
let admin: string;
let ci: Person;

beforeAll(async () => {
  harness = await startCountersign({ policy: POLICY });
  http = new Http(harness.url);
  admin = harness.adminToken;
  [ci] = await Promise.all([
    createPrincipal(http, admin, { id: 'ci', roles: ['pipeline'] }),
    createPrincipal(http, admin, { id: 'release', roles: ['pipeline'], logins: ['release-bot'], emails: ['release@example.com'] }),
  ]);
});

afterAll(async () => {
  await harness?.close();
});

function expectProblem(response: { status: number; contentType: string; body: any }, status: number, slug: string) {
  expect(response.status).toBe(status);
  expect(response.contentType).toContain('application/problem+json');
  expect(response.body.type).toMatch(new RegExp(`/${slug}$`));
}

/** Replaces the policy file and reloads it as an admin would. */
async function reload(policy: string) {
  writeFileSync(harness.policyFile, policy);
  return http.post('/v1/policy/reload', admin);
}

describe('an environment spelled differently from the policy', () => {
  it.each(['production', 'Production', 'PRODUCTION', 'production.', 'PRODUCTION.', 'Production-'])(
    'gets the production tier for %p, never the catch-all, and is stored as production',
    async (environment) => {
      const response = await http.post('/v1/deployments', ci.token, deploymentBody({ environment }));
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ tier: 'high', requiredApprovals: 2, environment: 'production', status: 'PENDING' });
      const id = response.body.id as string;

      // The view, the listing (filtered by any spelling) and the workflow's search attributes
      // all say production.
      expect((await http.get(`/v1/deployments/${id}`, admin)).body).toMatchObject({ environment: 'production', tier: 'high' });
      for (const filter of ['production', 'PRODUCTION', 'Production.']) {
        const listed = await http.get(`/v1/deployments?environment=${encodeURIComponent(filter)}&limit=200`, admin);
        expect(listed.status).toBe(200);
        expect((listed.body.deployments as Array<{ id: string }>).map((d) => d.id)).toContain(id);
      }
      const [row] = (await harness.dataSource.query('SELECT environment, tier, request FROM deployments WHERE id = $1', [id])) as Array<{ environment: string; tier: string; request: { environment: string } }>;
      expect(row).toMatchObject({ environment: 'production', tier: 'high', request: { environment: 'production' } });
      const described = await harness.temporal.workflow.getHandle(response.body.workflowId).describe();
      expect(described.typedSearchAttributes.get(SearchKeys.environment)).toBe('production');
    },
  );

  it('answers the same deployment for a retried requestId spelled either way', async () => {
    const body = deploymentBody({ environment: 'PRODUCTION', requestId: 'names-retry-1' });
    const first = await http.post('/v1/deployments', ci.token, body);
    expect(first.status).toBe(201);
    const again = await http.post('/v1/deployments', ci.token, { ...body, environment: 'production' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });
});

describe('an environment the policy does not know', () => {
  it.each(['prod', 'staging', 'production-eu'])('is refused 422 for %p, naming the known environments', async (environment) => {
    const response = await http.post('/v1/deployments', ci.token, deploymentBody({ environment }));
    expectProblem(response, 422, 'unknown-environment');
    expect(response.body.detail).toContain(`"${environment}" is not one the policy knows`);
    expect(response.body.detail).toContain('known environments: production');
    expect(response.body.detail).toContain('"*"');
    expect(response.body.known).toEqual(['production']);
    const listed = await http.get(`/v1/deployments?environment=${environment}`, admin);
    expect(listed.body.deployments).toEqual([]);
  });
});

describe('a scoped pipeline', () => {
  let scoped: Person;

  beforeAll(async () => {
    // The admin spelled the scope's environment differently from the policy.
    scoped = await createPrincipal(http, admin, { id: 'web-prod-ci', roles: ['pipeline'], scopes: [{ service: 'web-*', environment: 'Production' }] });
  });

  it('is compared canonically: its scope covers other spellings of its environment and services', async () => {
    const response = await http.post('/v1/deployments', scoped.token, deploymentBody({ service: 'WEB_api', environment: 'PRODUCTION' }));
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ environment: 'production', tier: 'high' });
  });

  it('is refused 403 for a service its scope only covers with the separator taken out (web-* is not webhooks)', async () => {
    const response = await http.post('/v1/deployments', scoped.token, deploymentBody({ service: 'webhooks', environment: 'production' }));
    expectProblem(response, 403, 'out-of-scope');
  });
});

describe('a GitLab request tag', () => {
  const gitlabRequest = (tag: string, seed: string) => {
    const body = deploymentBody();
    return http.request('POST', '/v1/webhooks/git', {
      headers: { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': SECRET },
      body: {
        object_kind: 'tag_push',
        event_name: 'tag_push',
        ref: `refs/tags/${tag}`,
        before: '0'.repeat(40),
        after: body.change.commit.replace(/^./, seed),
        checkout_sha: body.change.commit,
        message: `Release\n\nService: web\nArtifact: ${body.artifact.name}@${body.artifact.digest}\nAuthors: alice@example.com\n`,
        user_username: 'release-bot',
        user_email: 'release@example.com',
        project: { web_url: 'https://gitlab.example.com/acme/web' },
      },
    });
  };

  it('naming PRODUCTION gets the production tier and is stored as production', async () => {
    const response = await gitlabRequest('request/PRODUCTION/v1', 'a');
    expect(response.status).toBe(201);
    expect(response.body.deployment).toMatchObject({ environment: 'production', tier: 'high', requiredApprovals: 2 });
  });

  it('naming an environment the policy does not know is refused 422, naming the known ones', async () => {
    const response = await gitlabRequest('request/prod/v1', 'b');
    expectProblem(response, 422, 'unknown-environment');
    expect(response.body.detail).toContain('known environments: production');
  });
});

describe('the policy', () => {
  it('accepts environments it does not list when environments: lists "*", still resolving known spellings', async () => {
    const original = readFileSync(harness.policyFile, 'utf8');
    try {
      const reloaded = await reload(original.replace('rules:\n', 'environments: [production, "*"]\nrules:\n'));
      expect(reloaded.status).toBe(200);
      const sandbox = await http.post('/v1/deployments', ci.token, deploymentBody({ environment: 'sandbox-7' }));
      expect(sandbox.status).toBe(201);
      expect(sandbox.body).toMatchObject({ environment: 'sandbox-7', tier: 'low' });
      const production = await http.post('/v1/deployments', ci.token, deploymentBody({ environment: 'PRODUCTION' }));
      expect(production.body).toMatchObject({ environment: 'production', tier: 'high' });
    } finally {
      await reload(original);
    }
  });

  it('is refused at load when two names are one canonically but spelled differently, naming the key', async () => {
    const ambiguous = POLICY.replace('- { tier: low }', '- { environment: Production, tier: low }\n  - { tier: low }');
    const reloaded = await reload(ambiguous);
    try {
      expectProblem(reloaded, 422, 'invalid-request');
      expect(reloaded.body.detail).toContain('rules[1].environment: "Production" and "production" (rules[0].environment) are the same environment');
      // The policy in force stays: PRODUCTION still gets production's tier.
      const still = await http.post('/v1/deployments', ci.token, deploymentBody({ environment: 'PRODUCTION' }));
      expect(still.body).toMatchObject({ environment: 'production', tier: 'high' });

      // And at start-up: loading the file refuses it.
      const file = path.join(harness.dir, 'ambiguous.yaml');
      writeFileSync(file, ambiguous);
      expect(() => loadPolicy(file, {})).toThrow(PolicyError);
      expect(() => loadPolicy(file, {})).toThrow(/rules\[1\]\.environment/);
    } finally {
      await reload(POLICY);
    }
  });
});
