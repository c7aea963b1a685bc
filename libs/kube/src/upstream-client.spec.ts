import type { Upstream } from './upstream';
import {
  nodeHeaders,
  upstreamRequestOptions,
  withGatewayCredential,
  withImpersonation,
} from './upstream-client';

const upstream = {
  url: new URL('https://[::1]:6443/prefix'),
  basePath: '/prefix',
  agent: {} as Upstream['agent'],
  tlsServerName: 'kubernetes.default.svc',
  authorizationHeader: () => 'Bearer gateway',
} as unknown as Upstream;

describe('upstream client', () => {
  it('builds one set of request options: host without brackets, port, base path + raw path, SNI, pool', () => {
    const options = upstreamRequestOptions(upstream, {
      method: 'GET',
      path: '/api/v1/pods?watch=1',
      headers: { accept: 'application/json' },
    });
    expect(options).toEqual({
      hostname: '::1',
      port: '6443',
      method: 'GET',
      path: '/prefix/api/v1/pods?watch=1',
      headers: { accept: 'application/json' },
      agent: upstream.agent,
      servername: 'kubernetes.default.svc',
    });
    expect(
      upstreamRequestOptions(upstream, { method: 'GET', path: '/', headers: {}, timeoutMs: 5 }).timeout,
    ).toBe(5);
  });

  it('sets the gateway credential, replacing any Authorization', () => {
    expect(withGatewayCredential(upstream, { authorization: 'Bearer client' })).toEqual({
      authorization: 'Bearer gateway',
    });
  });

  it('adds impersonation headers in client-go order, merged with headers of the same name', () => {
    const headers = withImpersonation(
      { 'Impersonate-Group': 'already' },
      { username: 'alice', uid: 'u1', groups: ['dev', 'ops'], extra: { 'kgw.io/token-id': ['t1'] } },
    );
    expect(headers).toEqual({
      'Impersonate-User': 'alice',
      'Impersonate-Uid': 'u1',
      'Impersonate-Group': ['already', 'dev', 'ops'],
      'Impersonate-Extra-Kgw.io%2ftoken-Id': 't1',
    });
  });

  it('refuses an identity the API server would read differently (fails before anything is sent)', () => {
    expect(() => withImpersonation({}, { username: 'alice\n', groups: [] })).toThrow(/control character/);
  });

  it("reads an HTTP/1.1 head's raw lines as Node's parser would: repeats joined, set-cookie a list, single-valued first", () => {
    const raw = [
      ['Content-Type', 'application/json'],
      ['Content-Type', 'text/html'],
      ['Warning', '299 - "a"'],
      ['warning', '299 - "b"'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['X-Latin1', 'caf\xe9'],
    ].flatMap(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')]);
    expect(nodeHeaders(raw)).toEqual({
      'content-type': 'application/json',
      warning: '299 - "a", 299 - "b"',
      'set-cookie': ['a=1', 'b=2'],
      'x-latin1': 'caf\xe9',
    });
  });

  const lines = (pairs: string[][]): Buffer[] =>
    pairs.flatMap(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')]);

  it.each([
    // A pod behind pods/proxy writes these heads: Object.prototype's members are no earlier value
    // (names are lowercased first, so constructor and __proto__ are the ones that could collide).
    ['a header named constructor finds no inherited function', [['Constructor', 'x']], { constructor: 'x' }],
    [
      'a repeated constructor header joins its own values only',
      [
        ['constructor', 'x'],
        ['constructor', 'y'],
      ],
      { constructor: 'x, y' },
    ],
    [
      'repeated cookie headers join as Node does',
      [
        ['Cookie', 'a=1'],
        ['Cookie', 'b=2'],
      ],
      { cookie: 'a=1; b=2' },
    ],
  ])('%s', (_attack, pairs, expected) => {
    expect(nodeHeaders(lines(pairs))).toEqual(expected);
  });

  it('a header named __proto__ is a plain header and never sets the prototype (prototype pollution)', () => {
    const headers = nodeHeaders(
      lines([
        ['__proto__', 'x'],
        ['__Proto__', 'y'],
        ['x-a', '1'],
      ]),
    );
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toBe('x, y');
    expect(Object.keys(headers)).toEqual(['__proto__', 'x-a']);
  });
});
