// Builds everything into dist/ with plain tsc, then rewrites the @kgw/* aliases to relative
// paths (tsc-alias) so the output runs under plain node. `--if-needed` skips the build when
// dist/ is newer than every source file (apps/web included), which keeps `npm start` fast after
// the first run.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const stamp = join(root, 'dist', '.build-stamp');
const sources = [
  'apps',
  'libs',
  'bench',
  'prisma',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry === 'generated') continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

const ifNeeded = process.argv.includes('--if-needed');
if (ifNeeded && existsSync(stamp)) {
  const built = statSync(stamp).mtimeMs;
  if (sources.every((s) => newestMtime(join(root, s)) < built)) process.exit(0);
}

const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => {
  try {
    execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
  } catch {
    process.stderr.write(`kgw: build failed (${args.join(' ')}); see the errors above\n`);
    process.exit(1);
  }
};
const t0 = Date.now();
process.stderr.write('kgw: building (tsc)...\n');
if (!existsSync(join(root, 'prisma', 'generated', 'prisma', 'client.ts'))) run(bin('prisma'), ['generate']);
run(bin('tsc'), ['-p', 'tsconfig.build.json']);
run(bin('tsc-alias'), ['-p', 'tsconfig.build.json']);
// The kgw CLI as one file, for the gateway's /kgw/cli/ download.
run(process.execPath, [join(root, 'scripts', 'cli-bundle.mjs')]);
// The browser UI (apps/web): Vite bundles it from node_modules into dist/web, offline.
process.stderr.write('kgw: building the web UI (vite)...\n');
run(bin('vite'), ['build', '--config', join('apps', 'web', 'vite.config.mts')]);
writeFileSync(stamp, new Date().toISOString());
process.stderr.write(`kgw: built in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
