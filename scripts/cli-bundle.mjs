// The single-file kgw CLI (dist/cli/kgw.js) that the gateway serves under /kgw/cli/: the built
// CLI (dist/apps/kgw) and every package it imports (commander, ws, yaml, @kgw/tunnel), bundled by
// rolldown into one CommonJS file that needs only Node. Called by scripts/build.mjs after tsc.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'rolldown';

const root = new URL('..', import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outFile = join(root, 'dist', 'cli', 'kgw.js');

await build({
  input: join(root, 'dist', 'apps', 'kgw', 'src', 'standalone.js'),
  platform: 'node',
  // ws loads these native speed-ups when present and works without them.
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warn',
  output: {
    file: outFile,
    format: 'cjs',
    // The first comment line is read by the gateway (cli-download.ts) for the version.
    banner: `#!/usr/bin/env node\n// kgw CLI ${version}\n// The kgw command-line client in one file (Node.js >= 20.19): see docs/cli.md.\nvar KGW_BUNDLED_VERSION = ${JSON.stringify(version)};`,
  },
});
const size = statSync(outFile).size;
process.stderr.write(`kgw: single-file CLI dist/cli/kgw.js (${(size / 1024).toFixed(0)} KiB)\n`);
