import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliCommand } from './command';

export const versionCommand: CliCommand = {
  name: 'version',
  summary: 'Print the kgw version',
  usage: 'kgw version',
  async run(_args, io) {
    io.out(`kgw ${packageVersion()}\n`);
    return 0;
  },
};

function packageVersion(): string {
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
