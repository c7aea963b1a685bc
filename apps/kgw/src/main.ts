#!/usr/bin/env node
// The `kgw` CLI: options → validate → run, with an exit code and help for every command.
import { COMMANDS } from './commands';
import type { CliIo } from './commands/command';

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length), 4) + 2;
  return [
    'kgw — the command-line side of the kgw Kubernetes gateway',
    '',
    'Usage:',
    '  kgw <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help'.padEnd(width)}Show this help (kgw <command> --help for one command)`,
    '',
    'Run the gateway itself with `npm start` (see README.md).',
    '',
  ].join('\n');
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(help());
    return 0;
  }
  if (name === '--version') return run(['version'], io);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`kgw: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.out(`${command.usage}\n`);
    return 0;
  }
  return command.run(args, io);
}

if (require.main === module) {
  const io: CliIo = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  };
  run(process.argv.slice(2), io).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`kgw: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
