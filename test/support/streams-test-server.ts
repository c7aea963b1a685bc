// A stand-in API server for the streams e2e tests until the simulator core serves them: an
// in-memory store, HTTPS with a throwaway CA, bearer-token auth, legacy discovery, GET/list of
// pods and services, and the pod/service subresources handed to PodStreams exactly as the core
// will hand them (StreamTarget after authentication).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
// eslint-disable-next-line no-restricted-imports -- libs/kube-sim/src/index.ts (the lib's door) belongs to the core, which has not landed it yet.
import type { KubeObject, SimObjectStore, StoreEvent, StreamTarget } from '../../libs/kube-sim/src/contract';
// eslint-disable-next-line no-restricted-imports -- as above: switch to '@kgw/kube-sim' once its index.ts exports the streams.
import { PodStreams } from '../../libs/kube-sim/src/streams';

export class FakeObjectStore implements SimObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  private key(resource: string, namespace: string | undefined, name: string): string {
    return `${resource}/${namespace ?? ''}/${name}`;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(this.key(resource, namespace, name));
  }

  list(resource: string, namespace?: string): KubeObject[] {
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(`${resource}/${namespace === undefined ? '' : `${namespace}/`}`))
      .map(([, object]) => object);
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  put(resource: string, object: KubeObject): void {
    const key = this.key(resource, object.metadata.namespace, object.metadata.name);
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    this.objects.set(key, object);
    for (const listener of this.listeners) listener({ type, resource, object });
  }

  delete(resource: string, namespace: string, name: string): void {
    const key = this.key(resource, namespace, name);
    const object = this.objects.get(key);
    if (!object) return;
    this.objects.delete(key);
    for (const listener of this.listeners) listener({ type: 'DELETED', resource, object });
  }
}

let podCounter = 0;

export function runningPod(
  name: string,
  labels: Record<string, string>,
  ports: Array<{ containerPort: number; name?: string }>,
  extra: { tty?: boolean; stdin?: boolean } = {},
): KubeObject {
  podCounter += 1;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `0000${podCounter}aaa-1111-2222-3333-444455556666`.slice(-36),
      resourceVersion: String(100 + podCounter),
      labels,
      creationTimestamp: new Date().toISOString(),
    },
    spec: {
      nodeName: 'kind-control-plane',
      serviceAccountName: 'default',
      containers: [
        {
          name: 'nginx',
          image: 'nginx:1.27',
          ports: ports.map((port) => ({ ...port, protocol: 'TCP' })),
          env: [
            { name: 'MY_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'GREETING', value: 'hello' },
          ],
          ...extra,
        },
      ],
    },
    status: {
      phase: 'Running',
      podIP: `10.244.0.${10 + podCounter}`,
      hostIP: '172.18.0.2',
      containerStatuses: [
        {
          name: 'nginx',
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: new Date().toISOString() } },
        },
      ],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

export function demoObjects(store: FakeObjectStore): void {
  const ports = [
    { containerPort: 80, name: 'http' },
    { containerPort: 7, name: 'echo' },
    { containerPort: 9, name: 'sink' },
  ];
  store.put('pods', runningPod('nginx', { app: 'nginx' }, ports, { tty: true, stdin: true }));
  store.put('pods', runningPod('nginx-2', { app: 'nginx' }, ports));
  store.put('services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'my-nginx',
      namespace: 'default',
      uid: 'svc-1',
      resourceVersion: '90',
      labels: { app: 'nginx' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.12.34',
      selector: { app: 'nginx' },
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' }],
    },
  });
}

export interface StreamsTestServer {
  url: string;
  token: string;
  caPem: string;
  store: FakeObjectStore;
  streams: PodStreams;
  /** Writes a kubeconfig (token over HTTPS) into `dir` and returns its path. */
  writeKubeconfig(dir: string): string;
  close(): Promise<void>;
}

function makeCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kgw-streams-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=kube-sim-streams-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
}

const API_RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    {
      name: 'pods',
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      verbs: ['get', 'list', 'watch', 'create', 'delete'],
      shortNames: ['po'],
    },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    {
      name: 'pods/exec',
      singularName: '',
      namespaced: true,
      kind: 'PodExecOptions',
      verbs: ['create', 'get'],
    },
    {
      name: 'pods/attach',
      singularName: '',
      namespaced: true,
      kind: 'PodAttachOptions',
      verbs: ['create', 'get'],
    },
    {
      name: 'pods/portforward',
      singularName: '',
      namespaced: true,
      kind: 'PodPortForwardOptions',
      verbs: ['create', 'get'],
    },
    {
      name: 'pods/proxy',
      singularName: '',
      namespaced: true,
      kind: 'PodProxyOptions',
      verbs: ['create', 'delete', 'get', 'patch', 'update'],
    },
    {
      name: 'services',
      singularName: 'service',
      namespaced: true,
      kind: 'Service',
      verbs: ['get', 'list'],
      shortNames: ['svc'],
    },
    {
      name: 'services/proxy',
      singularName: '',
      namespaced: true,
      kind: 'ServiceProxyOptions',
      verbs: ['create', 'delete', 'get', 'patch', 'update'],
    },
    {
      name: 'endpoints',
      singularName: 'endpoints',
      namespaced: true,
      kind: 'Endpoints',
      verbs: ['get', 'list'],
      shortNames: ['ep'],
    },
  ],
};

