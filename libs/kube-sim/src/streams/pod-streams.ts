// The pod streams the simulator's core hands over after authentication and authorization:
// logs, exec, attach, port-forward and pod/service proxy. The whole path of one request is here:
// resolve the pod → validate the options → pick the wire (plain HTTP, SPDY, WebSocket, SPDY
// tunnelled in a WebSocket) → run the session on the pod's runtime.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream } from 'ws';
import type { PodStreamsHandler, PodStreamsOptions, StreamTarget } from '../contract';
import { ChannelWebSocket } from './channel-websocket';
import {
  CommandRequest,
  REMOTE_COMMAND_PROTOCOLS,
  spdyCommandStreamHandler,
  WebSocketCommandChannels,
} from './command-transports';
import {
  asStatusError,
  badRequest,
  KubeStatusError,
  notFound,
  writeStatus,
  writeStatusToSocket,
} from './kube-status';
import { PodRuntime, PodRuntimeRegistry } from './pod-backends';
import { isTrueParam } from '../request-info';
import { parsePodLogOptions, serveLog } from './pod-logs';
import { ContainerChoiceError, PodView, pickContainer, readPod } from './pod-model';
import { proxyHttp, proxyUpgrade, resolvePodProxy, resolveServiceProxy } from './pod-proxy';
import {
  parseWebSocketForwardPorts,
  serveWebSocketPortForward,
  spdyPortForwardStreamHandler,
} from './port-forward';
import { buildShellEnvironment, CommandChannels, runAttach, runExec } from './remote-command';
import { SpdySession, SpdyStream } from './spdy-session';
import {
  acceptSpdyUpgrade,
  isSpdyUpgrade,
  isWebSocketUpgrade,
  SPDY_TUNNEL_PROTOCOL,
  StreamWebSocketServer,
} from './stream-upgrade';

const WEBSOCKET_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
];
const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io'];
const WEBSOCKET_PORT_FORWARD_PROTOCOLS = [
  SPDY_TUNNEL_PROTOCOL,
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
];

export type StreamWire = 'spdy' | 'websocket' | 'websocket-spdy-tunnel';

/** One stream session that started, for logs and for tests that must know which wire was used. */
export interface StreamOpened {
  namespace: string;
  pod: string;
  subresource: 'exec' | 'attach' | 'portforward';
  wire: StreamWire;
  protocol: string;
  user: string;
}

/** PodExecOptions/PodAttachOptions booleans, converted as the API server's parameter codec does. */
function queryFlag(query: URLSearchParams, name: string): boolean {
  return isTrueParam(query.get(name));
}

export class PodStreams implements PodStreamsHandler {
  readonly runtimes: PodRuntimeRegistry;
  private readonly webSockets = new StreamWebSocketServer();
  private readonly sessions = new Set<SpdySession>();
  private readonly events = new EventEmitter();
  /** The most recent stream sessions (newest last), at most 200. */
  readonly recentStreams: StreamOpened[] = [];

  constructor(private readonly options: PodStreamsOptions) {
    this.runtimes = new PodRuntimeRegistry(options.store);
  }

  async start(): Promise<void> {
    await this.runtimes.start();
  }

  async stop(): Promise<void> {
    this.webSockets.close();
    for (const session of this.sessions) session.close();
    this.sessions.clear();
    await this.runtimes.stop();
  }

  onStreamOpened(listener: (event: StreamOpened) => void): () => void {
    this.events.on('opened', listener);
    return () => this.events.off('opened', listener);
  }

  /**
   * An exec or attach session began running: every stream the client asked for is there (with
   * SPDY that is some time after the upgrade). From here on, attach sees every new output line.
   */
  onSessionStarted(listener: (event: StreamOpened) => void): () => void {
    this.events.on('started', listener);
    return () => this.events.off('started', listener);
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, target: StreamTarget): void {
    this.serveRequest(req, res, target).catch((error: unknown) => writeStatus(res, asStatusError(error)));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamTarget): void {
    socket.on('error', () => socket.destroy());
    this.serveUpgrade(req, socket, head, target).catch((error: unknown) => {
      if (!socket.destroyed && socket.writable) writeStatusToSocket(socket, asStatusError(error));
    });
  }

