// exec and attach: the session logic, independent of the wire (SPDY streams or WebSocket channels).
import { EventEmitter } from 'node:events';
import type { PodStreamsOptions, SimObjectStore } from '../contract';
import { exitStatus, KubeStatus } from './kube-status';
import { ContainerRuntime, NGINX_WELCOME_PAGE, NGINX_SERVER_HEADER } from './pod-backends';
import { ContainerSpec, PodView, readService } from './pod-model';
import { CommandResult, PodShell, ShellEnvironment, ShellIO, TerminalSize } from './pod-shell';
import { StdinQueue, TtyLineDiscipline } from './stdin-queue';

/** What a transport offers a remote command, once its streams or channels are in place. */
export interface CommandChannels {
  readonly tty: boolean;
  readonly hasStdin: boolean;
  readonly hasStdout: boolean;
  readonly hasStderr: boolean;
  onStdin(data: (chunk: Buffer) => void, end: () => void): void;
  onResize(listener: (size: TerminalSize) => void): void;
  onClientGone(listener: () => void): void;
  writeStdout(data: Buffer): void;
  writeStderr(data: Buffer): void;
  /** Writes the result (Status on v4+, plain text before) and closes the connection. */
  finish(result: KubeStatus): void;
}

/** Parses the resize messages kubectl sends: `{"Width":120,"Height":40}`, possibly several per chunk. */
export function parseResizeMessages(text: string): TerminalSize[] {
  const sizes: TerminalSize[] = [];
  for (const match of text.matchAll(/\{[^{}]*\}/g)) {
    try {
      const parsed = JSON.parse(match[0]) as { Width?: unknown; Height?: unknown };
      if (
        typeof parsed.Width === 'number' &&
        typeof parsed.Height === 'number' &&
        parsed.Width >= 0 &&
        parsed.Height >= 0
      ) {
        sizes.push({ width: Math.min(parsed.Width, 10000), height: Math.min(parsed.Height, 10000) });
      }
    } catch {
      // A malformed resize is dropped, as the kubelet logs and ignores it.
    }
  }
  return sizes;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The container's environment and files, as an exec'd process would find them. */
export function buildShellEnvironment(
  pod: PodView,
  container: ContainerSpec,
  options: Pick<PodStreamsOptions, 'apiServerHost' | 'apiServerPort' | 'caCertPem' | 'serviceAccountToken'>,
  store: SimObjectStore,
): ShellEnvironment {
  const { apiServerHost: host, apiServerPort: port } = options;
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOSTNAME: pod.name,
    HOME: '/root',
  };
  if (container.image.includes('nginx')) {
    env.NGINX_VERSION = NGINX_SERVER_HEADER.split('/')[1];
  }
  // Downward-API-style identity, so scripts can see where they run without declaring fieldRefs.
  env.POD_NAME = pod.name;
  env.POD_NAMESPACE = pod.namespace;
  env.POD_IP = pod.podIP;
  env.NODE_NAME = pod.nodeName;
  env.POD_SERVICE_ACCOUNT = pod.serviceAccountName;
  const fieldValue = (path: string): string => {
    const labelMatch = /^metadata\.labels\['(.+)'\]$/.exec(path);
    if (labelMatch) return pod.labels[labelMatch[1]] ?? '';
    const values: Record<string, string> = {
      'metadata.name': pod.name,
      'metadata.namespace': pod.namespace,
      'metadata.uid': pod.uid,
      'spec.nodeName': pod.nodeName,
      'spec.serviceAccountName': pod.serviceAccountName,
      'status.podIP': pod.podIP,
      'status.hostIP': '172.18.0.2',
    };
    return values[path] ?? '';
  };
  for (const variable of container.env) {
    if (!variable.name) continue;
    if (variable.value !== undefined)
      env[variable.name] = variable.value.replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (all, name: string) => env[name] ?? all,
      );
    else if (variable.fieldPath) env[variable.name] = fieldValue(variable.fieldPath);
  }
  // Service links, as the kubelet injects them for every service in the namespace.
  for (const object of store.list('services', pod.namespace)) {
    const service = readService(object);
    const clusterIP =
      typeof (object.spec as { clusterIP?: unknown } | undefined)?.clusterIP === 'string'
        ? (object.spec as { clusterIP: string }).clusterIP
        : '';
    if (!clusterIP || clusterIP === 'None' || service.ports.length === 0) continue;
    const prefix = service.name.toUpperCase().replace(/-/g, '_');
    const first = service.ports[0];
    env[`${prefix}_SERVICE_HOST`] = clusterIP;
    env[`${prefix}_SERVICE_PORT`] = String(first.port);
    env[`${prefix}_PORT`] = `${first.protocol.toLowerCase()}://${clusterIP}:${first.port}`;
    for (const servicePort of service.ports) {
      const portPrefix = `${prefix}_PORT_${servicePort.port}_${servicePort.protocol}`;
      if (servicePort.name)
        env[`${prefix}_SERVICE_PORT_${servicePort.name.toUpperCase().replace(/-/g, '_')}`] = String(
          servicePort.port,
        );
      env[portPrefix] = `${servicePort.protocol.toLowerCase()}://${clusterIP}:${servicePort.port}`;
      env[`${portPrefix}_PROTO`] = servicePort.protocol.toLowerCase();
      env[`${portPrefix}_PORT`] = String(servicePort.port);
      env[`${portPrefix}_ADDR`] = clusterIP;
    }
  }
  env.KUBERNETES_SERVICE_HOST = host;
  env.KUBERNETES_SERVICE_PORT = String(port);
  env.KUBERNETES_SERVICE_PORT_HTTPS = String(port);
  env.KUBERNETES_PORT = `tcp://${host}:${port}`;
  env[`KUBERNETES_PORT_${port}_TCP`] = `tcp://${host}:${port}`;
  env[`KUBERNETES_PORT_${port}_TCP_PROTO`] = 'tcp';
  env[`KUBERNETES_PORT_${port}_TCP_PORT`] = String(port);
  env[`KUBERNETES_PORT_${port}_TCP_ADDR`] = host;

  const files: ShellEnvironment['files'] = {
    '/etc/hostname': `${pod.name}\n`,
    '/etc/hosts': `# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${pod.podIP}\t${pod.name}\n`,
    '/etc/resolv.conf': `search ${pod.namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n`,
    '/etc/os-release':
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
    // These three have no trailing newline in a real pod either.
    [`${SERVICE_ACCOUNT_DIR}/namespace`]: pod.namespace,
    [`${SERVICE_ACCOUNT_DIR}/ca.crt`]: options.caCertPem,
    [`${SERVICE_ACCOUNT_DIR}/token`]: () =>
      options.serviceAccountToken(pod.namespace, pod.serviceAccountName),
  };
  if (container.image.includes('nginx') || container.ports.length > 0) {
    files['/usr/share/nginx/html/index.html'] = NGINX_WELCOME_PAGE;
    files['/usr/share/nginx/html/50x.html'] =
      '<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1>An error occurred.</h1></body></html>\n';
    files['/etc/nginx/nginx.conf'] =
      'user  nginx;\nworker_processes  auto;\nerror_log  /var/log/nginx/error.log notice;\npid        /var/run/nginx.pid;\nevents {\n    worker_connections  1024;\n}\nhttp {\n    include       /etc/nginx/conf.d/*.conf;\n}\n';
  }
  // nginx's master and workers, like the image's `nginx -g 'daemon off;'`; other images show their
  // container name as PID 1 (the simulator does not model commands).
  const processes: ShellEnvironment['processes'] = container.image.includes('nginx')
    ? [
        ['root', 'nginx: master process nginx -g daemon off;'],
        ['nginx', 'nginx: worker process'],
        ['nginx', 'nginx: worker process'],
      ]
    : [['root', container.name]];
  return { hostname: pod.name, env, files, processes };
}

