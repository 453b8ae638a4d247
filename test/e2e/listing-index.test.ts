// The listing (`GET /v1/deployments`) at 10,000 rows: for every combination of its filters,
// PostgreSQL answers from an index (database/migrations/1765000000000-deployment-listing-indexes.ts),
// never by reading the whole table, and the page is the one the filters describe. The plan is
// checked, not a time: speed claims come from `npm run bench`.

import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../database/data-source';
import { type DeploymentListFilter, DeploymentIndex, type IndexReader } from '../../database/deployment-index';
import type { DeploymentStatus } from '../../policy/types';
import { adminQuery, databaseUrlFor } from '../support/servers';

const ROWS = 10_000;
const PAGE = 50;

let db: DataSource;
let database: string;
let index: DeploymentIndex;

/** What each seeded row is, to compute each page independently of the database. */
interface Seeded {
  id: string;
  at: number;
  service: string;
  environment: string;
  status: DeploymentStatus;
  requestedBy: string;
  overridden: boolean;
  reviewOverdue: boolean;
}
let seeded: Seeded[] = [];

const STATUSES: DeploymentStatus[] = ['PENDING', 'PENDING', 'PENDING', 'PENDING', 'DEPLOYED', 'DEPLOYED', 'DEPLOYED', 'REJECTED', 'EXPIRED', 'CANCELLED'];
const BASE = Date.parse('2025-01-01T00:00:00Z');

/**
 * Row i: 20 services, each requested by one of 10 pipelines, in two environments; 40% PENDING;
 * one in 50 overridden, of which some reviewed, some with the review overdue, some still due.
 */
function row(i: number): Seeded & { override?: object } {
  const service = `svc-${i % 20}`;
  const overridden = i % 50 === 7;
  const kind = Math.floor(i / 50) % 4; // 0: reviewed, 1 and 2: overdue, 3: due, not yet overdue
  const override = overridden
    ? { by: 'admin', at: '2025-01-01T00:00:00Z', reason: 'incident', approvalsAtOverride: 0, reviewDueBy: '2025-01-02T00:00:00Z', reviewOverdue: kind === 1 || kind === 2 || (kind === 0 && i % 3 === 0), ...(kind === 0 ? { review: { by: 'carol', at: '2025-01-01T01:00:00Z', late: false } } : {}) }
    : undefined;
  return {
    // Ties in time on purpose (two rows a second): the cursor's id breaks them.
    id: `${String(i).padStart(5, '0')}-${randomBytes(3).toString('hex')}`,
    at: BASE + Math.floor(i / 2) * 1000,
    service,
    environment: i % 3 === 0 ? 'production' : 'staging',
    status: STATUSES[(i * 7) % STATUSES.length],
    requestedBy: `pipe-${i % 10}`,
    overridden,
    reviewOverdue: overridden && override!.reviewOverdue && !('review' in override!),
    override,
  };
}

