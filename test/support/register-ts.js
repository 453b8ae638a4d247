// `node -r ./test/support/register-ts.js some.ts`: runs the project's TypeScript in a child
// process the way jest does (@swc/core with .swcrc), for tests that need the worker or the API
// as a real process they can SIGKILL, without building dist/ first.

const { readFileSync } = require('node:fs');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const swcrc = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '.swcrc'), 'utf8'));

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), { ...swcrc, filename, swcrc: false, configFile: false });
  module._compile(code, filename);
};
