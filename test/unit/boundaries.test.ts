// The folder tree says what runs in production: nothing under the production folders may reach
// into `local/` (the dev servers behind `npm start`), so a deployment never depends on code
// written for one machine. Imports are read with the TypeScript compiler's own pre-processor.
// And one module reads the environment: settings/settings.ts, validated, with its defaults.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');

/** What `npm run api`, `npm run worker` and the `countersign` command run (and the docker image ships). */
const PRODUCTION_FOLDERS = ['api', 'worker', 'activities', 'database', 'evidence', 'settings', 'policy', 'workflows', 'cli'];
const DEV_ONLY_FOLDERS = ['local', 'test', 'bench'];

function sourceFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(full);
    }
  };
  walk(path.join(root, folder));
  return found;
}

function relativeImports(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName).filter((name) => name.startsWith('.'));
}

describe('production code does not import dev-server code', () => {
  it('finds the production folders and their files', () => {
    for (const folder of PRODUCTION_FOLDERS) expect(sourceFiles(folder).length).toBeGreaterThan(0);
  });

  it('refuses an import of local/, test/ or bench/ from any production folder', () => {
    const offences: string[] = [];
    for (const folder of PRODUCTION_FOLDERS) {
      for (const file of sourceFiles(folder)) {
        for (const spec of relativeImports(file)) {
          const target = path.relative(root, path.resolve(path.dirname(file), spec));
          const top = target.split(path.sep)[0];
          if (DEV_ONLY_FOLDERS.includes(top)) offences.push(`${path.relative(root, file)} imports ${spec}`);
        }
      }
    }
    expect(offences).toEqual([]);
  });

  it('would notice such an import (the scanner reads import, export-from and require)', () => {
    const info = ts.preProcessFile(
      "import { a } from '../local/start';\nexport * from '../local/x';\nconst y = require('../local/y');",
      true,
      true,
    );
    expect(info.importedFiles.map((f) => f.fileName)).toEqual(['../local/start', '../local/x', '../local/y']);
  });
});

/**
 * Where production code may name `process.env`: the settings module, and the two places that hand
 * the worker's environment on to a child process (deploy commands need PATH, HOME, credentials
 * they name themselves; git needs PATH and SSH_AUTH_SOCK) without reading any of it.
 * The CLI (cli/) is a separate program run by people; its one reader is its `io.env` injection.
 */
const ENVIRONMENT_READERS: Record<string, number> = {
  'settings/settings.ts': 1,
  'activities/deployers/index.ts': 1,
  'activities/git.ts': 1,
};

/** `process.env` and `process['env']` in code (comments and strings aside), read with the compiler's parser. */
function processEnvReads(file: string): number {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  let count = 0;
  const visit = (node: ts.Node) => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'process' && node.name.text === 'env') count++;
    if (ts.isElementAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'process' && ts.isStringLiteralLike(node.argumentExpression) && node.argumentExpression.text === 'env') count++;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return count;
}

describe('one reader of the environment', () => {
  it('refuses process.env anywhere in production code but settings/settings.ts (and the hand-overs to child processes)', () => {
    const found: Record<string, number> = {};
    for (const folder of PRODUCTION_FOLDERS.filter((f) => f !== 'cli')) {
      for (const file of sourceFiles(folder)) {
        const count = processEnvReads(file);
        if (count) found[path.relative(root, file)] = count;
      }
    }
    expect(found).toEqual(ENVIRONMENT_READERS);
  });

  it("would notice a read (the scanner finds process.env and process['env'], not a comment)", () => {
    const file = path.join(require('node:os').tmpdir(), `cs-env-scan-${process.pid}.ts`);
    require('node:fs').writeFileSync(file, "// process.env.X\nconst a = process.env.A;\nconst b = process['env'];\n");
    try {
      expect(processEnvReads(file)).toBe(2);
    } finally {
      require('node:fs').rmSync(file, { force: true });
    }
  });
});
