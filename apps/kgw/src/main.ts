#!/usr/bin/env node
// The `kgw` CLI: commander parses and validates, each command lives in commands/<name>.ts,
// and `run` turns every outcome into an exit code (see ExitCode) without calling
// process.exit, so tests drive it in-process.
import { Command, CommanderError } from 'commander';
import { COMMANDS, packageVersion } from './commands';
import { CliError, EXIT_CODES_HELP, ExitCode, type CliIo } from './commands/command';

function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('kgw')
    .description('kgw — the command-line side of the kgw Kubernetes gateway')
    .version(`kgw ${packageVersion()}`, '--version', 'print the kgw version')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .addHelpText(
      'after',
      `\nRun the gateway itself with \`npm start\` (see README.md); the CLI is documented in docs/cli.md.\n\n${EXIT_CODES_HELP}\n`,
    );
  const context = {
    io,
    act<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
      return async (...args: A) => setExitCode((await fn(...args)) ?? ExitCode.Ok);
    },
  };
  for (const add of COMMANDS) add(program, context);
  // Subcommands inherit the output and exit behaviour (commander copies settings at creation
  // only for commands made with .command(); set them explicitly for all, nested included).
  const configure = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  if (argv.length === 0) {
    io.out(program.helpInformation());
    return ExitCode.Ok;
  }
  let current = 'kgw';
  program.hook('preAction', (_program, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c; c = c.parent) names.unshift(c.name());
    current = names.join(' ');
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    // Help and --version end in a CommanderError with exit code 0; any other is a usage error
    // that commander has already printed.
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    if (err instanceof CliError) {
      io.err(`${current}: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  return exitCode;
}

/** The process entry (bin/kgw.js and `node dist/apps/kgw/src/main.js`). */
export function main(): void {
  // The reader went away (`kgw audit tail | head`): the output is no longer wanted, so the
  // command is done — quietly and successfully, as with other Unix tools, not with a stack trace.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(ExitCode.Ok);
      process.exitCode = ExitCode.Failure;
    });
  const io: CliIo = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  };
  run(process.argv.slice(2), io).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`kgw: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = ExitCode.Failure;
    },
  );
}

if (require.main === module) main();
