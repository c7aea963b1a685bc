// pods/<[scheme:]name[:port]>/proxy and services/<[scheme:]name[:port]>/proxy, as the API
// server's upgrade-aware proxy serves them.
//
// Guards: what reaches the pod. The caller's credentials (Authorization, Impersonate-*) and
// hop-by-hop headers (including any the Connection header names) are dropped before forwarding;
// X-Forwarded-* are set by us, never taken from the client. Only the pod's own loopback listeners
// are dialled. Responses lose Access-Control-Allow-* (the API server's origin is not the pod's),
// and same-host redirects and HTML links are rewritten under the proxy prefix.
import * as http from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { SimObjectStore } from '../contract';
import {
  KubeStatusError,
  notFound,
  serviceUnavailable,
  writeStatus,
  writeStatusToSocket,
} from './kube-status';
import type { PodRuntime, PodRuntimeRegistry } from './pod-backends';
import { PodView, readEndpointSubsets, readPod, readService, selectorMatches } from './pod-model';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];
const MAX_REWRITTEN_HTML_BYTES = 8 * 1024 * 1024;

export interface ProxyDestination {
  runtime: PodRuntime;
  /** Pod IP and port as the API server would name them in errors. */
  displayHost: string;
  backendHost: string;
  backendPort: number | undefined;
  scheme: string;
}

/** `[scheme:]name[:port]` as utilnet.SplitSchemeNamePort reads it. */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  if (parts.length === 1) return { scheme: '', name: parts[0], port: '' };
  if (parts.length === 2) {
    if (parts[0] === 'http' || parts[0] === 'https') return { scheme: parts[0], name: parts[1], port: '' };
    return { scheme: '', name: parts[0], port: parts[1] };
  }
  if (parts.length === 3 && (parts[0] === 'http' || parts[0] === 'https'))
    return { scheme: parts[0], name: parts[1], port: parts[2] };
  return undefined;
}

function invalidName(id: string, resource: string): KubeStatusError {
  return new KubeStatusError(400, `invalid ${resource} request "${id}"`);
}

export async function resolvePodProxy(
  store: SimObjectStore,
  registry: PodRuntimeRegistry,
  namespace: string,
  id: string,
): Promise<ProxyDestination> {
  const parsed = splitSchemeNamePort(id);
  if (!parsed || !parsed.name) throw invalidName(id, 'pod');
  const object = store.get('pods', namespace, parsed.name);
  if (!object) throw notFound('pods', parsed.name);
  const pod = readPod(object);
  let portNumber: number | undefined;
  if (parsed.port === '') {
    portNumber = pod.containers.flatMap((container) => container.ports)[0]?.containerPort ?? 80;
  } else if (/^\d+$/.test(parsed.port)) {
    portNumber = Number(parsed.port);
  } else {
    // Named ports: a convenience over the API server, which would try to dial "ip:name".
    portNumber = pod.containers
      .flatMap((container) => container.ports)
      .find((port) => port.name === parsed.port)?.containerPort;
    if (portNumber === undefined)
      throw serviceUnavailable(
        `error trying to reach service: dial tcp: lookup ${pod.podIP}:${parsed.port}: unknown port`,
      );
  }
  return destinationFor(registry, pod, portNumber, parsed.scheme);
}

async function destinationFor(
  registry: PodRuntimeRegistry,
  pod: PodView,
  port: number,
  scheme: string,
): Promise<ProxyDestination> {
  const runtime = await registry.get(pod.namespace, pod.name);
  const displayHost = `${pod.podIP || pod.name}:${port}`;
  if (!runtime)
    throw serviceUnavailable(
      `error trying to reach service: dial tcp ${displayHost}: connect: no route to host`,
    );
  const backend = runtime.backendFor(port);
  return {
    runtime,
    displayHost,
    backendHost: backend?.host ?? '127.0.0.1',
    backendPort: backend?.port,
    scheme: scheme || 'http',
  };
}

