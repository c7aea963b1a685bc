// Kubeconfigs whose server is a kgw gateway: one builder for the CLI's `kgw kubeconfig` (which
// merges into the user's file) and the gateway's GET/POST /kgw/v1/kubeconfig (a whole file).
// The credential is either the `kgw credential` exec plugin (no secret in the file: kubectl asks
// the CLI, which holds the `kgw login`) or a bearer token written into the file.

/** A named entry of a kubeconfig list (clusters, users, contexts). */
export interface KubeconfigEntry {
  name: string;
  [key: string]: unknown;
}

/** A kubeconfig as kubectl reads it; fields kgw does not know are kept as they are. */
export interface KubeconfigFile {
  apiVersion?: string;
  kind?: string;
  clusters?: KubeconfigEntry[];
  users?: KubeconfigEntry[];
  contexts?: KubeconfigEntry[];
  'current-context'?: string;
  [key: string]: unknown;
}

/** client.authentication.k8s.io/v1 ExecConfig: how kubectl runs `kgw credential`. */
export interface KgwCredentialExec {
  /** The program kubectl runs: `kgw` on the PATH, or node with the CLI's file in `leadingArgs`. */
  command: string;
  /** Arguments before `credential` (e.g. the CLI's main.js when `command` is node). */
  leadingArgs?: string[];
  /** Shown by kubectl when it cannot find `command`. */
  installHint?: string;
}

export type KubeconfigCredential = { token: string } | { exec: KgwCredentialExec };

export interface GatewayKubeconfig {
  /** The gateway's URL as users reach it. */
  server: string;
  /** The CA users need to trust the gateway's certificate, when it is not a public one. */
  caPem?: string;
  credential: KubeconfigCredential;
  /** Cluster, user and context name (default: kubeconfigContextName(server)). */
  name?: string;
  namespace?: string;
}

/** `kgw-<host>` or `kgw-<host>-<port>`: one context per gateway, the same from the CLI and the UI. */
export function kubeconfigContextName(server: string | URL): string {
  const url = typeof server === 'string' ? new URL(server) : server;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return `kgw-${host}${url.port ? `-${url.port}` : ''}`;
}

/** The cluster, user and context entries for one gateway, all with one name. */
export function gatewayKubeconfigEntries(spec: GatewayKubeconfig): {
  name: string;
  cluster: KubeconfigEntry;
  user: KubeconfigEntry;
  context: KubeconfigEntry;
} {
  const server = new URL(spec.server).origin;
  const name = spec.name ?? kubeconfigContextName(server);
  const cluster: Record<string, unknown> = { server };
  if (spec.caPem) cluster['certificate-authority-data'] = Buffer.from(spec.caPem).toString('base64');
  const user =
    'token' in spec.credential
      ? { token: spec.credential.token }
      : {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: spec.credential.exec.command,
            args: [...(spec.credential.exec.leadingArgs ?? []), 'credential', '--server', server],
            // kubectl must never wait on a prompt: `kgw credential` only reads the saved login.
            interactiveMode: 'Never',
            provideClusterInfo: false,
            ...(spec.credential.exec.installHint ? { installHint: spec.credential.exec.installHint } : {}),
          },
        };
  return {
    name,
    cluster: { name, cluster },
    user: { name, user },
    context: {
      name,
      context: { cluster: name, user: name, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
    },
  };
}

function upsert(list: KubeconfigEntry[] | undefined, entry: KubeconfigEntry): KubeconfigEntry[] {
  return [...(list ?? []).filter((e) => e.name !== entry.name), entry];
}

/**
 * `existing` (a user's file, or nothing) with the gateway's entries added or replaced by name;
 * `use` makes it the current context. Other clusters, users and contexts stay as they were.
 */
export function mergeGatewayKubeconfig(
  existing: KubeconfigFile | undefined,
  spec: GatewayKubeconfig,
  use = true,
): KubeconfigFile {
  const { name, cluster, user, context } = gatewayKubeconfigEntries(spec);
  const config: KubeconfigFile = { ...(existing ?? {}) };
  config.apiVersion ??= 'v1';
  config.kind ??= 'Config';
  config.clusters = upsert(config.clusters, cluster);
  config.users = upsert(config.users, user);
  config.contexts = upsert(config.contexts, context);
  if (use) config['current-context'] = name;
  return config;
}
