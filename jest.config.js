/**
 * Unit tests (test/unit) and integration tests (test/integration) share one run.
 * NestJS 12 ships ES modules only; Node 20 loads them from CommonJS, but Jest's module loader
 * does not (before Node 24.9), so Jest compiles those packages to CommonJS with SWC.
 */
const esmOnlyPackages = ['@nestjs', 'content-disposition'];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest'],
    '^.+\\.js$': ['@swc/jest', { swcrc: false, jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnlyPackages.join('|')})/)`],
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