export async function resolveServiceProxy(
  store: SimObjectStore,
  registry: PodRuntimeRegistry,
  namespace: string,
  id: string,
): Promise<ProxyDestination> {
  const parsed = splitSchemeNamePort(id);
  if (!parsed || !parsed.name) throw invalidName(id, 'service');
  const object = store.get('services', namespace, parsed.name);
  if (!object) throw notFound('services', parsed.name);
  const service = readService(object);
  let portName = parsed.port;
  // A port number names the service port; endpoints are keyed by port name.
  if (/^\d+$/.test(portName)) {
    const match = service.ports.find((port) => port.port === Number(portName));
    if (!match) throw serviceUnavailable(`no service port ${portName} found for service "${service.name}"`);
    portName = match.name;
  }
  if (service.type === 'ExternalName') {
    // The API server would dial the external name; the simulator never leaves loopback.
    throw serviceUnavailable(`no endpoints available for service "${id}"`);
  }
  const candidates: Array<{ pod: PodView; port: number }> = [];
  const endpoints = store.get('endpoints', namespace, service.name);
  if (endpoints) {
    for (const subset of readEndpointSubsets(endpoints)) {
      const port = subset.ports.find((entry) => entry.name === portName);
      if (!port) continue;
      for (const address of subset.addresses) {
        const podObject = address.podName
          ? store.get('pods', namespace, address.podName)
          : store.list('pods', namespace).find((candidate) => readPod(candidate).podIP === address.ip);
        if (podObject) candidates.push({ pod: readPod(podObject), port: port.port });
      }
    }
  } else if (service.selector) {
    // No Endpoints object (no endpoints controller in this store): derive them from the selector.
    const servicePort =
      service.ports.find((port) => port.name === portName) ??
      (portName === '' ? service.ports[0] : undefined);
    if (servicePort) {
      for (const podObject of store.list('pods', namespace)) {
        const pod = readPod(podObject);
        if (pod.phase !== 'Running' || !selectorMatches(service.selector, pod.labels)) continue;
        const target = servicePort.targetPort ?? servicePort.port;
        const port =
          typeof target === 'number'
            ? target
            : pod.containers.flatMap((container) => container.ports).find((entry) => entry.name === target)
                ?.containerPort;
        if (port !== undefined) candidates.push({ pod, port });
      }
    }
  }
  if (candidates.length === 0) throw serviceUnavailable(`no endpoints available for service "${id}"`);
  const start = Math.floor(Math.random() * candidates.length);
  for (let attempt = 0; attempt < candidates.length; attempt++) {
    const candidate = candidates[(start + attempt) % candidates.length];
    if (await registry.get(candidate.pod.namespace, candidate.pod.name)) {
      return destinationFor(registry, candidate.pod, candidate.port, parsed.scheme);
    }
  }
  throw serviceUnavailable(`no endpoints available for service "${id}"`);
}

