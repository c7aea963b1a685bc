#!/usr/bin/env node
// `kgw` as npm links it (node_modules/.bin/kgw after `npm ci`; this folder is a workspace).
// It runs the built CLI, building first when dist/ is missing or older than the sources, so a
// fresh clone needs nothing but `npm ci`. The build's progress goes to stderr, never stdout,
// because stdout may be read by a program (kubectl reads `kgw credential`'s).
'use strict';
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..', '..', '..');
try {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-needed'], {
    stdio: ['ignore', process.stderr, 'inherit'],
  });
} catch {
  process.exit(1);
}
require(join(root, 'dist', 'apps', 'kgw', 'src', 'main.js')).main();
