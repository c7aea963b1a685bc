const shared = require('./jest.shared');
module.exports = { ...shared, testMatch: ['<rootDir>/apps/**/*.spec.ts', '<rootDir>/libs/**/*.spec.ts'] };
