// Table-driven security rules of the proxy chain. Each row names the attack it stops and says
// exactly what must (or must not) reach the API server.
import { connect, type TLSSocket } from 'node:tls';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';
import {
  ERROR,
  FLAG,
  FRAME,
  frame,
  H2Wire,
  headerBlock,
  requestHeaders,
  rstStream,
} from '../support/h2-wire';

let stack: GatewayStack;

// Small HTTP/2 limits, so each flood below crosses them with a few kilobytes.
const H2_LIMITS = { streams: 10, resets: 50, headerListBytes: 16_384 };

beforeAll(async () => {
  stack = await startGatewayStack({
    env: {
      KGW_HTTP2_MAX_CONCURRENT_STREAMS: String(H2_LIMITS.streams),
      KGW_HTTP2_MAX_RESETS: String(H2_LIMITS.resets),
      KGW_HTTP2_MAX_HEADER_LIST_BYTES: String(H2_LIMITS.headerListBytes),
    },
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

let marker = 0;
/** A list request whose query is unique, so the simulator's log entry for it can be found. */
function uniquePath(base = '/api/v1/namespaces/team-a/pods'): { path: string; query: string } {
  marker++;
  const query = `labelSelector=kgwtest%3D${marker}`;
  return { path: `${base}?${query}`, query };
}

async function upstreamEntryFor(query: string) {
  return stack.sim.requestLog.waitFor((e) => e.query === query);
}

const BOB_AT_UPSTREAM = {
  user: 'bob',
  groups: ['team-a'],
  extra: { 'kgw.io/auth-method': ['static-token'] },
};

describe('headers a client must not control', () => {
  // Impersonation requests are not dropped (kubectl --as): bob may impersonate nobody, so each
  // is refused with the API server's wording and nothing is forwarded (issue #17, finding 6).
  const impersonation: Array<{
    attack: string;
    headers: Record<string, string>;
    status: number;
    message: RegExp;
  }> = [
    {
      attack: 'Impersonate-User to become someone else',
      headers: { 'Impersonate-User': 'alice' },
      status: 403,
      message:
        /^users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope/,
    },
    {
      attack: 'lower-case impersonate-user',
      headers: { 'impersonate-user': 'alice' },
      status: 403,
      message: /User "bob" cannot impersonate resource "users"/,
    },
    {
      attack: 'upper-case IMPERSONATE-GROUP to join system:masters',
      headers: { 'IMPERSONATE-USER': 'bob', 'IMPERSONATE-GROUP': 'system:masters' },
      status: 403,
      message: /cannot impersonate resource/,
    },
    {
      attack: 'Impersonate-Uid',
      headers: { 'Impersonate-User': 'bob', 'Impersonate-Uid': 'uid-of-alice' },
      status: 403,
      message: /cannot impersonate resource/,
    },
    {
      attack: 'Impersonate-Extra to forge a token id',
      headers: { 'Impersonate-User': 'bob', 'Impersonate-Extra-Kgw.io%2ftoken-Id': 'forged' },
      status: 403,
      message: /cannot impersonate resource/,
    },
    {
      attack: 'group without user',
      headers: { 'Impersonate-Group': 'system:masters' },
      status: 400,
      message: /without impersonating a user/,
    },
  ];

  it.each(impersonation)('refuses: $attack', async ({ headers, status, message }) => {
    const { path, query } = uniquePath();
    const res = await stack.request('bob', path, { headers });
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body).message).toMatch(message);
    expect(stack.sim.requestLog.find((e) => e.query === query)).toEqual([]);
  });

  const rows: Array<{ attack: string; headers: Record<string, string> }> = [
    { attack: 'underscore spelling Impersonate_User', headers: { Impersonate_User: 'alice' } },
    {
      attack: 'X-Remote-User front-proxy identity',
      headers: { 'X-Remote-User': 'alice', 'X-Remote-Group': 'system:masters' },
    },
    { attack: 'X-Forwarded-For to spoof the client address', headers: { 'X-Forwarded-For': '203.0.113.9' } },
    {
      attack: 'Connection naming our own headers to strip them',
      headers: { Connection: 'Impersonate-User, Authorization, Impersonate-Group' },
    },
    {
      attack: 'Connection naming X-Forwarded-For to hide the client',
      headers: { Connection: 'X-Forwarded-For' },
    },
    {
      attack: "Audit-ID to name (or collide with) another request's API server audit event",
      headers: { 'Audit-ID': 'forged-audit-id' },
    },
    { attack: 'underscore spelling Audit_ID', headers: { Audit_ID: 'forged-audit-id' } },
    { attack: 'Connection naming Audit-ID to strip ours', headers: { Connection: 'Audit-ID' } },
  ];

  it.each(rows)('stops: $attack', async ({ headers }) => {
    const { path, query } = uniquePath();
    const res = await stack.request('bob', path, { headers });
    expect(res.status).toBe(200);
    const entry = await upstreamEntryFor(query);
    // Exactly the caller's mapped identity, as impersonated by the gateway's own credential.
    expect(entry.impersonation).toEqual(BOB_AT_UPSTREAM);
    expect(entry.authenticatedUser?.username).toBe('system:serviceaccount:kgw-system:kgw');
    expect(entry.user?.username).toBe('bob');
    expect(entry.user?.groups).not.toContain('system:masters');
    // The API server's audit event is the gateway's request id, whatever the client sent.
    expect(entry.auditId).toBe(res.headers['x-request-id']);
  });

  it('a spoofed X-Forwarded-For never reaches a pod as the client address', async () => {
    const res = await stack.request('alice', '/api/v1/namespaces/default/pods/nginx:80/proxy/echo', {
      headers: { 'X-Forwarded-For': '203.0.113.9' },
    });
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('203.0.113.9');
  });
});

describe('paths the API server could read differently (400 before anything is forwarded)', () => {
  const rows = [
    { attack: 'encoded slash smuggling a namespace', path: '/api/v1/namespaces/team-b%2Fpods' },
    { attack: 'dot-dot segment escaping a namespace', path: '/api/v1/namespaces/team-a/../team-b/pods' },
    { attack: 'encoded dot-dot segment', path: '/api/v1/namespaces/team-a/%2e%2e/team-b/pods' },
    { attack: 'single-dot segment', path: '/api/v1/namespaces/./team-b/pods' },
    { attack: 'semicolon path parameter', path: '/api/v1/namespaces/team-b;x=y/pods' },
    {
      attack: 'duplicate watch parameter (list authorized, watch served)',
      path: '/api/v1/namespaces/team-a/pods?watch=false&watch=true',
    },
    { attack: 'empty segment', path: '/api/v1//namespaces/team-b/pods' },
    { attack: 'backslash', path: '/api/v1/namespaces/team-b\\pods' },
  ];

  it.each(rows)('rejects: $attack', async ({ path }) => {
    const before = stack.sim.requestLog.entries.length;
    const res = await stack.request('bob', path);
    expect(res.status).toBe(400);
    const status = JSON.parse(res.body);
    expect(status).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'BadRequest',
      code: 400,
    });
    // Nothing about this request went upstream (not even a SubjectAccessReview for it).
    expect(stack.sim.requestLog.entries.slice(before).filter((e) => e.path.includes('team-b'))).toEqual([]);
  });
});