  private async serveRequest(req: IncomingMessage, res: ServerResponse, target: StreamTarget): Promise<void> {
    const query = new URL(req.url ?? '/', 'http://api.invalid').searchParams;
    if (target.subresource === 'proxy') {
      const destination =
        target.resource === 'pods'
          ? await resolvePodProxy(this.options.store, this.runtimes, target.namespace, target.name)
          : await resolveServiceProxy(this.options.store, this.runtimes, target.namespace, target.name);
      proxyHttp(req, res, destination, target.proxyPath);
      return;
    }
    if (target.resource !== 'pods') throw notFound('services', target.name);
    if (target.subresource === 'log') {
      await this.serveLogs(res, target, query);
      return;
    }
    // exec, attach and portforward only exist as upgrades; resolve the pod first so a missing
    // pod still reads as 404, like the API server's connect handlers.
    this.readPodOrThrow(target);
    throw badRequest('Upgrade request required');
  }

  private async serveUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: StreamTarget,
  ): Promise<void> {
    if (target.subresource === 'proxy') {
      const destination =
        target.resource === 'pods'
          ? await resolvePodProxy(this.options.store, this.runtimes, target.namespace, target.name)
          : await resolveServiceProxy(this.options.store, this.runtimes, target.namespace, target.name);
      proxyUpgrade(req, socket, head, destination, target.proxyPath);
      return;
    }
    if (target.resource !== 'pods' || target.subresource === 'log')
      throw badRequest(`upgrade is not supported for ${target.resource}/${target.subresource}`);
    const query = new URL(req.url ?? '/', 'http://api.invalid').searchParams;
    const pod = this.readPodOrThrow(target);
    if (target.subresource === 'portforward') {
      const runtime = await this.runningPod(pod, pod.containers[0]?.name ?? '');
      this.servePortForward(req, socket, head, target, runtime, query);
      return;
    }
    const container = this.containerOrThrow(pod, query.get('container'));
    const request: CommandRequest = {
      stdin: queryFlag(query, 'stdin'),
      stdout: queryFlag(query, 'stdout'),
      stderr: queryFlag(query, 'stderr'),
      tty: queryFlag(query, 'tty'),
    };
    if (!request.stdin && !request.stdout && !request.stderr)
      throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
    const command = query.getAll('command');
    if (target.subresource === 'exec' && command.length === 0)
      throw badRequest('you must specify at least one command for the container');
    const runtime = await this.runningPod(pod, container);
    const containerRuntime = runtime.containers.get(container)!;
    if (target.subresource === 'attach' && request.tty && !containerRuntime.spec.tty) {
      // The kubelet attaches without a TTY when the container has none (kubectl warns about it).
      request.tty = false;
    }
    let session: StreamOpened | undefined;
    const start = (channels: CommandChannels): void => {
      if (target.subresource === 'attach') {
        runAttach(channels, containerRuntime);
      } else {
        const environment = buildShellEnvironment(
          runtime.pod,
          containerRuntime.spec,
          this.options,
          this.options.store,
        );
        void runExec(channels, command, environment);
      }
      if (session) this.events.emit('started', session);
    };
    const subresource = target.subresource;
    if (isSpdyUpgrade(req)) {
      const protocol = acceptSpdyUpgrade(req, socket, REMOTE_COMMAND_PROTOCOLS);
      if (!protocol) return;
      session = this.opened(target, pod, subresource, 'spdy', protocol);
      const spdy: SpdySession = this.openSpdySession(
        socket,
        spdyCommandStreamHandler(() => spdy, protocol, request, start),
        head,
      );
      return;
    }
    if (isWebSocketUpgrade(req)) {
      this.webSockets.accept(req, socket, head, WEBSOCKET_COMMAND_PROTOCOLS, (ws, protocol) => {
        session = this.opened(target, pod, subresource, 'websocket', protocol);
        start(new WebSocketCommandChannels(new ChannelWebSocket(ws, protocol), request));
      });
      return;
    }
    throw badRequest('Upgrade request required');
  }

  private servePortForward(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: StreamTarget,
    runtime: PodRuntime,
    query: URLSearchParams,
  ): void {
    const pod = runtime.pod;
    if (isSpdyUpgrade(req)) {
      const protocol = acceptSpdyUpgrade(req, socket, SPDY_PORT_FORWARD_PROTOCOLS);
      if (!protocol) return;
      this.opened(target, pod, 'portforward', 'spdy', protocol);
      this.openSpdySession(socket, spdyPortForwardStreamHandler(runtime), head);
      return;
    }
    if (!isWebSocketUpgrade(req)) throw badRequest('Upgrade request required');
    this.webSockets.accept(req, socket, head, WEBSOCKET_PORT_FORWARD_PROTOCOLS, (ws, protocol) => {
      if (protocol === SPDY_TUNNEL_PROTOCOL) {
        this.opened(target, pod, 'portforward', 'websocket-spdy-tunnel', protocol);
        // The WebSocket carries one SPDY byte stream, cut into messages anywhere.
        const tunnel = createWebSocketStream(ws, { allowHalfOpen: false });
        this.openSpdySession(tunnel, spdyPortForwardStreamHandler(runtime));
        return;
      }
      const channel = new ChannelWebSocket(ws, protocol);
      const ports = parseWebSocketForwardPorts(query);
      if (typeof ports === 'string') {
        channel.send(1, ports, () => channel.close(1000));
        return;
      }
      this.opened(target, pod, 'portforward', 'websocket', protocol);
      serveWebSocketPortForward(channel, runtime, ports);
    });
  }

  private openSpdySession(
    transport: Duplex,
    onStream: (stream: SpdyStream) => void,
    head?: Buffer,
  ): SpdySession {
    const session: SpdySession = new SpdySession(
      transport,
      {
        onStream,
        onClose: () => this.sessions.delete(session),
      },
      head,
    );
    this.sessions.add(session);
    return session;
  }

  private async serveLogs(res: ServerResponse, target: StreamTarget, query: URLSearchParams): Promise<void> {
    // Options are converted and validated before the pod is read, as in the API server.
    const options = parsePodLogOptions(query, target.name);
    const pod = this.readPodOrThrow(target);
    const containerName = this.containerOrThrow(pod, options.container ?? null);
    const runtime = await this.runtimes.get(pod.namespace, pod.name);
    const container = runtime?.containers.get(containerName);
    if (!container) {
      throw badRequest(
        `container "${containerName}" in pod "${pod.name}" is waiting to start: ContainerCreating`,
      );
    }
    if (options.previous) {
      if (!container.previousLog)
        throw badRequest(`previous terminated container "${containerName}" in pod "${pod.name}" not found`);
      serveLog(res, container.previousLog, options, false);
      return;
    }
    serveLog(res, container.log, options, options.follow);
  }

  private readPodOrThrow(target: StreamTarget): PodView {
    const object = this.options.store.get('pods', target.namespace, target.name);
    if (!object) throw notFound('pods', target.name);
    return readPod(object);
  }

  private containerOrThrow(pod: PodView, requested: string | null): string {
    try {
      return pickContainer(pod, requested).name;
    } catch (error) {
      if (error instanceof ContainerChoiceError) throw badRequest(error.message);
      throw error;
    }
  }

  private async runningPod(pod: PodView, container: string): Promise<PodRuntime> {
    if (pod.phase === 'Succeeded' || pod.phase === 'Failed') {
      throw badRequest(`cannot exec into a container in a completed pod; current phase is ${pod.phase}`);
    }
    if (!pod.nodeName && pod.phase !== 'Running')
      throw badRequest(`pod ${pod.name} does not have a host assigned`);
    const runtime = await this.runtimes.get(pod.namespace, pod.name);
    if (!runtime) throw new KubeStatusError(404, `container not found ("${container}")`);
    return runtime;
  }

  private opened(
    target: StreamTarget,
    pod: PodView,
    subresource: StreamOpened['subresource'],
    wire: StreamWire,
    protocol: string,
  ): StreamOpened {
    const event: StreamOpened = {
      namespace: pod.namespace,
      pod: pod.name,
      subresource,
      wire,
      protocol,
      user: target.user.username,
    };
    this.recentStreams.push(event);
    if (this.recentStreams.length > 200) this.recentStreams.shift();
    this.events.emit('opened', event);
    return event;
  }
}
