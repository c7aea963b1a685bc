// Each row names the attack a header rule stops.
import { sanitizeClientHeaders, sanitizeResponseHeaders } from './header-sanitizer';

describe('sanitizeClientHeaders', () => {
  const rows: Array<{
    attack: string;
    headers: Record<string, string | string[]>;
    dropped: string[];
    kept?: string[];
  }> = [
    {
      attack: 'reusing the caller credential upstream',
      headers: { authorization: 'Bearer x' },
      dropped: ['authorization'],
    },
    {
      attack: 'proxy credentials',
      headers: { 'proxy-authorization': 'Basic x' },
      dropped: ['proxy-authorization'],
    },
    {
      attack: 'impersonating another user',
      headers: { 'impersonate-user': 'admin' },
      dropped: ['impersonate-user'],
    },
    {
      attack: 'joining a group',
      headers: { 'impersonate-group': ['system:masters', 'x'] },
      dropped: ['impersonate-group'],
    },
    { attack: 'forging a uid', headers: { 'impersonate-uid': '1' }, dropped: ['impersonate-uid'] },
    {
      attack: 'HTTP/2 pseudo-headers steering the upstream request (:authority, :path)',
      headers: {
        ':method': 'GET',
        ':path': '/api/v1/secrets',
        ':authority': 'evil',
        ':scheme': 'https',
        accept: 'a',
      },
      dropped: [':method', ':path', ':authority', ':scheme'],
      kept: ['accept'],
    },
    {
      attack: 'forging an extra',
      headers: { 'impersonate-extra-scopes': 'all' },
      dropped: ['impersonate-extra-scopes'],
    },
    {
      attack: 'underscore spelling some proxies fold into a dash',
      headers: { impersonate_user: 'admin' },
      dropped: ['impersonate_user'],
    },
    {
      attack: 'front-proxy identity headers',
      headers: { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
      dropped: ['x-remote-user', 'x-remote-group'],
    },
    {
      attack: 'spoofing the client address',
      headers: { 'x-forwarded-for': '1.2.3.4', forwarded: 'for=1.2.3.4', 'x-real-ip': '1.2.3.4' },
      dropped: ['x-forwarded-for', 'forwarded', 'x-real-ip'],
    },
    {
      attack: 'sending the gateway session upstream',
      headers: { cookie: 'kgw_session=1' },
      dropped: ['cookie'],
    },
    {
      attack: 'hop-by-hop headers reaching the API server',
      headers: { te: 'trailers', 'keep-alive': '1', 'transfer-encoding': 'chunked' },
      dropped: ['te', 'keep-alive', 'transfer-encoding'],
    },
    {
      attack: 'a header named by Connection',
      headers: { connection: 'x-secret-hop', 'x-secret-hop': '1', accept: 'a' },
      dropped: ['x-secret-hop', 'connection'],
      kept: ['accept'],
    },
    {
      attack: 'an upgrade smuggled on a non-upgrade path',
      headers: { connection: 'upgrade', upgrade: 'websocket' },
      dropped: ['upgrade', 'connection'],
    },
  ];

  it.each(rows)('stops $attack', ({ headers, dropped, kept }) => {
    const { headers: out } = sanitizeClientHeaders(headers, false);
    for (const name of dropped) expect(out[name]).toBeUndefined();
    for (const name of kept ?? []) expect(out[name]).toBe(headers[name]);
  });

  it('keeps the upgrade negotiation of an exec/port-forward upgrade', () => {
    const { headers, upgrade } = sanitizeClientHeaders(
      {
        connection: 'Upgrade',
        upgrade: 'SPDY/3.1',
        'x-stream-protocol-version': 'v4.channel.k8s.io',
        authorization: 'Bearer x',
      },
      true,
    );
    expect(upgrade).toBe(true);
    expect(headers).toEqual({
      connection: 'Upgrade',
      upgrade: 'SPDY/3.1',
      'x-stream-protocol-version': 'v4.channel.k8s.io',
    });
  });

  it.each([
    {
      attack: "the page's CSRF token offered as a subprotocol → used by the gateway, never forwarded",
      offered: 'v5.channel.k8s.io, v4.channel.k8s.io, csrf.kgw.io.s3cr3t',
      forwarded: 'v5.channel.k8s.io, v4.channel.k8s.io',
    },
    {
      attack: 'a bearer token offered as a subprotocol → not carried to the API server next to our credential',
      offered: 'base64url.bearer.authorization.k8s.io.dG9rZW4, v5.channel.k8s.io',
      forwarded: 'v5.channel.k8s.io',
    },
    { attack: 'only credentials offered → no subprotocol header at all', offered: 'csrf.kgw.io.x', forwarded: undefined },
  ])('WebSocket subprotocols: $attack', ({ offered, forwarded }) => {
    const { headers } = sanitizeClientHeaders(
      { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': offered },
      true,
    );
    expect(headers['sec-websocket-protocol']).toBe(forwarded);
  });

  it('passes ordinary headers untouched', () => {
    const input = {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      'user-agent': 'kubectl/v1.32.4',
      'content-type': 'application/json',
    };
    expect(sanitizeClientHeaders(input, false).headers).toEqual(input);
  });
});

describe('sanitizeResponseHeaders', () => {
  it('drops hop-by-hop headers and those named by Connection', () => {
    expect(
      sanitizeResponseHeaders({
        connection: 'close, x-hop',
        'x-hop': '1',
        'keep-alive': 'timeout=5',
        'content-type': 'application/json',
        'audit-id': 'a',
      }),
    ).toEqual({ 'content-type': 'application/json', 'audit-id': 'a' });
  });
});
