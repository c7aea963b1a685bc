// Starts the whole simulator: PKI, store, authentication, RBAC, controller, scenario and the
// HTTPS server. Like kube-apiserver it offers HTTP/2 and HTTP/1.1 by ALPN on its one TLS port:
// clients that negotiate h2 (kubectl's get/list/watch, client libraries, the gateway) multiplex
// streams on one connection, while upgrades (exec, attach, port-forward over SPDY or WebSocket)
// arrive over HTTP/1.1 — their clients offer only http/1.1 — and are served as before.
import { mkdir, writeFile } from 'node:fs/promises';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { applyDefaults, validateObject, type AdmissionContext } from './admission';
import { ApiServer } from './api-server';
import { Authenticator, ServiceAccountTokens } from './authentication';
import { createPki, type SimulatorPki } from './certs';
import type { KubeObject, PodStreamsHandler, PodStreamsOptions } from './contract';
import { ClusterController } from './controller';
import { defaultClusterRoleBindings, defaultClusterRoles } from './default-rbac';
import { RbacAuthorizer } from './rbac';
import { RequestLog } from './request-log';
import { apiVersionOf, RESOURCE_TYPES, type ResourceType } from './resources';
import { loadScenario, type ScenarioUser } from './scenario';
import { fieldErrorBody } from './status';
import { ObjectStore } from './store';

export interface SimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Loopback by default. */
  host?: string;
  scenario?: 'demo' | 'empty';
  /** Directory holding scenario/<name>/ (default: found from this file or the cwd). */
  scenarioRoot?: string;
  /** Builds the pod streams module (logs, exec, attach, port-forward, proxy). */
  streams?: (options: PodStreamsOptions) => PodStreamsHandler;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (default 10 s). */
  bookmarkIntervalMs?: number;
  /** Lifetime of the service-account tokens minted for demo users (default 24 h). */
  userTokenSeconds?: number;
  /**
   * Offer h2 by ALPN (default true, as kube-apiserver does unless --disable-http2-serving);
   * false serves HTTP/1.1 only, like an API server behind a proxy that does not speak HTTP/2.
   */
  http2?: boolean;
}

/**
 * kube-apiserver's per-connection stream limit when --http2-max-streams-per-connection is 0
 * (its default): 250, Go's default, made explicit by the API server's secure serving.
 */
export const SIM_MAX_CONCURRENT_STREAMS = 250;

export interface KubeconfigFiles {
  /** user name (`admin`, `alice`, …) → kubeconfig path. */
  [user: string]: string;
}

export interface RunningSimulator {
  /** https://127.0.0.1:<port> */
  url: string;
  host: string;
  port: number;
  caPem: string;
  /** Bearer token of `kubernetes-admin` (group system:masters). */
  adminToken: string;
  /** Demo users (alice, bob, carol, dave) and the gateway's service account (`kgw`) → bearer token. */
  userTokens: Record<string, string>;
  /** Demo users as the scenario defines them. */
  users: ScenarioUser[];
  store: ObjectStore;
  requestLog: RequestLog;
  /** Mints a TokenRequest-style token for a service account that exists. */
  serviceAccountToken(
    namespace: string,
    name: string,
    options?: { audiences?: string[]; expirationSeconds?: number },
  ): string;
  /** Registers another static bearer token (tests). */
  addUserToken(username: string, groups?: string[], token?: string): string;
  /** A client certificate signed by the simulator's CA (CN = user, O = groups). */
  issueClientCertificate(username: string, groups?: string[]): Promise<{ certPem: string; keyPem: string }>;
  /** Creates an object as the control plane would (defaults applied, validated, no RBAC). */
  apply(obj: KubeObject): KubeObject;
  /** Resolves when the controllers have processed every change so far. */
  settled(): Promise<void>;
  writeKubeconfigs(dir: string): Promise<KubeconfigFiles>;
  stop(): Promise<void>;
}

export const ADMIN_USERNAME = 'kubernetes-admin';

