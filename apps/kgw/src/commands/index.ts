// Every `kgw` command, in the order `kgw help` lists them. Add a command: write it in its own
// file under commands/ (exporting an AddCommand) and list it here.
import { addAuditCommand } from './audit';
import type { AddCommand } from './command';
import { addForwardCommand } from './forward';
import { addKubeconfigCommand } from './kubeconfig';
import { addLoginCommand } from './login';
import { addLogoutCommand } from './logout';
import { addTokenCommand } from './token';
import { addVersionCommand } from './version';
import { addWhoamiCommand } from './whoami';

export { packageVersion } from './version';

export const COMMANDS: AddCommand[] = [
  addLoginCommand,
  addLogoutCommand,
  addWhoamiCommand,
  addForwardCommand,
  addKubeconfigCommand,
  addTokenCommand,
  addAuditCommand,
  addVersionCommand,
];
