// `kgw whoami`: who the gateway thinks you are, and as whom it talks to Kubernetes.
import type { CliCommand } from './command';
import { CONNECTION_USAGE, resolveGatewayConnection } from '../gateway-connection';
import { gatewayJson } from '../gateway-json';

interface Me {
  user: { name: string; groups: string[]; method: string; tokenId: string | null };
  kubernetes: { username: string; groups: string[]; serviceAccount: string | null };
  admin: boolean;
}

export const whoamiCommand: CliCommand = {
  name: 'whoami',
  summary: 'Show your gateway identity and the Kubernetes identity it maps to',
  usage: `kgw whoami [--output text|json]\n\n${CONNECTION_USAGE}`,
  async run(argv, io) {
    const args = [...argv];
    try {
      const json =
        args.includes('--output=json') ||
        (args.includes('--output') && args[args.indexOf('--output') + 1] === 'json');
      const connection = resolveGatewayConnection(
        args.filter((a) => a !== '--output' && a !== 'json' && a !== '--output=json'),
        io.env,
      );
      const res = await gatewayJson(connection, 'GET', '/kgw/v1/me');
      if (res.status !== 200) {
        io.err(
          `kgw whoami: ${res.status}: ${(res.body as { message?: string } | undefined)?.message ?? 'failed'}\n`,
        );
        return 1;
      }
      const me = res.body as Me;
      if (json) {
        io.out(`${JSON.stringify(me, null, 2)}\n`);
        return 0;
      }
      io.out(
        [
          `user:        ${me.user.name} (${me.user.method}${me.user.tokenId ? ` ${me.user.tokenId}` : ''})`,
          `groups:      ${me.user.groups.join(', ') || '-'}`,
          `kubernetes:  ${me.kubernetes.username}`,
          `  groups:    ${me.kubernetes.groups.join(', ') || '-'}`,
          `gateway admin: ${me.admin ? 'yes' : 'no'}`,
          '',
        ].join('\n'),
      );
      return 0;
    } catch (err) {
      io.err(`kgw whoami: ${(err as Error).message}\n`);
      return 1;
    }
  },
};
