#!/usr/bin/env node
// The `kgw` CLI. Commands arrive with the features they drive (login, forward, audit...);
// this entry keeps the shape: options → validate → run, exit codes, and help for every command.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const HELP = `kgw — the command-line side of the kgw Kubernetes gateway

Usage:
  kgw <command> [options]

Commands:
  version      Print the kgw version
  help         Show this help

Run the gateway itself with \`npm start\` (see README.md).
`;

function version(): string {
  for (const candidate of [
    join(__dirname, '../../../package.json'),
    join(__dirname, '../../../../package.json'),
  ]) {
    try {
      return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (sources vs dist)
    }
  }
  return 'unknown';
}

export function run(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const [command] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(HELP);
      return 0;
    case 'version':
    case '--version':
      out(`kgw ${version()}\n`);
      return 0;
    default:
      err(`kgw: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

if (require.main === module) {
  process.exitCode = run(
    process.argv.slice(2),
    (s) => process.stdout.write(s),
    (s) => process.stderr.write(s),
  );
}
