// Every `kgw` command, in the order `kgw help` lists them. Add a command: write it in its own
// file under commands/ and list it here.
import { auditCommand } from './audit';
import type { CliCommand } from './command';
import { loginCommand } from './login';
import { logoutCommand } from './logout';
import { versionCommand } from './version';
import { whoamiCommand } from './whoami';

export const COMMANDS: CliCommand[] = [
  versionCommand,
  auditCommand,
  loginCommand,
  logoutCommand,
  whoamiCommand,
];
