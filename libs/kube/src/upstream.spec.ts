import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { loadUpstream, UpstreamConfigError, type Upstream } from './upstream';
import { SubjectAccessReviewClient, upstreamReviewTransport } from './subject-access-review';
import { exchangeWithUpstream, requestUpstream } from './upstream-client';

let dir: string;
let caPem: string;
let serverKey: string;
let serverCert: string;
let otherCaPem: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kgw-upstream-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=kgw-test-ca',
    '-days',
    '2',
  );
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'other.key',
    '-out',
    'other.crt',
    '-subj',
    '/CN=other-ca',
    '-days',
    '2',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:kube.test\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  caPem = fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8');
  otherCaPem = fs.readFileSync(path.join(dir, 'other.crt'), 'utf8');
  serverKey = fs.readFileSync(path.join(dir, 'server.key'), 'utf8');
  serverCert = fs.readFileSync(path.join(dir, 'server.crt'), 'utf8');
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Listens on a free loopback port; resolves with it. */
async function listenOnLoopback(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** An API server at https://127.0.0.1:`port` (the test CA), reached over HTTP/1.1 only. */
function http11Upstream(port: number): Upstream {
  return loadUpstream(
    { mode: 'direct', url: `https://127.0.0.1:${port}`, caPem, token: 't' },
    { http2: 'off' },
  );
}

function writeKubeconfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');

function kubeconfig(cluster: string, user: string, extra = ''): string {
  return `apiVersion: v1
kind: Config
current-context: main
contexts:
- name: main
  context: {cluster: c1, user: u1, namespace: team-a}
- name: other
  context: {cluster: c2, user: u1}
clusters:
- name: c1
  cluster:
${cluster}
users:
- name: u1
  user:
${user}
${extra}`;
}

describe('loadUpstream: kubeconfig', () => {
  it('reads server with a path prefix, CA data and token; describe() has no secret', () => {
    const file = writeKubeconfig(
      'token.yaml',
      kubeconfig(
        `    server: https://127.0.0.1:6443/k8s/clusters/c-1/\n    certificate-authority-data: ${b64(caPem)}`,
        `    token: s3cret-token`,
      ),
    );
    const upstream = loadUpstream({ mode: 'kubeconfig', path: file });
    expect(upstream.url.href).toBe('https://127.0.0.1:6443/k8s/clusters/c-1/');
    expect(upstream.basePath).toBe('/k8s/clusters/c-1');
    expect(upstream.namespace).toBe('team-a');
    expect(upstream.authorizationHeader()).toBe('Bearer s3cret-token');
    expect(upstream.insecureSkipTlsVerify).toBe(false);
    expect(upstream.describe()).toContain('context "main"');
    expect(upstream.describe()).not.toContain('s3cret');
    expect(upstream.agent.options.keepAlive).toBe(true);
    expect(upstream.agent.options.rejectUnauthorized).toBe(true);
    upstream.close();
  });

  it('resolves certificate-authority and client certificate files relative to the kubeconfig', () => {
    const file = writeKubeconfig(
      'certs.yaml',
      kubeconfig(
        `    server: https://kube.test:6443\n    certificate-authority: ca.crt\n    tls-server-name: kube.test`,
        `    client-certificate: server.crt\n    client-key: server.key`,
      ),
    );
    const upstream = loadUpstream({ mode: 'kubeconfig', path: file });
    expect(upstream.authorizationHeader()).toBeUndefined();
    expect(upstream.tlsServerName).toBe('kube.test');
    expect(String(upstream.agent.options.ca)).toBe(caPem);
    expect(String(upstream.agent.options.cert)).toBe(serverCert);
    expect(upstream.describe()).toContain('client certificate');
    expect(upstream.describe()).not.toContain('PRIVATE KEY');
    upstream.close();
  });

  it('flags insecure-skip-tls-verify with a warning', () => {
    const file = writeKubeconfig(
      'insecure.yaml',
      kubeconfig(`    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true`, `    token: t`),
    );
    const upstream = loadUpstream({ mode: 'kubeconfig', path: file });
    expect(upstream.insecureSkipTlsVerify).toBe(true);
    expect(upstream.agent.options.rejectUnauthorized).toBe(false);
    expect(upstream.warnings.join('\n')).toMatch(/insecure-skip-tls-verify.*NOT verified/);
    upstream.close();
  });

  it('re-reads a rotating tokenFile (mtime check, injected clock)', () => {
    const tokenFile = path.join(dir, 'rotating-token');
    fs.writeFileSync(tokenFile, 'first\n');
    const file = writeKubeconfig(
      'tokenfile.yaml',
      kubeconfig(
        `    server: https://127.0.0.1:6443\n    certificate-authority: ca.crt`,
        `    tokenFile: rotating-token`,
      ),
    );
    let now = 0;
    const upstream = loadUpstream(
      { mode: 'kubeconfig', path: file },
      { now: () => now, tokenRecheckMs: 1000 },
    );
    expect(upstream.authorizationHeader()).toBe('Bearer first');
    fs.writeFileSync(tokenFile, 'second-token\n');
    expect(upstream.authorizationHeader()).toBe('Bearer first'); // not re-checked yet
    now += 1000;
    expect(upstream.authorizationHeader()).toBe('Bearer second-token');
    fs.rmSync(tokenFile);
    now += 1000;
    expect(upstream.authorizationHeader()).toBe('Bearer second-token'); // last good token survives a gap
    upstream.close();
  });

  it.each([
    ['a missing file', null, /kubeconfig .*missing\.yaml: cannot read .*ENOENT/],
    [
      'no current context',
      'apiVersion: v1\nclusters: []\n',
      /no context was given and current-context is not set/,
    ],
    [
      'an unknown context',
      kubeconfig('    server: https://x', '    token: t').replace(
        'current-context: main',
        'current-context: nope',
      ),
      /context "nope" not found in contexts \(have "main", "other"\)/,
    ],
    [
      'a context whose cluster is missing',
      kubeconfig('    server: https://x', '    token: t').replace(
        'current-context: main',
        'current-context: other',
      ),
      /cluster "c2" not found in clusters \(have "c1"\)/,
    ],
    [
      'no server',
      kubeconfig('    certificate-authority: ca.crt', '    token: t'),
      /cluster "c1": server is missing/,
    ],
    ['an http server', kubeconfig('    server: http://127.0.0.1:8080', '    token: t'), /must use https/],
    [
      'CA file and data together',
      kubeconfig(
        `    server: https://x\n    certificate-authority: ca.crt\n    certificate-authority-data: ${b64('placeholder')}`,
        '    token: t',
      ),
      /both set/,
    ],
    [
      'insecure with a CA',
      kubeconfig(
        `    server: https://x\n    certificate-authority: ca.crt\n    insecure-skip-tls-verify: true`,
        '    token: t',
      ),
      /cannot be combined/,
    ],
    [
      'an unreadable CA file',
      kubeconfig(`    server: https://x\n    certificate-authority: nope.crt`, '    token: t'),
      /cluster "c1": certificate-authority: cannot read .*nope\.crt/,
    ],
    [
      'bad base64',
      kubeconfig(`    server: https://x\n    certificate-authority-data: "%%%"`, '    token: t'),
      /certificate-authority-data: not valid base64/,
    ],
    [
      'a client cert without key',
      kubeconfig(`    server: https://x`, '    client-certificate: server.crt'),
      /user "u1": client-key\(-data\) is missing/,
    ],
    [
      'an exec plugin',
      kubeconfig(`    server: https://x`, '    exec: {command: kgw}'),
      /user "u1": "exec" credentials are not supported/,
    ],
    ['no credential', kubeconfig(`    server: https://x`, '    {}'), /user "u1": no credential/],
    ['not YAML', 'a: [b', /not valid YAML/],
  ])('names the file and the missing piece for %s', (_description, text, message) => {
    const file =
      text === null ? path.join(dir, 'missing.yaml') : writeKubeconfig(`bad-${Math.random()}.yaml`, text);
    expect(() => loadUpstream({ mode: 'kubeconfig', path: file })).toThrow(UpstreamConfigError);
    expect(() => loadUpstream({ mode: 'kubeconfig', path: file })).toThrow(message);
  });

  it('takes an explicit context over current-context', () => {
    const file = writeKubeconfig('ctx.yaml', kubeconfig('    server: https://x', '    token: t'));
    expect(() => loadUpstream({ mode: 'kubeconfig', path: file, context: 'other' })).toThrow(
      /cluster "c2" not found/,
    );
  });
});

describe('loadUpstream: in-cluster', () => {
  function serviceAccountDir(): string {
    const saDir = fs.mkdtempSync(path.join(dir, 'sa-'));
    fs.writeFileSync(path.join(saDir, 'ca.crt'), caPem);
    fs.writeFileSync(path.join(saDir, 'token'), 'sa-token-1');
    fs.writeFileSync(path.join(saDir, 'namespace'), 'kgw-system');
    return saDir;
  }

  it('builds the URL from the service env, and re-reads the rotated token', () => {
    const saDir = serviceAccountDir();
    let now = 0;
    const upstream = loadUpstream(
      {
        mode: 'in-cluster',
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
        saDir,
      },
      { now: () => now, tokenRecheckMs: 500 },
    );
    expect(upstream.url.href).toBe('https://10.96.0.1/');
    expect(upstream.namespace).toBe('kgw-system');
    expect(upstream.authorizationHeader()).toBe('Bearer sa-token-1');
    // The kubelet swaps the file atomically; a new inode/mtime is what we notice.
    fs.writeFileSync(path.join(saDir, 'token.new'), 'sa-token-2');
    fs.renameSync(path.join(saDir, 'token.new'), path.join(saDir, 'token'));
    now += 500;
    expect(upstream.authorizationHeader()).toBe('Bearer sa-token-2');
    expect(upstream.describe()).not.toContain('sa-token');
    upstream.close();
  });

  it('brackets an IPv6 service host', () => {
    const upstream = loadUpstream({
      mode: 'in-cluster',
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
      saDir: serviceAccountDir(),
    });
    expect(upstream.url.host).toBe('[fd00::1]:6443');
    upstream.close();
  });

  it('says what is missing outside a cluster', () => {
    expect(() => loadUpstream({ mode: 'in-cluster', env: {} })).toThrow(
      /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT/,
    );
  });

  it('says which file is missing', () => {
    const saDir = serviceAccountDir();
    fs.rmSync(path.join(saDir, 'token'));
    expect(() =>
      loadUpstream({
        mode: 'in-cluster',
        env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' },
        saDir,
      }),
    ).toThrow(/token file .*token/);
  });
});

describe('direct upstream over real TLS', () => {
  let server: https.Server;
  let port: number;
  const seen: Array<{ url: string; headers: Record<string, unknown>; body: string }> = [];

  beforeAll(async () => {
    server = https.createServer({ key: serverKey, cert: serverCert }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: { allowed: true } }));
      });
    });
    port = await listenOnLoopback(server);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  let upstream: Upstream | undefined;
  afterEach(() => upstream?.close());

  it('verifies the server against the CA and sends the gateway token, prefixed path, no impersonation', async () => {
    upstream = loadUpstream({
      mode: 'direct',
      url: `https://127.0.0.1:${port}/prefix`,
      caPem,
      token: 'gw-token',
    });
    const client = new SubjectAccessReviewClient(upstreamReviewTransport(upstream));
    const decision = await client.review(
      { username: 'alice', groups: ['dev'] },
      { kind: 'nonResource', verb: 'get', path: '/healthz' },
    );
    expect(decision.allowed).toBe(true);
    const request = seen[seen.length - 1];
    expect(request.url).toBe('/prefix/apis/authorization.k8s.io/v1/subjectaccessreviews');
    expect(request.headers.authorization).toBe('Bearer gw-token');
    expect(Object.keys(request.headers).filter((name) => name.startsWith('impersonate-'))).toEqual([]);
    expect(JSON.parse(request.body).spec.user).toBe('alice');
  });

  it('refuses a server whose certificate another CA signed', async () => {
    upstream = loadUpstream({
      mode: 'direct',
      url: `https://127.0.0.1:${port}`,
      caPem: otherCaPem,
      token: 't',
    });
    const client = new SubjectAccessReviewClient(upstreamReviewTransport(upstream));
    await expect(
      client.review({ username: 'a', groups: [] }, { kind: 'nonResource', verb: 'get', path: '/' }),
    ).rejects.toThrow(/certificate/i);
  });
});

