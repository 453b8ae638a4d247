// One identity, one person, under concurrent writes. A check-then-write let twenty concurrent
// requests give one email to several principals, and two such principals filled a two-person
// quorum. PostgreSQL now decides (principal_identities.key is a primary key); the losers get
// 409 problem+json naming the identity and who holds it.
// HTTP API, real PostgreSQL, real Temporal, real worker.

import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { MIGRATIONS, openDatabase } from '../../database/data-source';
import { PrincipalIdentities1764900000000 } from '../../database/migrations/1764900000000-principal-identities';
import { identitySkeleton } from '../../policy/confusables';
import { canonicalEmail } from '../../policy/identity';
import { type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, type Person } from '../support/fixtures';
import { Http, type HttpResponse } from '../support/http';
import { ADMIN_DATABASE_URL, adminQuery, databaseUrlFor } from '../support/servers';

let harness: Harness;
let http: Http;
let admin: string;
let ci: Person;

beforeAll(async () => {
  harness = await startCountersign();
  http = new Http(harness.url);
  admin = harness.adminToken;
  ci = await createPrincipal(http, admin, { id: 'ci', roles: ['pipeline'] });
});

afterAll(async () => {
  await harness?.close();
});

const N = 20;

function expectProblem(response: HttpResponse, status: number, slug: string) {
  expect(response.status).toBe(status);
  expect(response.contentType).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status, type: `https://countersign.dev/problems/${slug}` });
  expect(typeof response.body.detail).toBe('string');
}

async function principalsClaiming(email: string): Promise<string[]> {
  const { body } = await http.get('/v1/principals', admin);
  return (body.principals as Array<{ id: string; emails: string[] }>)
    .filter((principal) => principal.emails.some((own) => canonicalEmail(own) === email))
    .map((principal) => principal.id);
}

describe('one identity names one principal, whatever the timing', () => {
  it('gives one email to exactly one of 20 concurrent creates; the rest get 409 identity-taken', async () => {
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        http.post('/v1/principals', admin, { id: `twin-${i}`, roles: ['approver'], emails: [i % 2 ? 'Twin@Example.com' : 'twin+ci@example.com'] }),
      ),
    );
    const created = responses.filter((response) => response.status === 201);
    expect(created).toHaveLength(1);
    const winner = created[0].body.id as string;
    for (const response of responses.filter((r) => r.status !== 201)) {
      expectProblem(response, 409, 'identity-taken');
      // Names the identity and, for the admin asking, the principal that holds it.
      expect(response.body.detail).toMatch(/twin/i);
      expect(response.body.detail).toContain(`principal ${winner}`);
      expect(response.body.identities).toContainEqual(expect.objectContaining({ key: 'email:twin@example.com', principal: winner }));
    }
    expect(await principalsClaiming('twin@example.com')).toEqual([winner]);
    // The losers were not created half-way: no principal, no token.
    for (let i = 0; i < N; i++) {
      if (`twin-${i}` !== winner) expect((await http.get(`/v1/principals/twin-${i}`, admin)).status).toBe(404);
    }
  });

  it('lets exactly one of 20 concurrent PATCHes add one email to different principals', async () => {
    await Promise.all(
      Array.from({ length: N }, (_, i) => createPrincipal(http, admin, { id: `patcher-${i}`, roles: ['approver'], emails: [`patcher-${i}@example.com`] })),
    );
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        http.request('PATCH', `/v1/principals/patcher-${i}`, {
          token: admin,
          body: { emails: [`patcher-${i}@example.com`, 'shared@example.com'] },
        }),
      ),
    );
    const ok = responses.filter((response) => response.status === 200);
    expect(ok).toHaveLength(1);
    for (const response of responses.filter((r) => r.status !== 200)) expectProblem(response, 409, 'identity-taken');
    expect(await principalsClaiming('shared@example.com')).toEqual([ok[0].body.id]);
    // The losers kept what they had.
    const loser = responses.findIndex((response) => response.status === 409);
    expect((await http.get(`/v1/principals/patcher-${loser}`, admin)).body.emails).toEqual([`patcher-${loser}@example.com`]);
  });

  it('answers one 201 and 409 principal-exists, never a 500, to 20 concurrent creates of one id', async () => {
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) => http.post('/v1/principals', admin, { id: 'same-id', roles: ['approver'], logins: [`same-id-${i}`] })),
    );
    expect(responses.filter((response) => response.status === 201)).toHaveLength(1);
    for (const response of responses.filter((r) => r.status !== 201)) expectProblem(response, 409, 'principal-exists');
    // The winner holds its login in the identities table; the losers' logins are free again.
    const free = await http.post('/v1/principals', admin, {
      id: 'after-same-id',
      roles: ['approver'],
      logins: responses.map((response, i) => (response.status === 201 ? undefined : `same-id-${i}`)).filter(Boolean),
    });
    expect(free.status).toBe(201);
  });

  it('moves an identity between principals when the holder gives it up first', async () => {
    await createPrincipal(http, admin, { id: 'mover-a', roles: ['approver'], emails: ['mover@example.com'] });
    await createPrincipal(http, admin, { id: 'mover-b', roles: ['approver'] });
    expectProblem(
      await http.request('PATCH', '/v1/principals/mover-b', { token: admin, body: { emails: ['MOVER@example.com'] } }),
      409,
      'identity-taken',
    );
    expect((await http.request('PATCH', '/v1/principals/mover-a', { token: admin, body: { emails: [] } })).status).toBe(200);
    expect((await http.request('PATCH', '/v1/principals/mover-b', { token: admin, body: { emails: ['MOVER@example.com'] } })).status).toBe(200);
    // A principal re-saving its own identities is no conflict.
    expect((await http.request('PATCH', '/v1/principals/mover-b', { token: admin, body: { emails: ['mover@example.com'], displayName: 'B' } })).status).toBe(200);
  });

  it('refuses a second principal whose login or subject is already claimed, in any spelling', async () => {
    await createPrincipal(http, admin, { id: 'holder', roles: ['approver'], logins: ['holder-gh'], subjects: ['sso|holder'] });
    for (const body of [{ logins: ['@Holder-GH'] }, { logins: ['ｈｏｌｄｅｒ-gh'] }, { subjects: ['sso|holder'] }, { emails: ['holder-gh@users.noreply.github.com'] }]) {
      const response = await http.post('/v1/principals', admin, { id: 'holder-2', roles: ['approver'], ...body });
      expectProblem(response, 409, 'identity-taken');
      expect(response.body.detail).toContain('principal holder');
    }
  });

  it('refuses a principal whose login is a Cyrillic or Greek look-alike of another\'s (UTS #39)', async () => {
    await createPrincipal(http, admin, { id: 'olga', roles: ['approver'], emails: ['olga@example.com'], logins: ['olga'] });
    for (const login of ['\u043Elga' /* Cyrillic о */, '\u03BFlga' /* Greek ο */, '0lga']) {
      const response = await http.post('/v1/principals', admin, { id: 'olga-2', roles: ['approver'], logins: [login] });
      expectProblem(response, 409, 'identity-taken');
      expect(response.body.detail).toContain(`login ${login} looks like an identity of principal olga`);
    }
  });

  it('is a database constraint: PostgreSQL itself refuses a second claim of one identity', async () => {
    await createPrincipal(http, admin, { id: 'dbcheck', roles: ['approver'], emails: ['dbcheck@example.com'] });
    await createPrincipal(http, admin, { id: 'dbcheck-2', roles: ['approver'] });
    await expect(
      harness.dataSource.query(`INSERT INTO principal_identities (key, principal_id) VALUES ('email:dbcheck@example.com', 'dbcheck-2')`),
    ).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '23505' }) });
  });

  it('cannot fill a two-person quorum with one person\'s two principals after a race', async () => {
    // The race that used to create two principals for one email, then both approving.
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) => http.post('/v1/principals', admin, { id: `quorum-${i}`, roles: ['approver'], emails: ['quorum@example.com'] })),
    );
    const tokens = responses.filter((response) => response.status === 201).map((response) => response.body.token as string);
    expect(tokens).toHaveLength(1);
    const body = deploymentBody({ change: { ...deploymentBody().change, authors: ['someone@example.com'] } });
    const deployment = (await http.post('/v1/deployments', ci.token, body)).body;
    const approved = await http.post(`/v1/deployments/${deployment.id}/approvals`, tokens[0], { digest: body.artifact.digest });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('PENDING');
  });
});