function typeFor(obj: KubeObject): ResourceType {
  const t = RESOURCE_TYPES.find(
    (r) => apiVersionOf(r) === obj.apiVersion && r.kind === obj.kind && !r.virtual,
  );
  if (!t) throw new Error(`kube-sim: unknown kind ${String(obj.apiVersion)}/${String(obj.kind)}`);
  return t;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const pki: SimulatorPki = await createPki(
    [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ['127.0.0.1', '10.96.0.1'],
  );
  const store = new ObjectStore();
  const tokens = new ServiceAccountTokens(store);
  const authenticator = new Authenticator(tokens);
  const authorizer = new RbacAuthorizer(store);
  const requestLog = new RequestLog();

  let clusterIpCounter = 10;
  let nodePortCounter = 30000;
  const admission: AdmissionContext = {
    store,
    allocateClusterIP: () => {
      const n = clusterIpCounter++;
      return `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    },
    allocateNodePort: () => nodePortCounter++,
  };

  const apply = (input: KubeObject): KubeObject => {
    const obj = structuredClone(input);
    const type = typeFor(obj);
    obj.metadata = { ...obj.metadata };
    if (!type.namespaced) delete obj.metadata.namespace;
    else obj.metadata.namespace ??= 'default';
    applyDefaults(type, obj, admission, true);
    const errs = validateObject(type, obj);
    if (errs.length)
      throw new Error(
        `kube-sim: ${type.kind} "${obj.metadata.name}" is invalid: ${errs.map((e) => `${e.field}: ${fieldErrorBody(e)}`).join(', ')}`,
      );
    return store.create(type.plural, obj);
  };

  const controller = new ClusterController(store, tokens, pki.ca.certPem);
  controller.createPod = (pod) => {
    apply(pod);
  };
  controller.start();

  for (const role of defaultClusterRoles()) apply(role);
  for (const binding of defaultClusterRoleBindings()) apply(binding);
  const scenario = loadScenario(options.scenario ?? 'demo', options.scenarioRoot);
  // Namespaces first, then service accounts, then everything else, as `kubectl apply -f dir` needs anyway.
  const rank = (o: KubeObject): number => (o.kind === 'Namespace' ? 0 : o.kind === 'ServiceAccount' ? 1 : 2);
  for (const obj of [...scenario.objects].sort((a, b) => rank(a) - rank(b))) {
    // Status in a manifest (the node's) is kept: it is what a kubelet would have reported.
    const created = apply(obj);
    if (obj.status !== undefined && obj.kind === 'Node') {
      created.status = obj.status;
      store.update('nodes', created);
    }
  }

  const adminToken = authenticator.addStaticToken({ username: ADMIN_USERNAME, groups: ['system:masters'] });

  // Requests can only arrive once listening; the handler exists before any is served (set below).
  const ref: { apiServer?: ApiServer } = {};
  const tlsOptions = {
    key: pki.serving.keyPem,
    cert: pki.serving.certPem,
    ca: [pki.ca.certPem],
    requestCert: true,
    rejectUnauthorized: false,
  };
  // Node's HTTP/2 server always offers h2 by ALPN; without it, the plain HTTPS server.
  const server: Http2SecureServer =
    options.http2 === false
      ? (createHttpsServer(tlsOptions) as unknown as Http2SecureServer)
      : createSecureServer({
          ...tlsOptions,
          allowHTTP1: true,
          settings: { maxConcurrentStreams: SIM_MAX_CONCURRENT_STREAMS },
        });
  // HTTP/1.1 connections are served by Node's http server logic, which reads these from the
  // server: long watches and streams must not be cut by Node's default request timeouts.
  const http1 = server as unknown as {
    requestTimeout: number;
    headersTimeout: number;
    keepAliveTimeout: number;
  };
  http1.requestTimeout = 0;
  http1.headersTimeout = 60_000;
  http1.keepAliveTimeout = 30_000;
  // stop() cuts what is still open: HTTP/2 sessions and HTTP/1.1 sockets (upgraded ones included).
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Both protocols arrive here: the HTTP/2 compatibility request and response are used as the
  // HTTP/1.1 ones (headers, status, streaming, close), which is all the API server's code needs.
  server.on('request', (req, res) =>
    ref.apiServer!.handleRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse),
  );
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
    ref.apiServer!.handleUpgrade(req, socket, head),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `https://${urlHost}:${port}`;

  // The `kubernetes` service points in-cluster clients at this server.
  apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }],
      type: 'ClusterIP',
      sessionAffinity: 'None',
    },
  });
  apply({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' },
    },
    subsets: [{ addresses: [{ ip: host }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  });

  await controller.idle();

  const serviceAccountToken = (
    namespace: string,
    name: string,
    opts: { audiences?: string[]; expirationSeconds?: number } = {},
  ): string => {
    const sa = store.peek('serviceaccounts', namespace, name);
    if (!sa) throw new Error(`kube-sim: service account ${namespace}/${name} does not exist`);
    return tokens.issue(namespace, name, String(sa.metadata.uid), opts).token;
  };

  const userTokenSeconds = options.userTokenSeconds ?? 24 * 3600;
  const userTokens: Record<string, string> = {};
  for (const user of scenario.users) {
    if (user.serviceAccount) {
      const [ns, name] = user.serviceAccount.split('/');
      userTokens[user.name] = serviceAccountToken(ns, name, { expirationSeconds: userTokenSeconds });
    } else {
      userTokens[user.name] = authenticator.addStaticToken({
        username: user.username ?? user.name,
        groups: user.groups ?? [],
      });
    }
  }
  if (store.peek('serviceaccounts', 'kgw-system', 'kgw'))
    userTokens.kgw = serviceAccountToken('kgw-system', 'kgw', { expirationSeconds: userTokenSeconds });

  let streams: PodStreamsHandler | undefined;
  if (options.streams) {
    streams = options.streams({
      store,
      apiServerHost: host,
      apiServerPort: port,
      caCertPem: pki.ca.certPem,
      serviceAccountToken: (namespace, name) =>
        serviceAccountToken(namespace, name, { expirationSeconds: 3607 }),
    });
  }
  const apiServer = new ApiServer({
    store,
    authenticator,
    authorizer,
    tokens,
    admission,
    requestLog,
    streams,
    serverAddress: () => `${host}:${port}`,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 10_000,
  });
  ref.apiServer = apiServer;
  if (streams) await streams.start();

  let stopped = false;
  return {
    url,
    host,
    port,
    caPem: pki.ca.certPem,
    adminToken,
    userTokens,
    users: scenario.users,
    store,
    requestLog,
    serviceAccountToken,
    addUserToken: (username, groups = [], token) => authenticator.addStaticToken({ username, groups }, token),
    issueClientCertificate: (username, groups = []) => pki.issueClientCertificate(username, groups),
    apply,
    settled: () => controller.idle(),
    async writeKubeconfigs(dir: string): Promise<KubeconfigFiles> {
      await mkdir(dir, { recursive: true });
      const files: KubeconfigFiles = {};
      const caData = Buffer.from(pki.ca.certPem).toString('base64');
      const write = async (name: string, token: string, namespace: string): Promise<void> => {
        const context = `kube-sim-${name}`;
        const doc = {
          apiVersion: 'v1',
          kind: 'Config',
          'current-context': context,
          preferences: {},
          clusters: [{ name: 'kube-sim', cluster: { server: url, 'certificate-authority-data': caData } }],
          users: [{ name, user: { token } }],
          contexts: [{ name: context, context: { cluster: 'kube-sim', user: name, namespace } }],
        };
        // The demo names them the same way (.kgw/demo/kubeconfig-<name>): one scheme in .kgw/.
        const path = join(dir, `kubeconfig-${name}`);
        await writeFile(path, toYaml(doc), { mode: 0o600 });
        files[name] = path;
      };
      await write('admin', adminToken, 'default');
      for (const user of scenario.users)
        await write(user.name, userTokens[user.name], user.namespace ?? 'default');
      if (userTokens.kgw) await write('kgw', userTokens.kgw, 'kgw-system');
      await writeFile(join(dir, 'ca.crt'), pki.ca.certPem);
      return files;
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      apiServer.closeWatches();
      controller.stop();
      if (streams) await streams.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
