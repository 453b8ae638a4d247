// People, not strings: however a change spells its author, the author is refused.
// HTTP API, real Temporal, real PostgreSQL, real worker.

import { type Harness, startCountersign } from '../support/harness';
import { createPrincipal, deploymentBody, eventually, type Person } from '../support/fixtures';
import { Http } from '../support/http';

let harness: Harness;
let http: Http;
let admin: string;
let ci: Person;
let alice: Person;
let bob: Person;
let carol: Person;

beforeAll(async () => {
  harness = await startCountersign();
  http = new Http(harness.url);
  admin = harness.adminToken;
  [ci, alice, bob, carol] = await Promise.all([
    createPrincipal(http, admin, { id: 'ci', roles: ['pipeline'] }),
    createPrincipal(http, admin, {
      id: 'alice',
      roles: ['approver'],
      emails: ['alice@example.com'],
      logins: ['alice-gh'],
      subjects: ['sso|alice'],
    }),
    createPrincipal(http, admin, { id: 'bob', roles: ['approver'], emails: ['bob@example.com'] }),
    createPrincipal(http, admin, { id: 'carol', roles: ['approver'], emails: ['carol@example.com'] }),
  ]);
});

afterAll(async () => {
  await harness?.close();
});

/** Requests a production (high tier) deployment of a change with these authors. */
async function request(change: { authors: string[]; requestedBy?: string }) {
  const body = deploymentBody();
  const response = await http.post('/v1/deployments', ci.token, { ...body, change: { ...body.change, ...change } });
  expect(response.status).toBe(201);
  return response.body as { id: string; artifact: { digest: string } };
}

async function approve(person: Person, deployment: { id: string; artifact: { digest: string } }) {
  return http.post(`/v1/deployments/${deployment.id}/approvals`, person.token, { digest: deployment.artifact.digest });
}

function expectAuthorRefusal(response: { status: number; contentType: string; body: any }) {
  expect(response.status).toBe(403);
  expect(response.contentType).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status: 403, reason: 'AUTHOR' });
  expect(response.body.detail).toContain('alice');
  // A refused attempt changes no count.
  expect(response.body.deployment.approvals).toEqual([]);
}

