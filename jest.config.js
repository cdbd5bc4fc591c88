/** Tests are compiled by `tsc` first (npm test), then run as native ESM. */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  transform: {},
  globalSetup: '<rootDir>/dist/test/support/global-setup.js',
  globalTeardown: '<rootDir>/dist/test/support/global-teardown.js',
  testTimeout: 30000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/dist/test/support/summary-reporter.js'],
};
