// Every temporary directory a test run makes (the suites' own, embedded Postgres, Chromium
// profiles, gateways' spools, kubectl homes) goes under one root, removed when the run ends, so
// `npm test` leaves nothing in /tmp even when a test forgets, fails or is interrupted mid-way.
// os.tmpdir() reads TMPDIR on each call; test processes and the processes they start inherit it.
const { chmodSync, mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  const root = mkdtempSync(join(tmpdir(), 'kgw-test-run-'));
  // mkdtemp makes it 0700; embedded Postgres runs as another OS user when the tests run as root.
  chmodSync(root, 0o755);
  process.env.KGW_TEST_TEMP_ROOT = root;
  process.env.TMPDIR = root;
};