describe('alice is refused however the change spells her', () => {
  it.each<[string, string]>([
    ['upper case', 'ALICE@EXAMPLE.COM'],
    ['surrounding spaces', '   alice@example.com  '],
    ['fullwidth letters (NFKC)', 'ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
    ['name and address', 'Alice <alice@example.com>'],
    ['a Co-authored-by trailer', 'Co-authored-by: Alice <alice@example.com>'],
    ['her GitHub noreply address', '12345+alice-gh@users.noreply.github.com'],
    ['her login', 'alice-gh'],
    ['her @login', '@alice-gh'],
    ['a sub-address', 'alice+ci@example.com'],
    ['zero-width characters', 'al\u200Bi\u200Dce@exam\u200Cple.com\uFEFF'],
  ])('%s: %j', async (_label, spelling) => {
    const deployment = await request({ authors: [spelling] });
    expectAuthorRefusal(await approve(alice, deployment));
    // Someone else still can: the change is gated, not blocked.
    const other = await approve(bob, deployment);
    expect(other.status).toBe(200);
    expect(other.body.approvals.map((a: any) => a.approver)).toEqual(['bob']);
  });
});

describe('who else is excluded', () => {
  it('refuses alice when she triggered the pipeline (change.requestedBy)', async () => {
    const deployment = await request({ authors: ['bob@example.com'], requestedBy: 'Alice@Example.com' });
    expectAuthorRefusal(await approve(alice, deployment));
    expect((await approve(carol, deployment)).status).toBe(200);
  });

  it('refuses a co-author listed only as a trailer among several authors', async () => {
    const deployment = await request({
      authors: ['bob@example.com', 'Carol <carol@example.com>', 'Co-authored-by: Alice Liddell <alice+pair@example.com>'],
    });
    expectAuthorRefusal(await approve(alice, deployment));
    const bobTries = await approve(bob, deployment);
    expect(bobTries.status).toBe(403);
    expect(bobTries.body.reason).toBe('AUTHOR');
  });

  it('refuses a co-author inside a block of several trailers in one entry', async () => {
    const deployment = await request({
      authors: [
        'bob@example.com',
        'Co-authored-by: Alice <alice@example.com>\nCo-authored-by: Dan <dan@example.com>',
      ],
    });
    expectAuthorRefusal(await approve(alice, deployment));
    // carol is no author and may approve.
    expect((await approve(carol, deployment)).status).toBe(200);
  });

  it('refuses a principal created after the request that claims an author\'s email', async () => {
    // Nobody claims zed@example.com when the change is requested...
    const deployment = await request({ authors: ['zed@example.com'] });
    // ...then an account is created for that address.
    const zed = await createPrincipal(http, admin, { id: 'zed', roles: ['approver'], emails: ['Zed@Example.com'] });
    const response = await approve(zed, deployment);
    expect(response.status).toBe(403);
    expect(response.body.reason).toBe('AUTHOR');
    expect(response.body.detail).toContain('zed');
  });

  it('refuses a principal that later adds an author\'s login to its identities', async () => {
    const deployment = await request({ authors: ['@yvonne-gh'] });
    const yvonne = await createPrincipal(http, admin, { id: 'yvonne', roles: ['approver'], emails: ['yvonne@example.com'] });
    const patched = await http.request('PATCH', '/v1/principals/yvonne', { token: admin, body: { logins: ['Yvonne-GH'] } });
    expect(patched.status).toBe(200);
    const response = await approve(yvonne, deployment);
    expect(response.status).toBe(403);
    expect(response.body.reason).toBe('AUTHOR');
  });

  it('still refuses an author after an admin strips her identities from the directory', async () => {
    const mallet = await createPrincipal(http, admin, { id: 'mallet', roles: ['approver'], emails: ['mallet@example.com'], logins: ['mallet-gh'] });
    const mine = await request({ authors: ['mallet@example.com', '@mallet-gh'] });
    const stripped = await http.request('PATCH', '/v1/principals/mallet', { token: admin, body: { emails: ['other@example.com'], logins: ['other-gh'] } });
    expect(stripped.status).toBe(200);
    // She was resolved to her principal when the change was requested: no edit since undoes that.
    const response = await approve(mallet, mine);
    expect(response.status).toBe(403);
    expect(response.body.reason).toBe('AUTHOR');
    expect(response.body.detail).toContain('mallet');
    // The edit is on the record.
    const events = await eventually(
      async () => (await http.get('/v1/audit?type=principal.updated', admin)).body.events as any[],
      (list) => list.some((event) => event.data?.id === 'mallet'),
    );
    expect(events).toContainEqual(expect.objectContaining({ actor: 'admin', data: expect.objectContaining({ id: 'mallet' }) }));
  });

  it('keeps every refusal in the audit trail', async () => {
    const deployment = await request({ authors: ['Co-authored-by: A <ALICE+x@example.com>'] });
    await approve(alice, deployment);
    const events = await eventually(
      async () => (await http.get(`/v1/audit?deployment=${deployment.id}`, admin)).body.events as any[],
      (list) => list.some((event) => event.type === 'approval.refused'),
    );
    expect(events).toContainEqual(expect.objectContaining({ type: 'approval.refused', actor: 'alice', outcome: 'refused', reason: 'AUTHOR' }));
  });
});

describe('an author entry that names several people excludes every one of them', () => {
  it.each<[string, string]>([
    ['two name-addresses, Alice first', 'Alice <alice@example.com>, Zed <zed@example.com>'],
    ['two name-addresses, Alice last', 'Zed <zed@example.com>, Alice <alice@example.com>'],
    ['semicolon separated', 'zed@example.com; alice@example.com'],
    ['a bare address beside a name-address', 'Zed <zed@example.com> alice@example.com'],
    ['an address in the display name', '"alice@example.com" <zed@example.com>'],
    ['a trailer naming two people', 'Co-authored-by: Zed <zed@example.com>, Alice <alice@example.com>'],
  ])('refuses alice when she is one of several people in one entry: %s', async (_label, entry) => {
    const deployment = await request({ authors: [entry] });
    expectAuthorRefusal(await approve(alice, deployment));
    expect((await approve(bob, deployment)).status).toBe(200);
  });
});

describe('a look-alike spelling of an author excludes the real person (UTS #39)', () => {
  it.each<[string, string]>([
    ['Cyrillic а in her email', '\u0430lice@example.com'],
    ['Cyrillic А, upper case', '\u0410LICE@EXAMPLE.COM'],
    ['Greek ο in her domain', 'alice@example.c\u03BFm'],
    ['Greek α in a name-address', 'Alice <\u03B1lice@example.com>'],
    ['Cyrillic е in a trailer', 'Co-authored-by: Alice <alic\u0435@example.com>'],
    ['Cyrillic і in her login', '@al\u0456ce-gh'],
    ['Cyrillic а in her GitHub noreply address', '12345+\u0430lice-gh@users.noreply.github.com'],
    ['digit one for l', 'a1ice@example.com'],
  ])('refuses alice when the change names her as %s', async (_label, spelling) => {
    const deployment = await request({ authors: [spelling] });
    expectAuthorRefusal(await approve(alice, deployment));
    expect((await approve(bob, deployment)).status).toBe(200);
  });

  it('refuses a principal created after the request whose email an author spelled with look-alike letters', async () => {
    // Nobody claims the spoof when the change is requested: only the approver's own keys can match it.
    const deployment = await request({ authors: ['yur\u0456@example.com'] });
    const yuri = await createPrincipal(http, admin, { id: 'yuri', roles: ['approver'], emails: ['yuri@example.com'] });
    const response = await approve(yuri, deployment);
    expect(response.status).toBe(403);
    expect(response.body.reason).toBe('AUTHOR');
  });

  it('refuses alice when the pipeline was triggered by a look-alike of her', async () => {
    const deployment = await request({ authors: ['bob@example.com'], requestedBy: '\u0430lice@example.com' });
    expectAuthorRefusal(await approve(alice, deployment));
    expect((await approve(carol, deployment)).status).toBe(200);
  });
});
