// HTTP/2 to the API server (libs/kube/src/upstream-client.ts + upstream-http2.ts), end to end:
// the simulator offers h2 by ALPN as kube-apiserver does, so the gateway multiplexes proxied
// requests, watches and logs -f on its session pool. Checked here: the protocol that reached the
// API server (the simulator's request log), watch events and log lines arriving while their
// stream is still open (unbuffered), a client that goes away cancelling its upstream stream, 300
// watches through the gateway each receiving every event in order, the pool opening a second
// session when the server's stream limit is reached, a fresh session after GOAWAY, and HTTP/1.1
// against an API server that does not offer h2. The gateway-level checks run against both: an
// API server offering h2, and one speaking only HTTP/1.1 (undici's pool in upstream-client.ts).
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  exchangeWithUpstream,
  loadUpstream,
  requestUpstream,
  type Upstream,
  type UpstreamResponse,
} from '@kgw/kube';
import { createPki, SIM_MAX_CONCURRENT_STREAMS, startSimulator } from '@kgw/kube-sim';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';

/** An open streaming response from the gateway: its text so far, and a way to await more. */
interface OpenStream {
  response: http.IncomingMessage;
  text(): string;
  waitFor(pattern: RegExp): Promise<void>;
  close(): void;
}

function openStream(stack: GatewayStack, path: string, agent?: https.Agent): Promise<OpenStream> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        hostname: url.hostname,
        port: url.port,
        path,
        ca: stack.caPem,
        agent: agent ?? false,
        headers: { authorization: `Bearer ${CALLERS.alice.token}` },
      },
      (response) => {
        let text = '';
        const waiters: Array<{ pattern: RegExp; done: () => void }> = [];
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
          for (const waiter of [...waiters]) {
            if (waiter.pattern.test(text)) {
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.done();
            }
          }
        });
        response.on('error', () => undefined);
        resolve({
          response,
          text: () => text,
          waitFor: (pattern) =>
            pattern.test(text) ? Promise.resolve() : new Promise((done) => waiters.push({ pattern, done })),
          close: () => request.destroy(),
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe.each([
  { protocol: 'HTTP/2', simHttp2: true, httpVersion: '2.0' },
  { protocol: 'HTTP/1.1 only', simHttp2: false, httpVersion: '1.1' },
])('through the gateway, to an API server speaking $protocol', ({ simHttp2, httpVersion }) => {
  let stack: GatewayStack;
  beforeAll(async () => {
    // One user holds 300 watches below: lift the per-user long-running limit (default 100),
    // which test/operations/limits.e2e-spec.ts covers on its own.
    stack = await startGatewayStack({ simHttp2, env: { KGW_LIMITS_USER_LONGRUNNING: '0' } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it(`proxied requests reach the API server over HTTP/${simHttp2 ? '2' : '1.1'}; SubjectAccessReviews too`, async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/pods/nginx');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Pod', metadata: { name: 'nginx' } });
    const [get] = stack.sim.requestLog.find(
      (e) => e.path === '/api/v1/namespaces/default/pods/nginx' && e.impersonation?.user === 'alice',
    );
    expect(get.httpVersion).toBe(httpVersion);
    const reviews = stack.sim.requestLog.find((e) => e.path.endsWith('/subjectaccessreviews'));
    expect(reviews.length).toBeGreaterThan(0);
    for (const review of reviews) expect(review.httpVersion).toBe(httpVersion);
  });

  it('a request body streamed without Content-Length reaches the API server whole, and is audited', async () => {
    const name = `streamed-body-${simHttp2 ? 'h2' : 'h1'}`;
    const url = new URL(stack.url);
    const status = await new Promise<number>((resolve, reject) => {
      const request = https.request(
        {
          hostname: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/api/v1/namespaces/team-b/configmaps',
          ca: stack.caPem,
          agent: false,
          headers: { authorization: `Bearer ${CALLERS.alice.token}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      // Two writes, no Content-Length: chunked to the gateway, streamed on to the API server.
      const body = JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name },
        data: { a: 'b' },
      });
      request.write(body.slice(0, 20));
      setImmediate(() => request.end(body.slice(20)));
    });
    expect(status).toBe(201);
    const created = await stack.request('alice', `/api/v1/namespaces/team-b/configmaps/${name}`);
    expect(JSON.parse(created.body)).toMatchObject({ data: { a: 'b' } });
    const [post] = stack.sim.requestLog.find((e) => e.method === 'POST' && e.path.endsWith('/configmaps'));
    expect(post.httpVersion).toBe(httpVersion);
    for (;;) {
      const { rows } = await stack.gateway.db.pool.query<{ bytes_in: string }>(
        `SELECT bytes_in FROM audit_event WHERE verb = 'create' AND name IS NULL AND resource = 'configmaps' AND code = 201 ORDER BY time DESC LIMIT 1`,
      );
      if (rows[0]) {
        expect(Number(rows[0].bytes_in)).toBeGreaterThan(40);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await stack.request('alice', `/api/v1/namespaces/team-b/configmaps/${name}`, { method: 'DELETE' });
  });

  it('a watch event arrives while the stream is open; closing the client cancels the upstream stream', async () => {
    const marker = 'metadata.name%3Dh2-watched';
    const watch = await openStream(
      stack,
      `/api/v1/namespaces/team-b/configmaps?watch=1&fieldSelector=${marker}&timeoutSeconds=600`,
    );
    expect(watch.response.statusCode).toBe(200);
    const created = await stack.request('alice', '/api/v1/namespaces/team-b/configmaps', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'h2-watched' } }),
    });
    expect(created.status).toBe(201);
    await watch.waitFor(/"type":"ADDED".*"name":"h2-watched"/);
    // The event came through while the watch is still open: nothing waited for its end.
    expect(watch.response.complete).toBe(false);
    const [upstreamWatch] = stack.sim.requestLog.find((e) => e.query.includes(marker));
    expect(upstreamWatch.httpVersion).toBe(httpVersion);
    expect(upstreamWatch.status).toBeUndefined();

    watch.close();
    // The simulator completes a watch's log entry only when its stream closes: the RST_STREAM
    // (HTTP/2) or the closed connection (HTTP/1.1) the gateway sent when the client went away is
    // what closes it (timeoutSeconds is 600).
    const ended = await stack.sim.requestLog.waitFor((e) => e.query.includes(marker));
    expect(ended.status).toBe(200);
    await stack.request('alice', '/api/v1/namespaces/team-b/configmaps/h2-watched', { method: 'DELETE' });
  });

  it('logs -f: a line arrives while the stream is open; closing the client ends the upstream stream', async () => {
    const logs = await openStream(stack, '/api/v1/namespaces/default/pods/nginx/log?follow=true&tailLines=0');
    expect(logs.response.statusCode).toBe(200);
    // No signal says "the follow stream is attached": make marked requests until one shows up.
    for (let attempt = 0; !/after-follow-\d+/.test(logs.text()); attempt++) {
      if (attempt > 100) throw new Error(`logs -f showed nothing: ${logs.text()}`);
      const res = await stack.request(
        'alice',
        `/api/v1/namespaces/default/pods/nginx/proxy/echo/after-follow-${attempt}`,
      );
      expect(res.status).toBe(200);
      await Promise.race([logs.waitFor(/after-follow-\d+/), new Promise((r) => setTimeout(r, 200))]);
    }
    expect(logs.response.complete).toBe(false);
    const isFollow = (e: { path: string; query: string }): boolean =>
      e.path === '/api/v1/namespaces/default/pods/nginx/log' && e.query.includes('follow=true');
    expect(stack.sim.requestLog.find(isFollow)[0].httpVersion).toBe(httpVersion);
    logs.close();
    await stack.sim.requestLog.waitFor(isFollow);
  });

  // Multiplexed upstream only: over HTTP/1.1 each watch holds a connection of the pool (256).
  if (simHttp2)
    it('300 watches over HTTP/1.1 client connections, multiplexed upstream: every watcher gets every event, in order', async () => {
      const watchers = 300;
      const events = 10;
      const agent = new https.Agent({ keepAlive: false, maxSockets: Infinity });
      const name = 'h2-fanout';
      const streams = await Promise.all(
        Array.from({ length: watchers }, () =>
          openStream(
            stack,
            `/api/v1/namespaces/team-b/configmaps?watch=1&fieldSelector=metadata.name%3D${name}&timeoutSeconds=600`,
            agent,
          ),
        ),
      );
      for (const s of streams) expect(s.response.statusCode).toBe(200);
      const base = '/api/v1/namespaces/team-b/configmaps';
      const body = (n: number): string =>
        JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { n: String(n) } });
      expect(
        (
          await stack.request('alice', base, {
            method: 'POST',
            body: body(0),
            headers: { 'content-type': 'application/json' },
          })
        ).status,
      ).toBe(201);
      for (let n = 1; n < events; n++) {
        const res = await stack.request('alice', `${base}/${name}`, {
          method: 'PUT',
          body: body(n),
          headers: { 'content-type': 'application/json' },
        });
        expect(res.status).toBe(200);
      }
      await Promise.all(streams.map((s) => s.waitFor(new RegExp(`"n":"${events - 1}"`))));
      for (const s of streams) {
        const seen = s
          .text()
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { type: string; object: { data: { n: string } } });
        expect(seen.map((e) => e.type)).toEqual(['ADDED', ...Array<string>(events - 1).fill('MODIFIED')]);
        expect(seen.map((e) => Number(e.object.data.n))).toEqual(Array.from({ length: events }, (_, n) => n));
        s.close();
      }
      agent.destroy();
      const upstreamWatches = stack.sim.requestLog.find(
        (e) => e.verb === 'watch' && e.query.includes(`metadata.name%3D${name}`),
      );
      expect(upstreamWatches).toHaveLength(watchers);
      for (const e of upstreamWatches) expect(e.httpVersion).toBe('2.0');
      await stack.request('alice', `${base}/${name}`, { method: 'DELETE' });
    }, 120_000);
});

describe('the upstream client against HTTP/2 servers', () => {
  function upstreamFor(url: string, caPem: string, token: string): Upstream {
    return loadUpstream({ mode: 'direct', url, caPem, token });
  }

  function watchOnce(upstream: Upstream, token: string, path: string): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      requestUpstream(
        upstream,
        { method: 'GET', path, headers: { authorization: `Bearer ${token}` } },
        { onResponse: resolve, onError: reject },
      );
    });
  }

  it('opens another session when the server stream limit is reached, and closes it when it empties', async () => {
    const sim = await startSimulator({ scenario: 'empty' });
    const upstream = upstreamFor(sim.url, sim.caPem, sim.adminToken);
    try {
      const open = SIM_MAX_CONCURRENT_STREAMS + 10;
      const responses = await Promise.all(
        Array.from({ length: open }, () =>
          watchOnce(
            upstream,
            sim.adminToken,
            '/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=600',
          ),
        ),
      );
      for (const r of responses) expect([r.protocol, r.statusCode]).toEqual(['h2', 200]);
      expect(upstream.http2?.stats()).toEqual({ sessions: 2, streams: open });
      const closed = responses.map((r) => new Promise((done) => r.body.once('close', done)));
      for (const r of responses) r.body.destroy();
      await Promise.all(closed);
      await new Promise((r) => setImmediate(r));
      expect(upstream.http2?.stats()).toEqual({ sessions: 1, streams: 0 });
    } finally {
      upstream.close();
      await sim.stop();
    }
  }, 60_000);

  it('speaks HTTP/1.1 to an API server that does not offer h2 by ALPN', async () => {
    const sim = await startSimulator({ scenario: 'empty', http2: false });
    const upstream = upstreamFor(sim.url, sim.caPem, sim.adminToken);
    try {
      const response = await watchOnce(upstream, sim.adminToken, '/api/v1/namespaces');
      expect(response.protocol).toBe('http/1.1');
      response.body.resume();
      const answer = await exchangeWithUpstream(upstream, {
        method: 'GET',
        path: '/version',
        headers: { authorization: `Bearer ${sim.adminToken}` },
        timeoutMs: 10_000,
        timeoutError: () => new Error('timeout'),
      });
      expect(answer.statusCode).toBe(200);
      expect(sim.requestLog.entries.map((e) => e.httpVersion)).toEqual(['1.1', '1.1']);
    } finally {
      upstream.close();
      await sim.stop();
    }
  }, 60_000);

  it('after GOAWAY, the next request goes over a fresh session; a reset stream fails the request', async () => {
    const pki = await createPki(['localhost'], ['127.0.0.1']);
    const server = http2.createSecureServer({ key: pki.serving.keyPem, cert: pki.serving.certPem });
    const sessions = new Set<http2.ServerHttp2Session>();
    let seen = 0;
    server.on('session', (session) => sessions.add(session));
    server.on('stream', (stream, headers) => {
      seen++;
      if (headers[':path'] === '/reset') {
        stream.on('error', () => undefined); // the reset is reported on this side too
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`answer ${seen}`);
      // Like an API server going away (kube-apiserver's --goaway-chance, a restart).
      if (headers[':path'] === '/goaway') stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const upstream = upstreamFor(`https://127.0.0.1:${port}`, pki.ca.certPem, 'unused');
    const get = (path: string): Promise<{ status: number; body: string }> =>
      exchangeWithUpstream(upstream, {
        method: 'GET',
        path,
        headers: {},
        timeoutMs: 10_000,
        timeoutError: () => new Error('timeout'),
      }).then((a) => ({ status: a.statusCode, body: a.body }));
    try {
      expect(await get('/goaway')).toEqual({ status: 200, body: 'answer 1' });
      expect(await get('/after')).toEqual({ status: 200, body: 'answer 2' });
      expect(sessions.size).toBe(2);
      await expect(get('/reset')).rejects.toThrow(/NGHTTP2_INTERNAL_ERROR/);
      expect(await get('/still-fine')).toEqual({ status: 200, body: 'answer 4' });
    } finally {
      upstream.close();
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);
});