function forwardedRequestHeaders(req: http.IncomingMessage, keepUpgrade: boolean): http.OutgoingHttpHeaders {
  const named = (req.headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '' && !(keepUpgrade && name === 'upgrade'));
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are not headers to forward.
    if (value === undefined || name.startsWith(':')) continue;
    // Strip before reading: Connection may name our own X-Forwarded-* headers.
    if (name === 'authorization' || name.startsWith('impersonate-') || name.startsWith('x-forwarded-'))
      continue;
    if (HOP_BY_HOP.includes(name) && !(keepUpgrade && (name === 'upgrade' || name === 'connection')))
      continue;
    if (named.includes(name)) continue;
    headers[name] = value;
  }
  const client = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior
    ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${client}`
    : client;
  headers['x-forwarded-host'] = req.headers.host ?? req.headers[':authority'] ?? '';
  headers['x-forwarded-proto'] = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  headers['x-forwarded-uri'] = req.url ?? '/';
  return headers;
}

/** The proxy prefix: the request path up to and including `/proxy`. */
function proxyPrefix(requestPath: string, proxyPath: string): string {
  return proxyPath === '' ? requestPath : requestPath.slice(0, requestPath.length - proxyPath.length);
}

function rewriteLocation(location: string, prefix: string, backendHosts: string[]): string {
  if (location.startsWith('/') && !location.startsWith('//')) return `${prefix}${location}`;
  try {
    const url = new URL(location);
    if (backendHosts.includes(url.host)) return `${prefix}${url.pathname}${url.search}${url.hash}`;
  } catch {
    // Relative or opaque locations are left alone, as the API server does.
  }
  return location;
}

/** Rewrites absolute-path links (href, src, action) in HTML under the proxy prefix. */
export function rewriteHtmlLinks(html: string, prefix: string, backendHosts: string[]): string {
  return html.replace(
    /(\s(?:href|src|action)\s*=\s*)(["'])([^"']*)\2/gi,
    (all, attribute: string, quote: string, value: string) => {
      const rewritten = rewriteLocation(value, prefix, backendHosts);
      return rewritten === value ? all : `${attribute}${quote}${rewritten}${quote}`;
    },
  );
}

export function proxyHttp(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  destination: ProxyDestination,
  proxyPath: string,
): void {
  const requestUrl = new URL(req.url ?? '/', 'http://api.invalid');
  if (proxyPath === '') {
    // A bare …/proxy redirects to …/proxy/ so relative links resolve under it.
    const target = `${requestUrl.pathname}/${requestUrl.search}`;
    res.writeHead(301, { Location: target, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(req.method === 'GET' ? `<a href="${target}">Moved Permanently</a>.\n\n` : undefined);
    return;
  }
  if (destination.backendPort === undefined) {
    writeStatus(
      res,
      serviceUnavailable(
        `error trying to reach service: dial tcp ${destination.displayHost}: connect: connection refused`,
      ),
    );
    return;
  }
  if (destination.scheme === 'https') {
    writeStatus(
      res,
      serviceUnavailable(
        'error trying to reach service: tls: first record does not look like a TLS handshake',
      ),
    );
    return;
  }
  const prefix = proxyPrefix(requestUrl.pathname, proxyPath);
  const backendHosts = [destination.displayHost, `${destination.backendHost}:${destination.backendPort}`];
  const upstream = http.request(
    {
      host: destination.backendHost,
      port: destination.backendPort,
      method: req.method,
      path: `${proxyPath}${requestUrl.search}`,
      headers: { ...forwardedRequestHeaders(req, false), host: destination.displayHost },
    },
    (upstreamRes) => {
      const headers: http.OutgoingHttpHeaders = {};
      const named = (upstreamRes.headers.connection ?? '')
        .split(',')
        .map((name) => name.trim().toLowerCase());
      for (const [name, value] of Object.entries(upstreamRes.headers)) {
        if (
          value === undefined ||
          HOP_BY_HOP.includes(name) ||
          named.includes(name) ||
          name.startsWith('access-control-allow-')
        )
          continue;
        headers[name] = value;
      }
      if (typeof headers.location === 'string')
        headers.location = rewriteLocation(headers.location, prefix, backendHosts);
      const contentType = String(upstreamRes.headers['content-type'] ?? '');
      const encoded =
        upstreamRes.headers['content-encoding'] && upstreamRes.headers['content-encoding'] !== 'identity';
      if (contentType.startsWith('text/html') && !encoded) {
        const chunks: Buffer[] = [];
        let size = 0;
        upstreamRes.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REWRITTEN_HTML_BYTES) {
            upstreamRes.destroy();
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        upstreamRes.on('end', () => {
          const body = Buffer.from(
            rewriteHtmlLinks(Buffer.concat(chunks).toString('utf8'), prefix, backendHosts),
          );
          headers['content-length'] = body.length;
          res.writeHead(upstreamRes.statusCode ?? 502, headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, headers);
      upstreamRes.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (!res.headersSent)
      writeStatus(res, serviceUnavailable(`error trying to reach service: ${error.message}`));
    else res.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

/** Upgrades (WebSocket and friends) through the proxy: replay the request head, then splice bytes. */
export function proxyUpgrade(
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  destination: ProxyDestination,
  proxyPath: string,
): void {
  if (destination.backendPort === undefined) {
    writeStatusToSocket(
      socket,
      serviceUnavailable(
        `error trying to reach service: dial tcp ${destination.displayHost}: connect: connection refused`,
      ),
    );
    return;
  }
  const requestUrl = new URL(req.url ?? '/', 'http://api.invalid');
  const upstream = net.connect({ host: destination.backendHost, port: destination.backendPort });
  upstream.on('error', () => {
    if (!socket.destroyed)
      writeStatusToSocket(
        socket,
        serviceUnavailable(
          `error trying to reach service: dial tcp ${destination.displayHost}: connect: connection refused`,
        ),
      );
  });
  upstream.on('connect', () => {
    const headers = { ...forwardedRequestHeaders(req, true), host: destination.displayHost };
    const lines = [`${req.method ?? 'GET'} ${proxyPath || '/'}${requestUrl.search} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers)) {
      for (const entry of Array.isArray(value) ? value : [String(value)]) lines.push(`${name}: ${entry}`);
    }
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
    socket.on('error', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  });
}