const NAMESPACED =
  /^\/api\/v1\/namespaces\/([^/]+)\/(pods|services)(?:\/([^/]+)(?:\/(log|exec|attach|portforward|proxy)(\/.*)?)?)?$/;

interface Route {
  target?: StreamTarget;
  handled: boolean;
}

export async function startStreamsTestServer(): Promise<StreamsTestServer> {
  const { key, cert } = makeCertificate();
  const token = `test-token-${Math.random().toString(36).slice(2)}`;
  const store = new FakeObjectStore();
  demoObjects(store);
  let port = 0;
  const streams = new PodStreams({
    store,
    apiServerHost: '10.96.0.1',
    apiServerPort: 443,
    caCertPem: cert,
    serviceAccountToken: (namespace, serviceAccount) => `sa-token.${namespace}.${serviceAccount}`,
  });
  await streams.start();
  const user = { username: 'tester', groups: ['system:authenticated'] };

  const route = (req: IncomingMessage, res: ServerResponse | undefined): Route => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname;
    const match = NAMESPACED.exec(path);
    if (match) {
      const [, namespace, resource, name, subresource, rest] = match;
      if (subresource) {
        return {
          handled: false,
          target: {
            namespace,
            resource: resource as 'pods' | 'services',
            name: decodeURIComponent(name),
            subresource: subresource as StreamTarget['subresource'],
            proxyPath: rest ?? '',
            user,
          },
        };
      }
      if (!res) return { handled: false };
      if (name) {
        const object = store.get(resource, namespace, decodeURIComponent(name));
        if (object) json(res, 200, object);
        else status(res, 404, 'NotFound', `${resource} "${name}" not found`);
        return { handled: true };
      }
      const selector = url.searchParams.get('labelSelector');
      const items = store.list(resource, namespace).filter((object) =>
        (selector ?? '')
          .split(',')
          .filter(Boolean)
          .every((term) => {
            const [labelKey, labelValue] = term.split('=');
            return object.metadata.labels?.[labelKey] === labelValue;
          }),
      );
      json(res, 200, {
        kind: resource === 'pods' ? 'PodList' : 'ServiceList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '200' },
        items,
      });
      return { handled: true };
    }
    if (!res) return { handled: false };
    if (path === '/version') {
      json(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.4',
        gitCommit: '4cb5f07',
        gitTreeState: 'clean',
        buildDate: '2025-01-01T00:00:00Z',
        goVersion: 'go1.23.6',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    } else if (path === '/api') {
      json(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }],
      });
    } else if (path === '/apis') {
      json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    } else if (path === '/api/v1') {
      json(res, 200, API_RESOURCES);
    } else {
      status(res, 404, 'NotFound', 'the server could not find the requested resource');
    }
    return { handled: true };
  };

  const authorized = (req: IncomingMessage): boolean => req.headers.authorization === `Bearer ${token}`;

  const server = https.createServer({ key, cert }, (req, res) => {
    if (!authorized(req)) {
      status(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const routed = route(req, res);
    if (routed.target) streams.handleRequest(req, res, routed.target);
    else if (!routed.handled)
      status(res, 404, 'NotFound', 'the server could not find the requested resource');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const routed = authorized(req) ? route(req, undefined) : { handled: false };
    if (!routed.target) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    streams.handleUpgrade(req, socket, head, routed.target);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  return {
    url,
    token,
    caPem: cert,
    store,
    streams,
    writeKubeconfig(dir: string): string {
      const file = join(dir, 'kubeconfig');
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'sim',
            cluster: { server: url, 'certificate-authority-data': Buffer.from(cert).toString('base64') },
          },
        ],
        users: [{ name: 'tester', user: { token } }],
        contexts: [{ name: 'sim', context: { cluster: 'sim', user: 'tester', namespace: 'default' } }],
        'current-context': 'sim',
      };
      writeFileSync(file, JSON.stringify(config));
      return file;
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await streams.stop();
    },
  };
}
