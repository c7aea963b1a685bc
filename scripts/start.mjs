// `npm start`: build when needed, then run the gateway (demo mode when nothing is configured).
// Signals are passed on so Ctrl-C drains the gateway and stops its embedded Postgres.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-needed'], { stdio: 'inherit' });
const child = spawn(
  process.execPath,
  ['--enable-source-maps', join(root, 'dist', 'apps', 'gateway', 'src', 'main.js')],
  {
    stdio: 'inherit',
    cwd: root,
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