describe('the migration that makes identities unique', () => {
  it('backfills every principal\'s keys and skeletons; of two that already share an email, the older keeps it', async () => {
    const name = `countersign_mig_${randomBytes(6).toString('hex')}`;
    await adminQuery(ADMIN_DATABASE_URL, `CREATE DATABASE ${name}`);
    const url = databaseUrlFor(ADMIN_DATABASE_URL, name);
    try {
      // The schema as it was before, with the duplicate the check-then-write let through.
      const before = new DataSource({ type: 'postgres', url, migrations: MIGRATIONS.slice(0, MIGRATIONS.indexOf(PrincipalIdentities1764900000000)) });
      await before.initialize();
      await before.runMigrations();
      await before.query(`INSERT INTO principals (id, display_name, emails, logins, identity_keys, roles, created_at)
        VALUES ('older', 'Older', '{dup@example.com}', '{older-gh}', '{email:dup@example.com,login:older-gh}', '{approver}', now() - interval '1 hour'),
               ('newer', 'Newer', '{Dup@Example.com}', '{}', '{email:dup@example.com}', '{approver}', now())`);
      await before.destroy();

      const after = await openDatabase(url, { poolSize: 2 });
      try {
        const rows = (await after.query(`SELECT key, principal_id FROM principal_identities ORDER BY key`)) as Array<{ key: string; principal_id: string }>;
        expect(rows).toEqual([
          { key: 'email:dup@example.com', principal_id: 'older' },
          { key: 'login:older-gh', principal_id: 'older' },
          { key: `skeleton:email:${identitySkeleton('dup@example.com')}`, principal_id: 'older' },
          { key: `skeleton:login:${identitySkeleton('older-gh')}`, principal_id: 'older' },
        ].sort((a, b) => a.key.localeCompare(b.key)));
        // The newer keeps the key where authors are compared: both stay excluded until an admin fixes it.
        const [newer] = (await after.query(`SELECT identity_keys FROM principals WHERE id = 'newer'`)) as Array<{ identity_keys: string[] }>;
        expect(newer.identity_keys).toContain('email:dup@example.com');
      } finally {
        await after.destroy();
      }
    } finally {
      await adminQuery(ADMIN_DATABASE_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
