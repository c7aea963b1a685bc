// `kgw token create|list|revoke`: personal access tokens for scripts and CI (/kgw/v1/tokens).
// The new token is printed once, on stdout alone (so `$(kgw token create …)` captures just the
// token); what it is and when it expires go to stderr.
import { Option } from 'commander';
import { ExitCode, positiveNumber, type AddCommand } from './command';
import {
  refusal,
  resolveGatewayConnection,
  withConnectionOptions,
  type ConnectionFlags,
} from '../gateway-connection';
import { gatewayJson } from '../gateway-json';

interface TokenView {
  id: string;
  name: string;
  owner: string;
  scopes: string[];
  namespaces: string[];
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  token?: string;
  notice?: string;
}

type Output = 'text' | 'json';
const outputOption = () =>
  new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');

/** Columns padded to their widest cell, like kubectl get. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]))
          .join('   ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export const addTokenCommand: AddCommand = (program, { io, act }) => {
  const token = program
    .command('token')
    .description('create, list and revoke your personal access tokens')
    .addHelpText(
      'after',
      `
Examples:
  kgw token create --name ci --scope read-only --expires-in-days 30
  kgw token create --name tunnels --scope forward -n dev        # only kgw forward, only namespace dev
  kgw token list
  kgw token revoke tok_…
`,
    );

  withConnectionOptions(
    token
      .command('create')
      .description('create a token (printed once; keep it secret)')
      .option('--name <name>', 'what the token is for', '')
      .addOption(
        new Option('--scope <scope...>', 'limit the token (repeatable)').choices(['read-only', 'forward']),
      )
      .option('-n, --namespace <ns...>', 'limit the token to these namespaces (repeatable)')
      .option('--expires-in-days <days>', 'lifetime in days (default: the gateway’s)', positiveNumber)
      .addOption(outputOption()),
  ).action(
    act(
      async (
        options: ConnectionFlags & {
          name: string;
          scope?: string[];
          namespace?: string[];
          expiresInDays?: number;
          output: Output;
        },
      ) => {
        const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
        const res = await gatewayJson(connection, 'POST', '/kgw/v1/tokens', {
          name: options.name,
          scopes: options.scope ?? [],
          namespaces: options.namespace ?? [],
          ...(options.expiresInDays !== undefined ? { expiresInDays: options.expiresInDays } : {}),
        });
        if (res.status !== 201) throw refusal(res.status, res.body);
        const view = res.body as TokenView;
        if (options.output === 'json') return void io.out(`${JSON.stringify(view, null, 2)}\n`);
        io.out(`${view.token}\n`);
        io.err(
          `kgw: token ${view.id}${view.name ? ` (${view.name})` : ''}, scopes ${view.scopes.join(', ') || 'all'}` +
            `${view.namespaces.length ? `, namespaces ${view.namespaces.join(', ')}` : ''}, expires ${view.expiresAt}.\n` +
            'kgw: it is shown only now; revoke it with kgw token revoke ' +
            `${view.id}.\n${view.notice ? `kgw: ${view.notice}\n` : ''}`,
        );
      },
    ),
  );

  withConnectionOptions(
    token.command('list').description('list your active tokens').addOption(outputOption()),
  ).action(
    act(async (options: ConnectionFlags & { output: Output }) => {
      const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
      const res = await gatewayJson(connection, 'GET', '/kgw/v1/tokens');
      if (res.status !== 200) throw refusal(res.status, res.body);
      const items = (res.body as { items: TokenView[] }).items;
      if (options.output === 'json') return void io.out(`${JSON.stringify(items, null, 2)}\n`);
      if (items.length === 0) return void io.out('No active tokens.\n');
      io.out(
        table([
          ['ID', 'NAME', 'SCOPES', 'NAMESPACES', 'EXPIRES', 'LAST USED'],
          ...items.map((t) => [
            t.id,
            t.name || '-',
            t.scopes.join(',') || 'all',
            t.namespaces.join(',') || 'all',
            t.expiresAt,
            t.lastUsedAt ?? 'never',
          ]),
        ]),
      );
    }),
  );

  withConnectionOptions(
    token.command('revoke').description('revoke tokens at once').argument('<id...>', 'token ids (tok_…)'),
  ).action(
    act(async (ids: string[], options: ConnectionFlags) => {
      const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
      let code: number = ExitCode.Ok;
      for (const id of ids) {
        const res = await gatewayJson(connection, 'DELETE', `/kgw/v1/tokens/${encodeURIComponent(id)}`);
        if (res.status === 200) {
          io.out(`token ${id} revoked\n`);
          continue;
        }
        const err = refusal(res.status, res.body);
        io.err(`kgw token revoke: ${id}: ${err.message}\n`);
        // Keep going with the others; the exit code says the first kind of failure.
        if (code === ExitCode.Ok) code = err.exitCode;
      }
      return code;
    }),
  );
};
