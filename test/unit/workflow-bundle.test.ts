// The prebuilt workflow bundle (worker/bundle.ts): a worker uses the one `npm run build` wrote
// only when it was built from the workflow code beside it, so a stale bundle never runs.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleInputsHash, freshBuiltBundle } from '../../worker/bundle';

describe('the prebuilt workflow bundle', () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'countersign-bundle-'));
  const bundle = path.join(folder, 'workflow-bundle.js');
  writeFileSync(bundle, '// a bundle\n');

  it('is used when it was built from the workflow code beside it', () => {
    writeFileSync(`${bundle}.sha256`, `${bundleInputsHash()}\n`);
    expect(freshBuiltBundle(bundle)).toBe(bundle);
  });

  it('is not used once the workflow code has changed since it was built, nor without its hash', () => {
    writeFileSync(`${bundle}.sha256`, `${'0'.repeat(64)}\n`);
    expect(freshBuiltBundle(bundle)).toBeUndefined();
    expect(freshBuiltBundle(path.join(folder, 'absent.js'))).toBeUndefined();
  });

  it('hashes the workflow and policy code it is built from', () => {
    expect(bundleInputsHash()).toMatch(/^[0-9a-f]{64}$/);
    expect(bundleInputsHash()).toBe(bundleInputsHash());
  });
});
