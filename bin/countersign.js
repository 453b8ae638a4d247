#!/usr/bin/env node
// The `countersign` command (package.json "bin"). Runs the compiled CLI; in a fresh clone
// (after `npm ci`, before any build) it compiles the TypeScript once first.
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'cli', 'countersign.js');

if (!existsSync(entry)) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write(`countersign: ${entry} is missing and TypeScript is not installed; run \`npm ci\` in ${root} first\n`);
    process.exit(2);
  }
  process.stderr.write('countersign: building (first run: tsc -p tsconfig.build.json)…\n');
  // The compiler's output goes to stderr: stdout stays the command's own.
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (build.status !== 0 || !existsSync(entry)) {
    process.stderr.write(`countersign: the build failed${build.error ? ` (${build.error.message})` : ''}; run \`npm run build\` in ${root} to see why\n`);
    process.exit(2);
  }
}

require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`countersign: ${(err && err.stack) || err}\n`);
      process.exitCode = 2;
    },
  );
