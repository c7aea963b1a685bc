// HTTP/2 to clients on the TLS port: kubectl 1.32 negotiates h2 by ALPN for get, list and watch
// (the gateway's request log says which protocol each request came on), while exec and
// port-forward — upgrades — still arrive on HTTP/1.1 connections and work. The /kgw/ routes
// (Nest on express) answer over h2 too, a request body without Content-Length (legal on h2)
// reaches the API server whole, and a client that resets a watch's stream or drops the
// connection cancels the watch at the API server.
import { connect, constants, type ClientHttp2Session } from 'node:http2';
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

  // A client that leaves a watch must end it at the API server too, or every watch a client ever
  // dropped stays open upstream (until its timeoutSeconds; the watch-scale bench once found all
  // of them left). Over HTTP/2 the compatibility response reports writableFinished once the
  // client reset the stream or dropped the connection, so that flag cannot tell "the client
  // left" from "the answer ended": the proxy asks writableEnded (forward-request.ts).
  it.each([
    ['resets the stream (RST_STREAM CANCEL) of an idle watch', 'reset'],
    ['drops the whole connection under an idle watch', 'drop'],
  ] as const)('a client that %s cancels the watch at the API server', async (_name, leave) => {
    const own = connect(stack.url, { ca: stack.caPem });
    const name = `h2-leave-${leave}`;
    const marker = `metadata.name%3D${name}`;
    const watch = own.request({
      ':path': `/api/v1/namespaces/team-b/configmaps?watch=1&fieldSelector=${marker}&timeoutSeconds=600`,
      authorization: `Bearer ${CALLERS.alice.token}`,
    });
    watch.on('error', () => undefined); // the reset is reported on this side too
    let text = '';
    watch.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const status = await new Promise<number>((resolve) =>
      watch.once('response', (h) => resolve(Number(h[':status']))),
    );
    expect(status).toBe(200);
    // One event first, so the stream has carried data and is then idle, as a real watch is.
    const created = await stack.request('alice', '/api/v1/namespaces/team-b/configmaps', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } }),
    });
    expect(created.status).toBe(201);
    await new Promise<void>((resolve) => {
      const seen = (): void => {
        if (!text.includes('"ADDED"')) return;
        watch.off('data', seen);
        resolve();
      };
      watch.on('data', seen);
      seen();
    });
    const [upstream] = stack.sim.requestLog.find((e) => e.verb === 'watch' && e.query.includes(marker));
    expect(upstream.status).toBeUndefined();

    if (leave === 'reset') watch.close(constants.NGHTTP2_CANCEL);
    else own.destroy();
    // The simulator completes a watch's log entry only when its upstream stream closes, which
    // only the gateway's cancel does here (timeoutSeconds is 600). Bounded, so a regression fails
    // with a message rather than the suite's timeout.
    let deadline: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      stack.sim.requestLog.waitFor((e) => e.verb === 'watch' && e.query.includes(marker)),
      new Promise<undefined>((resolve) => (deadline = setTimeout(resolve, 30_000, undefined))),
    ]);
    clearTimeout(deadline);
    expect(ended?.status).toBe(200);
    own.destroy();
    await stack.request('alice', `/api/v1/namespaces/team-b/configmaps/${name}`, { method: 'DELETE' });
  });
});
