// One way to reach PostgreSQL: TypeORM's entities, repositories and query builder. SQL strings
// stay only where TypeORM has no expression (migrations, advisory locks, a readiness ping), each
// with its reason beside it; this test keeps it so.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEPLOYMENT_WORKFLOW } from '../../api/deployments/gate-client';

const root = path.resolve(__dirname, '..', '..');
const FOLDERS = ['api', 'activities', 'database', 'cli', 'evidence', 'worker', 'settings'];

/** Where a SQL string may be run directly, and why. */
const ALLOWED: Record<string, string> = {
  'database/data-source.ts': 'a session advisory lock around the migrations',
  'database/audit-trail.ts': 'a transaction advisory lock that serialises appends to the hash chain, and one read of the chain\'s end',
  'database/deploy-runs.ts': 'an upsert that counts a run (increments a column), which TypeORM\'s upsert cannot express',
  'api/health/health.controller.ts': 'the readiness ping',
  'api/deployments/deployment-events.ts': 'LISTEN on the channel the listing index\'s trigger notifies (TypeORM has no LISTEN)',
};

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(full);
    }
  };
  walk(path.join(root, folder));
  return found;
}

describe('data access', () => {
  it('runs SQL strings only in migrations and where TypeORM has no expression for them', () => {
    const offences: string[] = [];
    for (const folder of FOLDERS) {
      for (const file of sourceFiles(folder)) {
        const relative = path.relative(root, file).split(path.sep).join('/');
        if (relative.startsWith('database/migrations/') || ALLOWED[relative]) continue;
        const text = readFileSync(file, 'utf8');
        // `.query('…')` with a string: SQL. A Temporal query passes a definition instead.
        for (const match of text.matchAll(/\.query\(\s*[`'"]/g)) {
          offences.push(`${relative}:${text.slice(0, match.index).split('\n').length}`);
        }
      }
    }
    expect(offences).toEqual([]);
  });

  it('starts the deployment workflow by a name the worker registers', () => {
    // The compiler checks the name against workflows/index.ts; this checks it at run time too.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const workflows = require('../../workflows') as Record<string, unknown>;
    expect(typeof workflows[DEPLOYMENT_WORKFLOW]).toBe('function');
  });
});
