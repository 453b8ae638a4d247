// Pure unit tests only: no Temporal server, no database. `npm run test:unit`.
const base = require('./jest.config');
module.exports = { ...base, roots: ['<rootDir>/test/unit'], globalSetup: undefined, globalTeardown: undefined };
