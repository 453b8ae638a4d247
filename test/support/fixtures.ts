// The people and requests the end-to-end tests use.

import { createHash, randomBytes } from 'node:crypto';
import { type Harness, startCountersign } from './harness';
import { Http } from './http';

export const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
export const commitOf = (text: string) => createHash('sha1').update(text).digest('hex');

export interface Person {
  id: string;
  token: string;
}

export async function createPrincipal(
  http: Http,
  adminToken: string,
  body: { id: string; roles: string[]; emails?: string[]; logins?: string[]; subjects?: string[]; groups?: string[]; scopes?: unknown[] },
): Promise<Person> {
  const response = await http.post('/v1/principals', adminToken, { displayName: body.id, ...body });
  if (response.status !== 201) throw new Error(`creating ${body.id}: ${response.status} ${JSON.stringify(response.body)}`);
  return { id: body.id, token: response.body.token };
}

export type Cast = Awaited<ReturnType<typeof standardCast>>;

/**
 * Countersign on the default policy, with the standard cast, started before the file's tests and
 * closed after them; `started` receives both once they run.
 */
export function useStandardCast(started: (harness: Harness, cast: Cast) => void): void {
  let harness: Harness | undefined;
  beforeAll(async () => {
    harness = await startCountersign();
    started(harness, await standardCast(harness));
  });
  afterAll(async () => {
    await harness?.close();
  });
}

/** A pipeline, an author who is also an approver, and approvers in the tiers' groups. */
export async function standardCast(harness: Harness) {
  const http = new Http(harness.url);
  const admin = harness.adminToken;
  const [ci, otherCi, alice, bob, carol, dave, erin] = await Promise.all([
    createPrincipal(http, admin, { id: 'ci', roles: ['pipeline'] }),
    createPrincipal(http, admin, { id: 'other-ci', roles: ['pipeline'] }),
    createPrincipal(http, admin, { id: 'alice', roles: ['approver'], emails: ['alice@example.com'], logins: ['alice-gh'] }),
    createPrincipal(http, admin, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'] }),
    createPrincipal(http, admin, { id: 'carol', roles: ['approver'], emails: ['carol@example.com'], groups: ['security'] }),
    createPrincipal(http, admin, { id: 'dave', roles: ['approver'], emails: ['dave@example.com'], groups: ['sre'] }),
    createPrincipal(http, admin, { id: 'erin', roles: ['approver'], emails: ['erin@example.com'] }),
  ]);
  return { http, admin, ci, otherCi, alice, bob, carol, dave, erin };
}

export function deploymentBody(overrides: Record<string, unknown> = {}) {
  const seed = randomBytes(8).toString('hex');
  return {
    service: 'web',
    environment: 'production',
    artifact: { name: `registry.example.com/web:${seed}`, digest: digestOf(seed) },
    change: { commit: commitOf(seed), authors: ['alice@example.com'], summary: 'a change', url: 'https://git.example.com/web/pull/1' },
    ...overrides,
  };
}

/** Polls a deployment until its status is one of `statuses` (the deploy runs after the answer). */
export async function waitForStatus(http: Http, token: string, id: string, statuses: string[], timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await http.get(`/v1/deployments/${id}`, token)).body;
    if (statuses.includes(last?.status)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`deployment ${id} stayed ${last?.status}, expected ${statuses.join(' or ')}: ${JSON.stringify(last)}`);
}

/** Polls until `check` holds (the audit trail and index are written just behind the gate). */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}
