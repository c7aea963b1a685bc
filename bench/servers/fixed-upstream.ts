// A fixed-response "API server" for measuring pure proxy overhead: HTTPS on loopback, answers the
// bench's GETs from pre-encoded fixtures and every SubjectAccessReview with allowed, so whatever
// time a request takes beyond talking to this server directly is the proxy's own.
//
// Like kube-apiserver it offers HTTP/2 and HTTP/1.1 by ALPN: kubectl proxy (client-go) then
// multiplexes everything over one h2 connection, as it would in front of a real cluster. Served
// HTTP/1.1 only, client-go keeps at most 25 idle connections per host, so 32 concurrent
// requests made it open and close hundreds of TLS connections a second — a handicap for the
// anchor that a real API server would not impose. kgw speaks HTTP/1.1 upstream.
//
// Watches (the watch-scale module): `GET <list-50-pods path>?watch=true` is held open, and the
// bench drives it directly (its own credential, not through a proxy): `GET /bench/watches` says
// how many are open and over how many HTTP/2 connections; `POST /bench/events?count=N` writes N
// MODIFIED events of the bench pod, resourceVersion 1…N, to every open watch. Like kube-apiserver
// (250 by default), a connection carries at most 250 streams, so a proxy multiplexing thousands
// of watches upstream must open several connections.
//
// Run as its own process (`node dist/bench/servers/fixed-upstream.js <dir>`), so the upstream's
// CPU is not shared with the proxy under test nor with the load generator. Writes the CA to
// <dir>/ca.crt and prints one JSON line `{"url":…,"caFile":…}` when listening.
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createPki } from '@kgw/kube-sim';
import { benchPod, benchPodList, PROXY_PATHS, WATCH_CONTROL_PATHS } from '../support/fixtures';

/** Headers a real API server sends on every answer (priority and fairness, audit id, caching). */
function commonHeaders(length: number): Record<string, string | number> {
  return {
    'Audit-Id': '3f1d7a52-8a0c-4a8e-9c7e-2b1f5e6d7c80',
    'Cache-Control': 'no-cache, private',
    'Content-Type': 'application/json',
    'X-Kubernetes-Pf-Flowschema-Uid': 'b1a7c9d2-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    'X-Kubernetes-Pf-Prioritylevel-Uid': 'c2b8d0e3-5f6a-4b7c-9d8e-0f1a2b3c4d5e',
    'Content-Length': length,
  };
}

const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

const BODIES = new Map<string, Buffer>([
  [PROXY_PATHS['get-pod'], encode(benchPod('default', 'nginx', 0))],
  [PROXY_PATHS['list-50-pods'], encode(benchPodList())],
  ['/version', encode({ major: '1', minor: '32', gitVersion: 'v1.32.0-bench', platform: 'linux/amd64' })],
]);

const SAR_ALLOWED = encode({
  kind: 'SubjectAccessReview',
  apiVersion: 'authorization.k8s.io/v1',
  metadata: {},
  spec: {},
  status: { allowed: true, reason: 'bench upstream allows everything' },
});

const NOT_FOUND = encode({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'the bench upstream serves only its fixtures',
  reason: 'NotFound',
  code: 404,
});

const UNAUTHORIZED = encode({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: 'Unauthorized',
  reason: 'Unauthorized',
  code: 401,
});

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** SETTINGS_MAX_CONCURRENT_STREAMS, as kube-apiserver sends it by default. */
const STREAMS_PER_CONNECTION = 250;

const watchers = new Set<Response>();
let sessions = 0;

function isWatch(url: string): boolean {
  return /[?&]watch=(?:true|1)(?:&|$)/.test(url);
}

function openWatch(res: Response): void {
  res.writeHead(200, {
    'Audit-Id': '3f1d7a52-8a0c-4a8e-9c7e-2b1f5e6d7c80',
    'Cache-Control': 'no-cache, private',
    'Content-Type': 'application/json',
  });
  // The head now: a watch's first event may be minutes away.
  (res as ServerResponse).flushHeaders();
  watchers.add(res);
  res.on('close', () => watchers.delete(res));
}

/** N events to every open watch, in order; answers once all are handed to the sockets. */
function sendEvents(count: number): number {
  const pod = benchPod('default', 'nginx', 0);
  const metadata = pod.metadata as Record<string, unknown>;
  for (let n = 1; n <= count; n++) {
    metadata.resourceVersion = String(n);
    const line = Buffer.from(`${JSON.stringify({ type: 'MODIFIED', object: pod })}\n`);
    for (const res of watchers) (res as ServerResponse).write(line);
  }
  return watchers.size;
}

function answer(res: Response, code: number, body: Buffer): void {
  res.writeHead(code, commonHeaders(body.length));
  res.end(body);
}

function handle(req: Request, res: Response): void {
  // Like an API server, nothing without a credential (proves the proxies send theirs).
  if (!req.headers.authorization) {
    req.resume();
    return answer(res, 401, UNAUTHORIZED);
  }
  const url = req.url ?? '/';
  const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
  if (req.method === 'POST' && path === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
    req.resume();
    req.on('end', () => answer(res, 201, SAR_ALLOWED));
    return;
  }
  req.resume();
  if (req.method === 'GET' && path === PROXY_PATHS['list-50-pods'] && isWatch(url)) return openWatch(res);
  if (path === WATCH_CONTROL_PATHS.watches)
    return answer(res, 200, encode({ watches: watchers.size, sessions }));
  if (req.method === 'POST' && path === WATCH_CONTROL_PATHS.events) {
    const count = Number(new URLSearchParams(url.slice(path.length + 1)).get('count') ?? '1');
    return answer(res, 200, encode({ watchers: sendEvents(count), events: count }));
  }
  const body = req.method === 'GET' ? BODIES.get(path) : undefined;
  answer(res, body ? 200 : 404, body ?? NOT_FOUND);
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: fixed-upstream.js <dir>');
  const pki = await createPki(['localhost'], ['127.0.0.1']);
  const caFile = join(dir, 'fixed-upstream-ca.crt');
  writeFileSync(caFile, pki.ca.certPem);
  const server = createSecureServer(
    {
      cert: pki.serving.certPem,
      key: pki.serving.keyPem,
      allowHTTP1: true,
      settings: { maxConcurrentStreams: STREAMS_PER_CONNECTION },
    },
    handle,
  );
  server.on('session', (session) => {
    sessions++;
    session.once('close', () => sessions--);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `https://127.0.0.1:${port}`, caFile })}\n`);
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The bench owns this process: when it goes away (stdin closes), so do we.
  process.stdin.resume();
  process.stdin.on('end', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `fixed-upstream: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
