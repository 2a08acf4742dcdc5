/** npm run test:faults: the fault suite restarts the local services, so it runs apart from npm test. */
const base = require('./jest.config');

module.exports = { ...base, testMatch: ['**/faults/*.fault.ts'], testTimeout: 300000 };
