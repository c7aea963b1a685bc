// Limits against one caller starving the others, table-driven: each row names the attack it
// stops. Request rates per user and per personal token (429 Status with Retry-After, other
// callers unaffected), long-running requests per user, header and body sizes. The limits are set
// low here so a handful of requests reaches them.
import type { ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { WebSocket } from 'ws';
import { encodeFrame, FrameType, SUBPROTOCOL } from '@kgw/tunnel';
import {
  startGatewayStack,
  type CallerName,
  type GatewayStack,
  type HttpResult,
} from '../support/gateway-stack';

let stack: GatewayStack;

beforeAll(async () => {
  stack = await startGatewayStack({
    env: {
      KGW_LIMITS_USER_RATE: '1',
      KGW_LIMITS_USER_BURST: '10',
      KGW_LIMITS_TOKEN_RATE: '1',
      KGW_LIMITS_TOKEN_BURST: '3',
      KGW_LIMITS_USER_LONGRUNNING: '2',
      // A tunnel whose WebSocket closed ends at once (no resume wait): its slot comes back then.
      KGW_FORWARD_RESUME_GRACE_SECONDS: '0',
      KGW_HTTP_MAX_BODY_BYTES: '65536',
      // Not Node's own 16 KiB: the rows show the setting is what applies (on the TLS port, whose
      // HTTP/1.1 clients reach the HTTP/2 server's fallback).
      KGW_HTTP_MAX_HEADER_BYTES: '24576',
    },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

/** Sends until the gateway answers 429 (at most `max` requests); returns every answer. */
async function untilRefused(send: () => Promise<HttpResult>, max = 60): Promise<HttpResult[]> {
  const answers: HttpResult[] = [];
  while (answers.length < max) {
    const res = await send();
    answers.push(res);
    if (res.status === 429) break;
  }
  return answers;
}

function expectTooManyRequests(res: HttpResult, message: RegExp): void {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  const status = JSON.parse(res.body);
  expect(status).toMatchObject({
    kind: 'Status',
    status: 'Failure',
    reason: 'TooManyRequests',
    code: 429,
    details: { retryAfterSeconds: retryAfter },
  });
  expect(status.message).toMatch(message);
}

async function auditReason(requestId: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const { rows } = await stack.gateway.db.pool.query<{ reason: string }>(
      'SELECT reason FROM audit_event WHERE request_id = $1',
      [requestId],
    );
    if (rows.length > 0) return rows[0].reason;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no audit row for ${requestId}`);
}

describe('request rates', () => {
  it('stops: one user flooding the gateway (429 after the burst; other users unaffected)', async () => {
    const answers = await untilRefused(() => stack.request('bob', '/api/v1/namespaces/team-a/pods'));
    // The burst is served, then the user is held to the rate.
    expect(answers.length).toBeGreaterThan(10);
    expect(answers.slice(0, 10).every((r) => r.status === 200)).toBe(true);
    const refused = answers.at(-1)!;
    expectTooManyRequests(refused, /too many requests from user "bob"/);
    expect(await auditReason(String(refused.headers['x-request-id']))).toMatch(/^limit user-rate/);
    // Carol is not bob: her requests pass while bob is throttled.
    expect((await stack.request('carol', '/api/v1/namespaces/default/pods')).status).toBe(200);
  });

  it('stops: a runaway script with a personal token (the token is throttled, its owner is not)', async () => {
    const created = await stack.request('alice', '/kgw/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'runaway-script' }),
    });
    expect(created.status).toBe(201);
    const { token } = JSON.parse(created.body) as { token: string };
    const answers = await untilRefused(() =>
      stack.request(undefined, '/api/v1/namespaces/default/pods', {
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    expect(answers.slice(0, 3).every((r) => r.status === 200)).toBe(true);
    expectTooManyRequests(answers.at(-1)!, /too many requests with this token/);
    // Alice's other credential still works: the token's limit is the token's.
    expect((await stack.request('alice', '/api/v1/namespaces/default/pods')).status).toBe(200);
  });
});

describe('long-running requests', () => {
  const open: ClientRequest[] = [];
  afterEach(() => {
    for (const req of open.splice(0)) req.destroy();
  });

  /** Starts a watch as `caller`; resolves with its status once the answer's headers arrived. */
  function watch(caller: CallerName): Promise<{ status: number; req: ClientRequest; body: () => string }> {
    const url = new URL(stack.url);
    return new Promise((done, fail) => {
      const chunks: Buffer[] = [];
      const req = httpsRequest(
        {
          hostname: url.hostname,
          port: url.port,
          path: '/api/v1/namespaces/default/pods?watch=1',
          ca: stack.caPem,
          agent: false,
          headers: { authorization: `Bearer tok-${caller}-0123456789` },
        },
        (res) => {
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', () => undefined);
          done({ status: res.statusCode ?? 0, req, body: () => Buffer.concat(chunks).toString() });
        },
      );
      req.on('error', (err) => (req.destroyed ? undefined : fail(err)));
      open.push(req);
      req.end();
    });
  }

  it('stops: one user holding ever more watches open (429 beyond the maximum, until one closes)', async () => {
    const first = await watch('carol');
    const second = await watch('carol');
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await watch('carol');
    expect(third.status).toBe(429);
    await new Promise((r) => third.req.once('close', r));
    expect(JSON.parse(third.body())).toMatchObject({ reason: 'TooManyRequests', code: 429 });
    expect(JSON.parse(third.body()).message).toMatch(/long-running requests open/);
    // Another user is not counted against carol.
    expect((await watch('alice')).status).toBe(200);
    // One of carol's closes: the gateway counts it down when the connection ends.
    first.req.destroy();
    let next = await watch('carol');
    for (let i = 0; i < 100 && next.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 50));
      next = await watch('carol');
    }
    expect(next.status).toBe(200);
  });

  /**
   * Opens a kgw forward tunnel as `caller` (the WebSocket the CLI opens, then its Hello); resolves
   * with the refusal's status and body, or once the gateway welcomed the tunnel.
   */
  function tunnel(caller: CallerName): Promise<{ status: number; body: string; ws?: WebSocket }> {
    return new Promise((done, fail) => {
      const ws = new WebSocket(`${stack.url.replace('https:', 'wss:')}/kgw/v1/forward`, SUBPROTOCOL, {
        ca: stack.caPem,
        headers: { authorization: `Bearer tok-${caller}-0123456789` },
      });
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      ws.on('open', () =>
        ws.send(
          encodeFrame({
            type: FrameType.Hello,
            stream: 0,
            hello: {
              version: 1,
              targets: [{ namespace: 'default', kind: 'pod', name: 'nginx', port: 80, protocol: 'tcp' }],
            },
          }),
        ),
      );
      ws.on('message', (data: Buffer) => {
        if (data[0] === FrameType.Welcome) done({ status: 101, body: '', ws });
      });
      ws.on('error', (err) => (ws.readyState === WebSocket.CLOSED ? undefined : fail(err)));
    });
  }

  it('stops: one user holding ever more kgw forward tunnels and watches (a tunnel is long-running too)', async () => {
    const first = await watch('carol');
    const second = await watch('carol');
    expect([first.status, second.status]).toEqual([200, 200]);
    const refused = await tunnel('carol');
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: 'too_many_requests',
      message: expect.stringMatching(/has 2 long-running requests open .*kgw forward tunnels; limit 2/),
    });
    // One watch ends: the tunnel takes its place, and then holds it against the next watch.
    first.req.destroy();
    let opened = await tunnel('carol');
    for (let i = 0; i < 100 && opened.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 50));
      opened = await tunnel('carol');
    }
    expect(opened.status).toBe(101);
    try {
      expect((await watch('carol')).status).toBe(429);
    } finally {
      opened.ws!.close();
    }
    // The tunnel's end gives the slot back (held through a resume grace period, if there is one).
    let next = await watch('carol');
    for (let i = 0; i < 100 && next.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 50));
      next = await watch('carol');
    }
    expect(next.status).toBe(200);
  });
});

describe('sizes', () => {
  it('stops: a body too large for the API server to take (413 Status before anything is forwarded)', async () => {
    const mark = stack.sim.requestLog.entries.at(-1)?.seq ?? 0;
    const res = await stack.request('alice', '/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', data: { big: 'x'.repeat(70_000) } }),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({
      kind: 'Status',
      reason: 'RequestEntityTooLarge',
      message: 'Request entity too large: limit is 65536',
    });
    expect(stack.sim.requestLog.find((e) => e.seq > mark && e.method === 'POST')).toEqual([]);
  });

  /** A POST whose body is sent chunked (no Content-Length), `chunks` pieces of `size` bytes. */
  function chunkedPost(path: string, body: string, chunks: number): Promise<HttpResult> {
    const url = new URL(stack.url);
    return new Promise((done, fail) => {
      const req = httpsRequest(
        {
          hostname: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          ca: stack.caPem,
          agent: false,
          headers: { authorization: 'Bearer tok-alice-0123456789', 'content-type': 'application/json' },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () =>
            done({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(parts).toString(),
            }),
          );
        },
      );
      req.on('error', (err) => (req.destroyed ? undefined : fail(err)));
      const size = Math.ceil(body.length / chunks);
      for (let i = 0; i < body.length; i += size) req.write(body.slice(i, i + size));
      req.end();
      expect(req.getHeader('content-length')).toBeUndefined();
    });
  }

  it('stops: a chunked body that grows past the limit (413 Status; the API server never gets it whole)', async () => {
    const configMap = (name: string, bytes: number): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name },
        data: { big: 'x'.repeat(bytes) },
      });
    const path = '/api/v1/namespaces/default/configmaps';
    const res = await chunkedPost(path, configMap('chunked-too-large', 70_000), 10);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({
      kind: 'Status',
      reason: 'RequestEntityTooLarge',
      message: 'Request entity too large: limit is 65536',
    });
    expect((await stack.request('alice', `${path}/chunked-too-large`)).status).toBe(404);
    // (allowed) the same way under the limit.
    expect((await chunkedPost(path, configMap('chunked-small', 30_000), 10)).status).toBe(201);
  });

  it('stops: oversized headers from an HTTP/1.1 client on the TLS port (431 past KGW_HTTP_MAX_HEADER_BYTES)', async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/pods', {
      headers: { 'x-padding': 'x'.repeat(30_000) },
    });
    expect(res.status).toBe(431);
    expect(res.headers.connection).toBe('close');
    // (allowed) Over Node's own 16 KiB, under the setting: the setting is what holds.
    const under = await stack.request('alice', '/api/v1/namespaces/default/pods', {
      headers: { 'x-padding': 'x'.repeat(20_000) },
    });
    expect(under.status).toBe(200);
  });
  // Slowloris (headers trickled forever) is the hardening suite's row 11c.
});
