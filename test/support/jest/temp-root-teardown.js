// See temp-root-setup.js: the run's temporary root goes at the end, whatever the tests left.
const { rmSync } = require('node:fs');

module.exports = async () => {
  const root = process.env.KGW_TEST_TEMP_ROOT;
  if (root) rmSync(root, { recursive: true, force: true });
};
