export default { testEnvironment: 'node', testMatch: ['<rootDir>/dist/test/**/*.test.js'], transform: {} };