describe('who may pass at all', () => {
  it('no credential → 401 Status, never the gateway identity', async () => {
    const { path, query } = uniquePath();
    const res = await stack.request(undefined, path);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect(stack.sim.requestLog.find((e) => e.query === query)).toEqual([]);
  });

  it('a wrong token → 401 Status', async () => {
    const res = await stack.request(undefined, '/api/v1/pods', {
      headers: { Authorization: 'Bearer not-a-token' },
    });
    expect(res.status).toBe(401);
  });

  it.each([
    { attack: 'a credential for a system: username', caller: 'mallory' as const, reserved: 'system:admin' },
    {
      attack: 'a credential carrying the system:masters group',
      caller: 'trudy' as const,
      reserved: 'system:masters',
    },
  ])('refuses to map $attack (403)', async ({ caller, reserved }) => {
    const { path, query } = uniquePath();
    const res = await stack.request(caller, path);
    expect(res.status).toBe(403);
    const status = JSON.parse(res.body);
    expect(status).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(status.message).toContain(reserved);
    expect(stack.sim.requestLog.find((e) => e.query === query)).toEqual([]);
  });

  it('denies with the API server wording before forwarding', async () => {
    const { path, query } = uniquePath('/api/v1/namespaces/team-b/pods');
    const res = await stack.request('bob', path);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toBe(
      'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "team-b"',
    );
    expect(stack.sim.requestLog.find((e) => e.query === query)).toEqual([]);
  });

  it('authorizes a WebSocket exec (GET) as create, like the SPDY POST', async () => {
    // carol may get pods but not create pods/exec: a GET must not slip through as `get`.
    const res = await stack.request(
      'carol',
      '/api/v1/namespaces/default/pods/nginx/exec?command=env&stdout=true',
      {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Protocol': 'v5.channel.k8s.io',
        },
      },
    );
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toBe(
      'pods "nginx" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "default"',
    );
  });
});

