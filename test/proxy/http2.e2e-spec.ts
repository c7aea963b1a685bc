// HTTP/2 to clients on the TLS port: kubectl 1.32 negotiates h2 by ALPN for get, list and watch
// (the gateway's request log says which protocol each request came on), while exec and
// port-forward — upgrades — still arrive on HTTP/1.1 connections and work. The /kgw/ routes
// (Nest on express) answer over h2 too, and a request body without Content-Length (legal on
// h2) reaches the API server whole.
import { connect, type ClientHttp2Session } from 'node:http2';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';

let stack: GatewayStack;

beforeAll(async () => {
  stack = await startGatewayStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

interface LoggedRequest {
  httpVersion: string;
  method: string;
  path: string;
  upgrade: boolean;
}

/** The gateway's request log (debug level in the test stack), from line `from` on. */
function requestLog(from = 0): LoggedRequest[] {
  return stack
    .logLines()
    .slice(from)
    .map((line) => JSON.parse(line) as { msg?: string } & LoggedRequest)
    .filter((entry) => entry.msg === 'request');
}

async function h2Request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: (write: (chunk: string) => void) => void,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let text = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    stream.on('end', () => resolve({ status, body: text }));
    stream.on('error', reject);
    if (body) {
      body((chunk) => stream.write(chunk));
      stream.end();
    }
  });
}

describe('kubectl 1.32 over HTTP/2', () => {
  it('get, list and watch arrive as HTTP/2', async () => {
    const alice = stack.kubectl('alice');
    const from = stack.logLines().length;
    const got = await alice.run(['get', 'pod', 'nginx', '-o', 'name']);
    expect(got.stdout.trim()).toBe('pod/nginx');
    const listed = await alice.run(['get', 'pods', '-n', 'default', '-o', 'name']);
    expect(listed.stdout).toContain('pod/nginx');

    const watch = alice.start(['get', 'configmaps', '-n', 'team-b', '-w', '--output-watch-events']);
    await watch.waitFor(/NAME|kube-root-ca\.crt/);
    await alice.run(['create', 'configmap', 'h2-watched', '-n', 'team-b', '--from-literal=a=b']);
    await watch.waitFor(/ADDED\s+h2-watched/);
    await watch.stop();
    await alice.run(['delete', 'configmap', 'h2-watched', '-n', 'team-b']);

    const log = requestLog(from);
    const seen = (path: string) => log.filter((r) => r.path === path).map((r) => r.httpVersion);
    expect(seen('/api/v1/namespaces/default/pods/nginx')).toEqual(['2.0']);
    expect(seen('/api/v1/namespaces/default/pods')).toEqual(['2.0']);
    // The list and then the watch of configmaps (kubectl get -w), and the create.
    const configmaps = seen('/api/v1/namespaces/team-b/configmaps');
    expect(configmaps.length).toBeGreaterThanOrEqual(3);
    expect(new Set(configmaps)).toEqual(new Set(['2.0']));
  });

  it('exec and port-forward still work, as HTTP/1.1 upgrades on the same port', async () => {
    const alice = stack.kubectl('alice');
    const from = stack.logLines().length;
    const printed = await alice.run(['exec', 'nginx', '--', 'env']);
    expect(printed.stderr).toBe('');
    expect(printed.stdout).toMatch(/^HOSTNAME=nginx$/m);

    const forward = alice.start(['port-forward', 'pod/nginx', ':80']);
    const [, port] = await forward.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 80/);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain('Welcome to nginx!');
    await forward.stop();

    const upgrades = requestLog(from).filter((r) => r.upgrade);
    expect(upgrades.map((r) => r.path)).toEqual(
      expect.arrayContaining([
        '/api/v1/namespaces/default/pods/nginx/exec',
        '/api/v1/namespaces/default/pods/nginx/portforward',
      ]),
    );
    expect(new Set(upgrades.map((r) => r.httpVersion))).toEqual(new Set(['1.1']));
  });
});

describe('other HTTP/2 clients', () => {
  let session: ClientHttp2Session;
  beforeEach(() => {
    session = connect(stack.url, { ca: stack.caPem });
  });
  afterEach(() => session.close());

  it('the /kgw/ routes answer over HTTP/2 (express behind the compatibility API)', async () => {
    const health = await h2Request(session, { ':path': '/kgw/healthz' });
    expect(health).toEqual({ status: 200, body: '{"status":"ok"}' });
    const me = await h2Request(session, {
      ':path': '/kgw/v1/me',
      authorization: `Bearer ${CALLERS.bob.token}`,
    });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ user: { name: 'bob' }, kubernetes: { username: 'bob' } });
    const unknown = await h2Request(session, { ':path': '/kgw/v1/no-such-route' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: expect.any(String) });
  });

  it('a request body without Content-Length reaches the API server whole', async () => {
    const name = 'h2-body';
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name },
      data: { a: 'b' },
    });
    const created = await h2Request(
      session,
      {
        ':method': 'POST',
        ':path': '/api/v1/namespaces/team-a/configmaps',
        authorization: `Bearer ${CALLERS.bob.token}`,
        'content-type': 'application/json',
      },
      // Two DATA frames, no Content-Length: HTTP/2 frames the body itself.
      (write) => {
        write(manifest.slice(0, 10));
        write(manifest.slice(10));
      },
    );
    expect(created.status).toBe(201);
    expect(JSON.parse(created.body)).toMatchObject({ metadata: { name }, data: { a: 'b' } });
    const deleted = await h2Request(session, {
      ':method': 'DELETE',
      ':path': `/api/v1/namespaces/team-a/configmaps/${name}`,
      authorization: `Bearer ${CALLERS.bob.token}`,
    });
    expect(deleted.status).toBe(200);
  });

  it('repeated header fields stay separate values (two Impersonate-User fields are refused, not joined)', async () => {
    const res = await h2Request(session, {
      ':path': '/api/v1/namespaces/team-a/pods',
      authorization: `Bearer ${CALLERS.alice.token}`,
      // node:http2 sends an array as one header field per value; Node's `headers` would join
      // them into "bob, carol" — the chain reads the fields one by one, like the API server.
      'impersonate-user': ['bob', 'carol'] as unknown as string,
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).message).toMatch(/Impersonate-User may be given once/);
  });
});
