import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddCommand } from './command';

export const addVersionCommand: AddCommand = (program, { io, act }) => {
  program
    .command('version')
    .description('print the kgw version')
    .action(
      act(async () => {
        io.out(`kgw ${packageVersion()}\n`);
      }),
    );
};

export function packageVersion(): string {
  // Sources sit at apps/kgw/src/commands, the build at dist/apps/kgw/src/commands.
  for (const candidate of [
    join(__dirname, '../../../../package.json'),
    join(__dirname, '../../../../../package.json'),
  ]) {
    try {
      return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    } catch {
      // try the other layout
    }
  }
  return 'unknown';
}