describe('upgrades (CVE-2018-1002105)', () => {
  function rawTls(): Promise<TLSSocket> {
    const url = new URL(stack.url);
    return new Promise((ok, fail) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), ca: stack.caPem }, () =>
        ok(socket),
      );
      socket.once('error', fail);
    });
  }

  function readAll(socket: TLSSocket): Promise<string> {
    return new Promise((done) => {
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('close', () => done(text));
      socket.on('end', () => socket.end());
    });
  }

  it('a refused upgrade closes the socket, so a smuggled second request is never served', async () => {
    const socket = await rawTls();
    const all = readAll(socket);
    // The first request upgrades to a pod carol may not exec into; the second, pipelined on the
    // same socket, would read a secret with whatever identity the socket carried.
    socket.write(
      'GET /api/v1/namespaces/default/pods/nginx/exec?command=env&stdout=true HTTP/1.1\r\n' +
        'Host: x\r\n' +
        `Authorization: Bearer ${CALLERS.carol.token}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n' +
        'GET /api/v1/namespaces/kgw-system/secrets HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const text = await all;
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(text).not.toContain('SecretList');
  });

  it('an upgrade the API server answers without 101 is relayed and the socket closed', async () => {
    const socket = await rawTls();
    const all = readAll(socket);
    // alice may exec, but the pod does not exist: the API server answers 404, not 101.
    socket.write(
      'GET /api/v1/namespaces/default/pods/no-such-pod/exec?command=env&stdout=true HTTP/1.1\r\n' +
        'Host: x\r\n' +
        `Authorization: Bearer ${CALLERS.alice.token}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n' +
        'GET /api/v1/namespaces/kgw-system/secrets HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const text = await all;
    expect(text).toMatch(/^HTTP\/1\.1 404 /);
    expect(text).toContain('pods \\"no-such-pod\\" not found');
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });
});