/** The terminal side shared by exec and attach: TTY line discipline, \n → \r\n, resizes, ^C. */
class CommandTerminal implements ShellIO {
  readonly tty: boolean;
  readonly stdin: StdinQueue | null;
  private size: TerminalSize | undefined;
  private readonly interrupts = new EventEmitter();
  private readonly abort = new AbortController();
  readonly closed = this.abort.signal;

  constructor(private readonly channels: CommandChannels) {
    this.tty = channels.tty;
    this.stdin = channels.hasStdin ? new StdinQueue() : null;
    if (this.stdin) {
      const stdin = this.stdin;
      if (this.tty) {
        const discipline = new TtyLineDiscipline(
          (echo) => this.writeStdout(echo),
          stdin,
          () => this.interrupts.emit('interrupt'),
        );
        channels.onStdin(
          (chunk) => discipline.input(chunk),
          () => stdin.end(),
        );
      } else {
        channels.onStdin(
          (chunk) => stdin.push(chunk),
          () => stdin.end(),
        );
      }
    }
    channels.onResize((size) => {
      this.size = size;
    });
    channels.onClientGone(() => {
      this.abort.abort();
      this.stdin?.end();
    });
  }

  writeStdout(data: string | Buffer): void {
    if (!this.channels.hasStdout || this.closed.aborted) return;
    this.channels.writeStdout(this.toTerminal(data));
  }

