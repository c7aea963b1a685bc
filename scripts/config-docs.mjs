// Rewrites the marked settings region of docs/configuration.md from libs/config (after a build);
// the rest of the document is left as it is.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { renderConfigurationDoc } = require('../dist/libs/config/src/index.js');
const path = new URL('../docs/configuration.md', import.meta.url).pathname;
const doc = readFileSync(path, 'utf8');
let next;
try {
  next = renderConfigurationDoc(doc);
} catch (err) {
  process.stderr.write(`kgw: docs/configuration.md: ${err.message}\n`);
  process.exit(1);
}
if (next === doc) process.stderr.write('kgw: docs/configuration.md is up to date\n');
else {
  writeFileSync(path, next);
  process.stderr.write('kgw: docs/configuration.md: settings table rewritten\n');
}
