// `kgw kubeconfig`: writes (or merges into an existing file) a kubeconfig context whose server is
// the gateway and whose credential is `kgw credential`, an exec credential plugin: kubectl then
// works through the gateway with the CLI's login, and no token is ever written to the file.
// `kgw credential`: that plugin — prints an ExecCredential with the saved login's token.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { kubeconfigContextName, mergeGatewayKubeconfig, type KubeconfigFile } from '@kgw/kube';
import { CliError, ExitCode, type AddCommand } from './command';
import { resolveGatewayConnection, withConnectionOptions, type ConnectionFlags } from '../gateway-connection';
import { readSavedLogin } from '../saved-login';

/** The script node is running (process.argv[1]), symlinks resolved (npm's .bin/kgw is one). */
function runningCli(): string {
  const script = process.argv[1];
  if (!script) throw new CliError('cannot tell which file this kgw runs from (no script path)');
  try {
    return realpathSync(script);
  } catch {
    return resolve(script);
  }
}

function defaultKubeconfigPath(env: Record<string, string | undefined>): string {
  const first = env.KUBECONFIG?.split(':').find(Boolean);
  return first ?? join(env.HOME ?? homedir(), '.kube', 'config');
}

export const addKubeconfigCommand: AddCommand = (program, { io, act }) => {
  withConnectionOptions(
    program
      .command('kubeconfig')
      .description('write a kubeconfig context for kubectl through the gateway (credential: kgw credential)')
      .option(
        '--kubeconfig <file>',
        'file to write or merge into (default: $KUBECONFIG, else ~/.kube/config)',
      )
      .option('--context <name>', 'context name (default: kgw-<gateway host>)')
      .option('-n, --namespace <ns>', 'default namespace of the context')
      .option('--no-use', 'do not make it the current context'),
  ).action(
    act(
      async (
        options: ConnectionFlags & {
          kubeconfig?: string;
          context?: string;
          namespace?: string;
          use: boolean;
        },
      ) => {
        const connection = resolveGatewayConnection(options, io.env);
        const file = resolve(options.kubeconfig ?? defaultKubeconfigPath(io.env));
        const name = options.context ?? kubeconfigContextName(connection.server);
        let existing: KubeconfigFile | undefined;
        if (existsSync(file)) {
          try {
            existing = (parseYaml(readFileSync(file, 'utf8')) as KubeconfigFile | null) ?? undefined;
          } catch (err) {
            throw new CliError(`${file}: not a kubeconfig: ${(err as Error).message}`, ExitCode.Usage);
          }
        }
        // kubectl runs the plugin itself: name the file this CLI runs from (the downloaded single
        // file, bin/kgw.js or dist's main.js), by its real path and with this node, so it needs
        // nothing on the PATH. Not a path relative to this module: in the single file there is
        // no other file next to it.
        const config = mergeGatewayKubeconfig(
          existing,
          {
            server: connection.server.origin,
            caPem: connection.caPem,
            name,
            namespace: options.namespace,
            credential: { exec: { command: process.execPath, leadingArgs: [runningCli()] } },
          },
          options.use,
        );
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        const temporary = `${file}.${process.pid}.tmp`;
        writeFileSync(temporary, toYaml(config), { mode: 0o600 });
        renameSync(temporary, file);
        io.out(
          `Context "${name}" written to ${file}${options.use ? ' (current context)' : ''}.\nTry: kubectl --context ${name} get pods\n`,
        );
      },
    ),
  );

  withConnectionOptions(
    program
      .command('credential')
      .description('print an ExecCredential for kubectl (the exec plugin kgw kubeconfig sets up)'),
  ).action(
    act(async (options: ConnectionFlags) => {
      const connection = resolveGatewayConnection(options, io.env);
      const saved = readSavedLogin(io.env);
      const expires = saved && saved.token === connection.token ? saved.expiresAt : undefined;
      io.out(
        `${JSON.stringify({
          apiVersion: 'client.authentication.k8s.io/v1',
          kind: 'ExecCredential',
          status: { token: connection.token, ...(expires ? { expirationTimestamp: expires } : {}) },
        })}\n`,
      );
    }),
  );
};