describe('HTTP/2 floods, before authentication (no stream carries a credential)', () => {
  const authority = (): string => new URL(stack.url).host;
  const get = (streamId: number, flags: number, extra: Array<[string, string]> = []): Buffer =>
    frame(FRAME.HEADERS, flags, streamId, headerBlock(requestHeaders('/api/v1/pods', authority(), extra)));
  const ids = (count: number): number[] => Array.from({ length: count }, (_, i) => 1 + 2 * i);

  const rows: Array<{ attack: string; attackWith(wire: H2Wire): Promise<void> }> = [
    {
      attack: 'stream flood: more concurrent streams than the cap, each held open',
      async attackWith(wire) {
        // HEADERS without END_STREAM: each stream stays open waiting for a body that never comes.
        wire.write(Buffer.concat(ids(H2_LIMITS.streams + 5).map((id) => get(id, FLAG.END_HEADERS))));
        await wire.waitClosed();
        // Streams past the cap never reached the chain (no answer); the connection is gone.
        expect(Math.max(0, ...wire.answered())).toBeLessThanOrEqual(2 * H2_LIMITS.streams - 1);
      },
    },
    {
      attack: 'HTTP/2 rapid reset (CVE-2023-44487): open and cancel streams, over and over',
      async attackWith(wire) {
        // POSTs whose body is awaited: each stream starts work (the route reads its JSON body
        // before it authenticates), then is cancelled — no answer is ever owed, so only the
        // reset budget stops it.
        const post = (id: number): Buffer =>
          frame(
            FRAME.HEADERS,
            FLAG.END_HEADERS,
            id,
            headerBlock([
              [':method', 'POST'],
              [':scheme', 'https'],
              [':path', '/kgw/v1/tokens'],
              [':authority', authority()],
              ['content-type', 'application/json'],
            ]),
          );
        const pairs = ids(3 * H2_LIMITS.resets).map((id) =>
          Buffer.concat([post(id), rstStream(id, ERROR.CANCEL)]),
        );
        wire.write(Buffer.concat(pairs));
        await wire.waitClosed();
        expect(wire.goaway()?.code).toBe(ERROR.ENHANCE_YOUR_CALM);
        // Cut at the first reset past the budget, not after the whole burst.
        expect(wire.goaway()?.lastStreamId).toBeLessThanOrEqual(2 * (H2_LIMITS.resets + 1) + 1);
      },
    },
    {
      attack: 'HTTP/2 rapid reset on Kubernetes paths',
      async attackWith(wire) {
        const pairs = ids(3 * H2_LIMITS.resets).map((id) =>
          Buffer.concat([get(id, FLAG.END_HEADERS | FLAG.END_STREAM), rstStream(id, ERROR.CANCEL)]),
        );
        wire.write(Buffer.concat(pairs));
        await wire.waitClosed();
        // The 401s were never delivered (each stream was reset first): the reset budget cuts it.
        expect(wire.goaway()?.code).toBe(ERROR.ENHANCE_YOUR_CALM);
        expect(wire.goaway()?.lastStreamId).toBeLessThanOrEqual(2 * (H2_LIMITS.resets + 1) + 1);
      },
    },
    {
      attack: 'a header list larger than the limit',
      async attackWith(wire) {
        const block = headerBlock(
          requestHeaders('/api/v1/pods', authority(), [['x-padding', 'a'.repeat(H2_LIMITS.headerListBytes)]]),
        );
        wire.write(
          Buffer.concat([
            frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 16_000)),
            frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(16_000)),
          ]),
        );
        await wire.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 1);
        // Only that stream is refused: the next request on the connection is answered (401).
        wire.write(get(3, FLAG.END_HEADERS | FLAG.END_STREAM));
        await wire.waitFor((f) => f.type === FRAME.HEADERS && f.streamId === 3);
        expect(wire.answered()).toEqual([3]);
      },
    },
    {
      attack: 'CONTINUATION flood: a header block that never ends',
      async attackWith(wire) {
        wire.write(get(1, FLAG.END_STREAM));
        for (let i = 0; i < 1000 && !wire.closed; i++) {
          wire.write(frame(FRAME.CONTINUATION, 0, 1, headerBlock([[`x-h${i}`, 'b'.repeat(1000)]])));
          // Let the server's answer in between writes, so the loop stops once it has given up.
          await new Promise((resolve) => setImmediate(resolve));
        }
        await wire.waitClosed();
        expect(wire.goaway()).toBeDefined();
      },
    },
    {
      attack: 'multiplexing without a credential (kube-apiserver UnauthenticatedHTTP2DOSMitigation)',
      async attackWith(wire) {
        wire.write(get(1, FLAG.END_HEADERS | FLAG.END_STREAM));
        await wire.waitClosed();
        // The 401 went out, then GOAWAY: no further stream is taken on this connection.
        expect(wire.answered()).toEqual([1]);
        expect(wire.goaway()).toEqual({ lastStreamId: 1, code: ERROR.NO_ERROR });
      },
    },
  ];

  it.each(rows)('stops: $attack', async ({ attackWith }) => {
    const wire = await H2Wire.open(stack.url, stack.caPem);
    try {
      await attackWith(wire);
      expect(wire.answered().length).toBeLessThanOrEqual(H2_LIMITS.streams);
    } finally {
      wire.destroy();
    }
    // The gateway itself is unharmed.
    expect((await stack.request('bob', '/api/v1/namespaces/team-a/pods')).status).toBe(200);
  });

  it('a caller with a credential keeps the connection for the next stream', async () => {
    const wire = await H2Wire.open(stack.url, stack.caPem);
    try {
      const bob: Array<[string, string]> = [['authorization', `Bearer ${CALLERS.bob.token}`]];
      const list = (id: number): Buffer =>
        frame(
          FRAME.HEADERS,
          FLAG.END_HEADERS | FLAG.END_STREAM,
          id,
          headerBlock(requestHeaders('/api/v1/namespaces/team-a/pods', authority(), bob)),
        );
      wire.write(list(1));
      await wire.waitFor(
        (f) => f.type === FRAME.DATA && f.streamId === 1 && (f.flags & FLAG.END_STREAM) !== 0,
      );
      wire.write(list(3));
      await wire.waitFor(
        (f) => f.type === FRAME.DATA && f.streamId === 3 && (f.flags & FLAG.END_STREAM) !== 0,
      );
      expect(wire.goaway()).toBeUndefined();
    } finally {
      wire.destroy();
    }
  });
});

describe('secrets stay out of the logs', () => {
  it('never logs a caller token', () => {
    const log = stack.logLines().join('\n');
    for (const caller of Object.values(CALLERS)) expect(log).not.toContain(caller.token);
  });
});
