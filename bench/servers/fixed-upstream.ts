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
// Run as its own process (`node dist/bench/servers/fixed-upstream.js <dir>`), so the upstream's
// CPU is not shared with the proxy under test nor with the load generator. Writes the CA to
// <dir>/ca.crt and prints one JSON line `{"url":…,"caFile":…}` when listening.
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createPki } from '@kgw/kube-sim';
import { benchPod, benchPodList, PROXY_PATHS } from '../support/fixtures';

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
    { cert: pki.serving.certPem, key: pki.serving.keyPem, allowHTTP1: true },
    handle,
  );
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
