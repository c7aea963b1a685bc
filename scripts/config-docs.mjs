// Regenerates the settings table in docs/configuration.md from libs/config (after a build).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { renderSettingsTable } = require('../dist/libs/config/src/index.js');
const path = new URL('../docs/configuration.md', import.meta.url).pathname;
const doc = readFileSync(path, 'utf8');
const start = doc.indexOf('| Variable |');
const end = doc.indexOf('\n\n', start);
writeFileSync(path, doc.slice(0, start) + renderSettingsTable() + doc.slice(end));
