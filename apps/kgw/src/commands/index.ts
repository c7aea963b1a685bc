// Every `kgw` command, in the order `kgw help` lists them. Add a command: write it in its own
// file under commands/ and list it here.
import type { CliCommand } from './command';
import { versionCommand } from './version';

export const COMMANDS: CliCommand[] = [versionCommand];
