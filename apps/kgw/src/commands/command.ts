// What every `kgw` command shares: its input/output, the exit codes, and the error type an
// action throws to end with a message and a code.
import { InvalidArgumentError, type Command } from 'commander';
import type { CliIo } from '../cli-outcome';

export { CliError, EXIT_CODES_HELP, ExitCode, type CliIo, type ExitCodeValue } from '../cli-outcome';

/** Given to every command's `add…Command`. */
export interface CliContext {
  io: CliIo;
  /**
   * Wraps an action: its resolved number (if any) becomes the exit code. Commander ignores
   * what an action returns, so the code travels through here.
   */
  act<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void>;
}

/** `add<Name>Command(program, context)`: each command file exports one. */
export type AddCommand = (program: Command, context: CliContext) => void;

/** Commander argument parser for a positive number (a usage error otherwise). */
export function positiveNumber(text: string): number {
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new InvalidArgumentError('expected a positive number');
  return value;
}

/** Commander argument parser for a whole number ≥ 0 (a usage error otherwise). */
export function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new InvalidArgumentError('expected 0 or a whole number');
  return value;
}
