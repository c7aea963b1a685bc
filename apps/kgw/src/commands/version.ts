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

/** Set by the single-file build (scripts/build.mjs), which has no package.json beside it. */
declare const KGW_BUNDLED_VERSION: string | undefined;

export function packageVersion(): string {
  if (typeof KGW_BUNDLED_VERSION === 'string') return KGW_BUNDLED_VERSION;
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
