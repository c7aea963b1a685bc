const shared = require('../jest.shared');
module.exports = { ...shared, testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], testTimeout: 120000 };
