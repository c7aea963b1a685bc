// `kgw whoami`: who the gateway thinks you are, and as whom it talks to Kubernetes.
import { Option } from 'commander';
import type { AddCommand } from './command';
import {
  refusal,
  resolveGatewayConnection,
  withConnectionOptions,
  type ConnectionFlags,
} from '../gateway-connection';
import { gatewayJson } from '../gateway-json';

interface Me {
  user: { name: string; groups: string[]; method: string; tokenId: string | null };
  kubernetes: { username: string; groups: string[]; serviceAccount: string | null };
  admin: boolean;
}

export const addWhoamiCommand: AddCommand = (program, { io, act }) => {
  withConnectionOptions(
    program
      .command('whoami')
      .description('show your gateway identity and the Kubernetes identity it maps to')
      .addOption(
        new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'),
      ),
  ).action(
    act(async (options: ConnectionFlags & { output: 'text' | 'json' }) => {
      const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
      const res = await gatewayJson(connection, 'GET', '/kgw/v1/me');
      if (res.status !== 200) throw refusal(res.status, res.body);
      const me = res.body as Me;
      if (options.output === 'json') {
        io.out(`${JSON.stringify(me, null, 2)}\n`);
        return;
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
    }),
  );
};
