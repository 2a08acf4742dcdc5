/**
 * npm run test:faults: the fault suite stops, kills and restarts Postgres, Redis and Mosquitto, so
 * it runs apart from npm test, on private instances of its own (test/faults/private-services.ts).
 */
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: ['**/faults/*.fault.ts'],
  testTimeout: 300000,
  globalSetup: '<rootDir>/test/faults/global-setup.ts',
  globalTeardown: '<rootDir>/test/faults/global-teardown.ts',
};
