/**
 * Jest config of `npm run test:cloud`: the offline cloud suite (test/cloud/**\/*.cloud.ts), which
 * deploys the synthesized stack with Terraform against moto and runs the bundled Lambdas there.
 * Kept apart from `npm test` (whose testMatch is *.test.ts): it needs moto, Terraform with a local
 * provider mirror and Trino, and takes minutes. One worker: the suites share a 2-core machine and
 * each starts its own servers.
 */
const path = require('node:path');
const { jest: base } = require('../../package.json');

module.exports = {
  rootDir: path.resolve(__dirname, '..', '..'),
  testEnvironment: 'node',
  roots: ['<rootDir>/test/cloud'],
  testMatch: ['**/*.cloud.ts'],
  transform: base.transform,
  transformIgnorePatterns: base.transformIgnorePatterns,
  moduleFileExtensions: base.moduleFileExtensions,
  testTimeout: 15 * 60_000,
  maxWorkers: 1,
};
