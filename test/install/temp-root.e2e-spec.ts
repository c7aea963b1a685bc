// `npm test` must leave no /tmp/kgw-* behind (first-run report, #18): every suite's temporary
// directories, and those of the processes they start, live under the run's own root, which the
// global teardown removes (test/support/jest/temp-root-setup.js).
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';

describe('temporary files of a test run', () => {
  it("live under the run's root, in tests and in the processes they start", () => {
    const root = process.env.KGW_TEST_TEMP_ROOT;
    expect(root).toMatch(/\/kgw-test-run-[^/]+$/);
    expect(tmpdir()).toBe(root);
    const child = execFileSync(process.execPath, ['-p', 'require("node:os").tmpdir()'], { encoding: 'utf8' });
    expect(child.trim()).toBe(root);
  });
});
