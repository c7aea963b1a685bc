// `kgw forward TYPE/NAME [LOCAL:]REMOTE...`: kubectl port-forward through the gateway, under the
// caller's own identity, for any number of targets on one WebSocket (see forward/).
import { ExitCode, EXIT_CODES_HELP, type AddCommand } from './command';
import { resolveGatewayConnection, withConnectionOptions, type ConnectionFlags } from '../gateway-connection';
import { parseForwardArgs, readForwardFile, type ForwardSpec } from '../forward/forward-specs';
import { StatusLine } from '../forward/status-line';
import { ForwardClient } from '../forward/tunnel-client';

interface ForwardOptions extends ConnectionFlags {
  namespace: string;
  address: string;
  filename?: string;
  status: boolean;
}

export const addForwardCommand: AddCommand = (program, { io, act }) => {
  withConnectionOptions(
    program
      .command('forward')
      .alias('port-forward')
      .description('forward local ports to pods, services, deployments or statefulsets through the gateway')
      .argument('[specs...]', 'TYPE/NAME [LOCAL:]REMOTE[/udp]... (several targets may follow each other)')
      .option('-n, --namespace <ns>', 'namespace of the targets', 'default')
      .option('--address <addresses>', 'local addresses to listen on, comma-separated', '127.0.0.1')
      .option(
        '-f, --filename <file>',
        'read the targets from a YAML file (forwards: [{target, namespace, ports}])',
      )
      .option('--no-status', 'no status line (it is shown only when stderr is a terminal)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  kgw forward pod/nginx 28000:80             local 28000 -> pod port 80
  kgw forward svc/my-nginx 28001:80          spreads connections over the service's ready pods
  kgw forward deploy/web :8080 sts/db 5432   a random local port; two targets on one tunnel
  kgw forward -f forwards.yaml

Local ports stay open when the connection to the gateway drops: kgw reconnects with backoff
and resumes open connections (within the gateway's grace period, on the same replica).

${EXIT_CODES_HELP}
`,
    )
    .action(
      act(async (args: string[], options: ForwardOptions) => {
        const addresses = options.address
          .split(',')
          .map((a) => (a.trim() === 'localhost' ? '127.0.0.1' : a.trim()));
        const specs: ForwardSpec[] = options.filename
          ? [
              ...readForwardFile(options.filename, options.namespace, addresses),
              ...(args.length ? parseForwardArgs(args, options.namespace, addresses) : []),
            ]
          : parseForwardArgs(args, options.namespace, addresses);
        const connection = resolveGatewayConnection(options, io.env, (text) => io.err(text));
        // A terminal gets a live status line (connections, bytes, reconnects); a pipe does not.
        const status =
          options.status && process.stderr.isTTY
            ? new StatusLine(io, () => process.stderr.columns || 80)
            : undefined;
        const client = new ForwardClient(connection, specs, status?.wrap() ?? io);
        await client.start();
        status?.start(() => client.status());
        const stop = () => client.stop(ExitCode.Ok);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          return await client.finished;
        } finally {
          status?.stop();
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
};
