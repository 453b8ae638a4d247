// The workflow bundle, built ahead: `npm run build` writes dist/workflow-bundle.js (with the
// hash of what it was built from), so a worker starts without bundling the workflow code, which
// is most of its start-up. A worker given no bundle (COUNTERSIGN_WORKFLOW_BUNDLE) uses this one
// when it was built from the code beside it, and bundles at start-up otherwise, so a stale
// bundle never runs.

import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');

/** The workflow code's entry point, for bundling. */
export function workflowsPath(): string {
  return require.resolve('../workflows');
}
/** The folders workflow code imports from (by relative path only; test/unit/boundaries.test.ts). */
const SOURCES = ['workflows', 'policy'];

export function builtBundlePath(): string {
  return path.join(ROOT, 'workflow-bundle.js');
}

function hashPath(bundle: string): string {
  return `${bundle}.sha256`;
}

/** What a bundle is built from: the workflow and policy code, and the SDK's version. */
export function bundleInputsHash(): string {
  const hash = createHash('sha256');
  hash.update(JSON.parse(readFileSync(require.resolve('@temporalio/workflow/package.json'), 'utf8')).version);
  const files = SOURCES.flatMap((folder) => filesUnder(path.join(ROOT, folder))).sort();
  for (const file of files) hash.update(`\n${path.relative(ROOT, file)}\n`).update(readFileSync(file));
  return hash.digest('hex');
}

function filesUnder(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return filesUnder(full);
    return /\.(js|ts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') && !entry.name.endsWith('.map') ? [full] : [];
  });
}

/** The built bundle when it was built from the code beside it; undefined when absent or stale. */
export function freshBuiltBundle(bundle = builtBundlePath()): string | undefined {
  try {
    return readFileSync(hashPath(bundle), 'utf8').trim() === bundleInputsHash() && existsSync(bundle) ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the bundle (and its inputs' hash) unless a fresh one is there; true when it was built. */
export async function buildWorkflowBundle(bundle = builtBundlePath()): Promise<boolean> {
  if (freshBuiltBundle(bundle)) return false;
  const inputs = bundleInputsHash();
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
  // Written aside and renamed, so a worker starting meanwhile never reads half a bundle.
  writeFileSync(`${bundle}.tmp`, code);
  renameSync(`${bundle}.tmp`, bundle);
  writeFileSync(hashPath(bundle), `${inputs}\n`);
  return true;
}

if (require.main === module) {
  buildWorkflowBundle().then(
    (built) => console.log(`[countersign] workflow bundle ${path.relative(process.cwd(), builtBundlePath())} ${built ? 'built' : 'up to date'}`),
    (err: unknown) => {
      console.error(`[countersign] could not build the workflow bundle: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