describe('kubeconfig upstream over real TLS: client certificate and tls-server-name (HTTP/1.1)', () => {
  let server: https.Server;
  let port: number;
  const seen: Array<{ servername: string | false; clientCn: unknown; authorization?: string }> = [];

  beforeAll(async () => {
    // An API server that wants a client certificate from the CA (as kube-apiserver with
    // --client-ca-file) and offers only HTTP/1.1: the request goes through undici's pool.
    server = https.createServer(
      { key: serverKey, cert: serverCert, ca: caPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        seen.push({
          servername: (socket as { servername?: string | false }).servername ?? false,
          clientCn: socket.getPeerCertificate().subject?.CN,
          authorization: req.headers.authorization,
        });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      },
    );
    port = await listenOnLoopback(server);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function upstreamNamed(tlsServerName: string): Upstream {
    const file = writeKubeconfig(
      `mtls-${tlsServerName}.yaml`,
      kubeconfig(
        `    server: https://127.0.0.1:${port}\n    certificate-authority: ca.crt\n    tls-server-name: ${tlsServerName}`,
        `    client-certificate: server.crt\n    client-key: server.key`,
      ),
    );
    // HTTP/2 off: with 'auto' the ALPN probe would refuse the certificate first, and undici's
    // own identity check would never be reached.
    return loadUpstream({ mode: 'kubeconfig', path: file }, { http2: 'off' });
  }

  const get = (upstream: Upstream) =>
    exchangeWithUpstream(upstream, {
      method: 'GET',
      path: '/version',
      headers: {},
      timeoutMs: 10_000,
      timeoutError: () => new Error('timeout'),
    });

  it('presents the client certificate, sends SNI tls-server-name and checks the certificate against it', async () => {
    const upstream = upstreamNamed('kube.test');
    try {
      expect(await get(upstream)).toEqual({ statusCode: 200, body: 'ok' });
      expect(seen[seen.length - 1]).toEqual({
        servername: 'kube.test',
        clientCn: 'kube-apiserver',
        authorization: undefined,
      });
    } finally {
      upstream.close();
    }
  });

  it('refuses a server whose certificate does not name tls-server-name (though it names the dialled IP)', async () => {
    const upstream = upstreamNamed('elsewhere.test');
    try {
      await expect(get(upstream)).rejects.toThrow(/elsewhere\.test/);
    } finally {
      upstream.close();
    }
  });
});

describe('an API server that accepts connections and never answers (HTTP/1.1)', () => {
  it('a request with timeoutMs fails with its timeout error, the TLS handshake counted', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => sockets.add(socket));
    const upstream = http11Upstream(await listenOnLoopback(server));
    try {
      await expect(
        exchangeWithUpstream(upstream, {
          method: 'GET',
          path: '/version',
          headers: {},
          timeoutMs: 300,
          timeoutError: () => new Error('no answer within 300 ms'),
        }),
      ).rejects.toThrow('no answer within 300 ms');
    } finally {
      upstream.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('a request undici refuses at once (HTTP/1.1)', () => {
  // Callers refer to the request they were handed from onError (kube-watch: `const request =
  // requestUpstream(…)`): a failure delivered before requestUpstream() returned hit its TDZ.
  it.each([
    ['the upstream was closed (shutdown)', true, '/version', {}],
    ['a header value with a line break', false, '/version', { 'x-a': 'a\r\nb' }],
    ['a path not starting with a slash', false, 'version', {}],
  ])('%s: onError comes after requestUpstream() returned', async (_case, closed, requestPath, headers) => {
    const upstream = http11Upstream(1);
    if (closed) upstream.close();
    try {
      const events: string[] = [];
      const failed = new Promise<Error>((resolve) => {
        requestUpstream(
          upstream,
          { method: 'GET', path: requestPath, headers: { ...headers } },
          {
            onResponse: () => events.push('response'),
            onError: (error) => {
              events.push('error');
              resolve(error);
            },
          },
        );
        events.push('returned');
      });
      await expect(failed).resolves.toBeInstanceOf(Error);
      expect(events).toEqual(['returned', 'error']);
    } finally {
      upstream.close();
    }
  });
});

describe('a request body sent over HTTP/1.1', () => {
  it("is read whole and left undestroyed: undici destroys only its own stream, never the caller's (the client's request)", async () => {
    const server = https.createServer({ key: serverKey, cert: serverCert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(Buffer.concat(chunks)));
    });
    const upstream = http11Upstream(await listenOnLoopback(server));
    try {
      // As an IncomingMessage: not destroyed by its own end.
      const body = new Readable({ read: () => undefined, autoDestroy: false });
      body.push('hello ');
      body.push('world');
      body.push(null);
      const answer = await new Promise<string>((resolve, reject) => {
        requestUpstream(
          upstream,
          { method: 'POST', path: '/echo', headers: {}, body },
          {
            onResponse: (response) => {
              const chunks: Buffer[] = [];
              response.body.on('data', (chunk: Buffer) => chunks.push(chunk));
              response.body.on('end', () => resolve(Buffer.concat(chunks).toString()));
            },
            onError: reject,
          },
        );
      });
      expect(answer).toBe('hello world');
      await new Promise((resolve) => setImmediate(resolve));
      expect(body.destroyed).toBe(false);
    } finally {
      upstream.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