  writeStderr(data: string | Buffer): void {
    if (this.closed.aborted) return;
    // A TTY has one output stream: stderr goes where stdout goes.
    if (this.tty) this.writeStdout(data);
    else if (this.channels.hasStderr) this.channels.writeStderr(Buffer.from(data));
  }

  terminalSize(): TerminalSize | undefined {
    return this.tty ? (this.size ?? { width: 80, height: 24 }) : undefined;
  }

  onInterrupt(listener: () => void): () => void {
    this.interrupts.on('interrupt', listener);
    return () => this.interrupts.off('interrupt', listener);
  }

  private toTerminal(data: string | Buffer): Buffer {
    if (!this.tty) return Buffer.from(data);
    // The pty's onlcr: a bare \n leaves the cursor in its column on the client's raw terminal.
    return Buffer.from(data.toString().replace(/\r?\n/g, '\r\n'));
  }
}

function resultToStatus(result: CommandResult, command: string[]): KubeStatus {
  return 'failure' in result ? result.failure : exitStatus(result.exitCode, command);
}

/** How long the simulated runtime takes to start an exec'd process (see runExec). */
const EXEC_START_MS = 25;

export async function runExec(
  channels: CommandChannels,
  command: string[],
  environment: ShellEnvironment,
): Promise<void> {
  const terminal = new CommandTerminal(channels);
  const shell = new PodShell(
    environment,
    terminal,
    command[0]?.replace(/^.*\//, '') === 'bash' ? 'bash' : 'sh',
  );
  // A container runtime takes tens of milliseconds to start an exec'd process (runc exec); the
  // simulator answering within microseconds of the upgrade races client-go's WebSocket executor,
  // which reads frames before it has created its streams and drops the early ones ("Unknown
  // stream id 1, discarding message", then "closed all streams"). Start like a runtime does.
  await new Promise((started) => setTimeout(started, EXEC_START_MS));
  let status: KubeStatus;
  try {
    status = resultToStatus(await shell.exec(command), command);
  } catch (error) {
    status = {
      metadata: {},
      status: 'Failure',
      message: `Internal error occurred: ${(error as Error).message}`,
      reason: 'InternalError',
      code: 500,
    };
  }
  if (!terminal.closed.aborted) channels.finish(status);
}

/**
 * attach: the container's main process writes its log to stdout and echoes what it reads on
 * stdin. The session lasts until the client leaves or the container stops.
 */
export function runAttach(channels: CommandChannels, container: ContainerRuntime): void {
  const terminal = new CommandTerminal(channels);
  let stopFollowing: () => void = () => undefined;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    stopFollowing();
    if (!terminal.closed.aborted) channels.finish({ metadata: {}, status: 'Success' });
  };
  stopFollowing = container.log.follow((entry) => terminal.writeStdout(entry.line), finish);
  terminal.closed.addEventListener('abort', () => {
    done = true;
    stopFollowing();
  });
  const stdin = terminal.stdin;
  if (stdin) {
    void (async () => {
      let pending = '';
      for (;;) {
        const chunk = await stdin.read();
        if (chunk === null) break;
        pending += chunk.toString('utf8');
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          container.receiveStdin(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
      }
      if (pending) container.receiveStdin(pending);
    })();
  }
}