beforeAll(async () => {
  const server = process.env.COUNTERSIGN_TEST_PG!;
  database = `countersign_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(server, `CREATE DATABASE ${database} TEMPLATE ${process.env.COUNTERSIGN_TEST_TEMPLATE}`);
  db = await openDatabase(databaseUrlFor(server, database), { poolSize: 2 });
  index = new DeploymentIndex(db);
  const rows = Array.from({ length: ROWS }, (_, i) => row(i));
  seeded = rows.map(({ override: _, ...rest }) => rest);
  // One statement for all rows: the rows as JSON, expanded by PostgreSQL.
  await db.query(
    `INSERT INTO deployments (id, workflow_id, service, environment, status, tier, requested_by, artifact_digest, requested_at, version, view)
     SELECT r->>'id', 'deployment-' || (r->>'id'), r->>'service', r->>'environment', r->>'status', 'low', r->>'requestedBy',
            'sha256:' || repeat('a', 64), to_timestamp((r->>'at')::bigint / 1000.0), 1,
            jsonb_strip_nulls(jsonb_build_object('id', r->>'id', 'status', r->>'status', 'service', r->>'service',
              'environment', r->>'environment', 'approvals', '[]'::jsonb, 'refused', '[]'::jsonb, 'override', r->'override'))
     FROM jsonb_array_elements($1::jsonb) AS r`,
    [JSON.stringify(rows)],
  );
  await db.query('ANALYZE deployments');
}, 60_000);

afterAll(async () => {
  await db?.destroy();
  if (database) await adminQuery(process.env.COUNTERSIGN_TEST_PG!, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
});

type PlanNode = {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
};
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

/** The rows (or index entries) the scans of a plan read: what a page costs, whatever its time. */
function rowsRead(plan: PlanNode[]): number {
  return plan
    .filter((node) => ['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Index Scan'].includes(node['Node Type']))
    .reduce((sum, node) => sum + (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'], 0);
}

/** A page of 50 may read this many rows at most: a fifth of the table, where reading it all is 10,000. */
const MOST_ROWS_READ = ROWS / 5;

/** Every combination of the listing's filters, for an approver (reads all) and for a pipeline. */
function combinations(): Array<{ reader: IndexReader; filter: DeploymentListFilter; name: string }> {
  const middle = [...seeded].sort(newestFirst)[ROWS / 2];
  const before = { at: new Date(middle.at).toISOString(), id: middle.id };
  const out: Array<{ reader: IndexReader; filter: DeploymentListFilter; name: string }> = [];
  for (const reader of [{ id: 'carol', readsAll: true }, { id: 'pipe-3', readsAll: false }])
    for (const service of [undefined, 'svc-3'])
      for (const environment of [undefined, 'staging'])
        for (const status of [undefined, 'PENDING', 'DEPLOYED'] as const)
          for (const overridden of [undefined, true, false])
            for (const reviewOverdue of [undefined, true])
              for (const cursor of [undefined, before]) {
                const filter: DeploymentListFilter = { service, environment, status, overridden, reviewOverdue, before: cursor, limit: PAGE };
                const name = JSON.stringify({ reader: reader.id, service, environment, status, overridden, reviewOverdue, before: cursor ? 'cursor' : undefined });
                out.push({ reader, filter, name });
              }
  return out;
}

function newestFirst(a: Seeded, b: Seeded): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The page the filters describe, computed from the seeded rows. */
function expectedPage(reader: IndexReader, filter: DeploymentListFilter): string[] {
  return seeded
    .filter((r) => reader.readsAll || r.requestedBy === reader.id)
    .filter((r) => !filter.service || r.service === filter.service)
    .filter((r) => !filter.environment || r.environment === filter.environment)
    .filter((r) => !filter.status || r.status === filter.status)
    .filter((r) => filter.overridden === undefined || r.overridden === filter.overridden)
    .filter((r) => !filter.reviewOverdue || r.reviewOverdue)
    .filter((r) => !filter.before || r.at < Date.parse(filter.before.at) || (r.at === Date.parse(filter.before.at) && r.id < filter.before.id))
    .sort(newestFirst)
    .slice(0, filter.limit)
    .map((r) => r.id);
}

describe('the listing at 10,000 rows', () => {
  it('computes overridden and reviewOverdue from the view itself, as the filters on the view did', async () => {
    const [counts] = (await db.query(`
      SELECT count(*) FILTER (WHERE overridden IS DISTINCT FROM (view ? 'override'))::int AS overridden_differs,
             count(*) FILTER (WHERE review_overdue IS DISTINCT FROM COALESCE((view->'override'->>'reviewOverdue') = 'true' AND NOT (view->'override' ? 'review'), false))::int AS overdue_differs,
             count(*) FILTER (WHERE overridden)::int AS overridden, count(*) FILTER (WHERE review_overdue)::int AS overdue
      FROM deployments`)) as Array<Record<string, number>>;
    expect(counts).toEqual({
      overridden_differs: 0,
      overdue_differs: 0,
      overridden: seeded.filter((r) => r.overridden).length,
      overdue: seeded.filter((r) => r.reviewOverdue).length,
    });
    expect(counts.overdue).toBeGreaterThan(0);
    // A later snapshot moves them: the columns follow the view as the index writer stores it.
    const reviewed = seeded.find((r) => r.reviewOverdue)!;
    await db.query(`UPDATE deployments SET view = jsonb_set(view, '{override,review}', '{"by":"dave","at":"2025-01-03T00:00:00Z","late":true}') WHERE id = $1`, [reviewed.id]);
    const [after] = (await db.query(`SELECT overridden, review_overdue FROM deployments WHERE id = $1`, [reviewed.id])) as Array<Record<string, boolean>>;
    expect(after).toEqual({ overridden: true, review_overdue: false });
    reviewed.reviewOverdue = false;
  });

  it('reads every combination of filters through an index, a fraction of the table at most, and answers the page they describe', async () => {
    const all = combinations();
    expect(all.length).toBe(288);
    const unindexed: string[] = [];
    const wrong: string[] = [];
    const reads: Array<{ name: string; read: number; ms: number }> = [];
    for (const { reader, filter, name } of all) {
      const [sql, parameters] = index.listQuery(reader, filter).getQueryAndParameters();
      const [{ 'QUERY PLAN': [explained] }] = (await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, parameters)) as Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>;
      const plan = nodes(explained.Plan);
      const scans = plan.filter((node) => node['Relation Name'] === 'deployments' || node['Index Name']?.startsWith('deployments'));
      const indexed = scans.some((node) => ['Index Scan', 'Index Only Scan', 'Bitmap Index Scan'].includes(node['Node Type']));
      const read = rowsRead(plan);
      if (process.env.LISTING_PLANS) reads.push({ name, read, ms: explained['Execution Time'] });
      if (!indexed || plan.some((node) => node['Node Type'] === 'Seq Scan') || read > MOST_ROWS_READ) {
        unindexed.push(`${name}: reads ${read} rows: ${plan.map((node) => node['Node Type'] + (node['Index Name'] ? ` ${node['Index Name']}` : '')).join(' > ')}`);
      }
      const page = await index.list(reader, filter);
      if (JSON.stringify(page.rows.map((r) => r.id)) !== JSON.stringify(expectedPage(reader, filter))) wrong.push(name);
    }
    if (process.env.LISTING_PLANS) {
      const worst = [...reads].sort((a, b) => b.read - a.read).slice(0, 8);
      process.stderr.write(`most rows read:\n${worst.map((r) => `  ${r.read} rows ${r.ms.toFixed(2)} ms ${r.name}`).join('\n')}\n` +
        `slowest: ${Math.max(...reads.map((r) => r.ms)).toFixed(2)} ms\n`);
    }
    expect(unindexed).toEqual([]);
    expect(wrong).toEqual([]);
  }, 60_000);

  it('pages through every row once, newest first, with the keyset cursor', async () => {
    const seen: string[] = [];
    let before: DeploymentListFilter['before'];
    for (;;) {
      const page = await index.list({ id: 'carol', readsAll: true }, { status: 'PENDING', before, limit: 200 });
      seen.push(...page.rows.map((r) => r.id));
      if (!page.more) break;
      before = { at: new Date(page.more.requestedAt).toISOString(), id: page.more.id };
    }
    expect(seen).toEqual(expectedPage({ id: 'carol', readsAll: true }, { status: 'PENDING', limit: ROWS }));
  });
});
