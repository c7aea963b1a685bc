// `kgw kubeconfig`: writes (or merges into an existing file) a kubeconfig context whose server is
// the gateway and whose credential is `kgw credential`, an exec credential plugin: kubectl then
// works through the gateway with the CLI's login, and no token is ever written to the file.
// `kgw credential`: that plugin — prints an ExecCredential with the saved login's token.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { CliError, ExitCode, type AddCommand } from './command';
import { resolveGatewayConnection, withConnectionOptions, type ConnectionFlags } from '../gateway-connection';
import { readSavedLogin } from '../saved-login';

interface NamedEntry {
  name: string;
  [key: string]: unknown;
}

interface KubeconfigFile {
  apiVersion?: string;
  kind?: string;
  clusters?: NamedEntry[];
  users?: NamedEntry[];
  contexts?: NamedEntry[];
  'current-context'?: string;
  [key: string]: unknown;
}

function upsert(list: NamedEntry[] | undefined, entry: NamedEntry): NamedEntry[] {
  const rest = (list ?? []).filter((e) => e.name !== entry.name);
  return [...rest, entry];
}

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
        const name =
          options.context ??
          `kgw-${connection.server.hostname}${connection.server.port ? `-${connection.server.port}` : ''}`;
        let config: KubeconfigFile = { apiVersion: 'v1', kind: 'Config' };
        if (existsSync(file)) {
          try {
            config = (parseYaml(readFileSync(file, 'utf8')) as KubeconfigFile | null) ?? config;
          } catch (err) {
            throw new CliError(`${file}: not a kubeconfig: ${(err as Error).message}`, ExitCode.Usage);
          }
        }
        // kubectl runs the plugin itself: name the file this CLI runs from (the downloaded single
        // file, bin/kgw.js or dist's main.js), by its real path and with this node, so it needs
        // nothing on the PATH. Not a path relative to this module: in the single file there is
        // no other file next to it.
        const self = runningCli();
        const cluster: Record<string, unknown> = { server: connection.server.origin };
        if (connection.caPem)
          cluster['certificate-authority-data'] = Buffer.from(connection.caPem).toString('base64');
        config.clusters = upsert(config.clusters, { name, cluster });
        config.users = upsert(config.users, {
          name,
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: process.execPath,
              args: [self, 'credential', '--server', connection.server.origin],
              interactiveMode: 'Never',
              provideClusterInfo: false,
            },
          },
        });
        config.contexts = upsert(config.contexts, {
          name,
          context: {
            cluster: name,
            user: name,
            ...(options.namespace ? { namespace: options.namespace } : {}),
          },
        });
        if (options.use) config['current-context'] = name;
        config.apiVersion ??= 'v1';
        config.kind ??= 'Config';
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
