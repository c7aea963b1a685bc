import {
  canonicalHeaderName,
  escapeExtraKey,
  impersonationHeaders,
  ImpersonationError,
  isForbiddenClientHeader,
} from './impersonation';

describe('impersonationHeaders', () => {
  it('writes user, uid, groups and extra in client-go order', () => {
    expect(
      impersonationHeaders({
        username: 'alice@example.com',
        uid: 'u-1',
        groups: ['team-a', 'system:authenticated'],
        extra: { 'kgw.io/token-id': ['t1', 't2'], 'acme.com/scopes': ['read'] },
      }),
    ).toEqual([
      ['Impersonate-User', 'alice@example.com'],
      ['Impersonate-Uid', 'u-1'],
      ['Impersonate-Group', 'team-a'],
      ['Impersonate-Group', 'system:authenticated'],
      ['Impersonate-Extra-Acme.com%2fscopes', 'read'],
      ['Impersonate-Extra-Kgw.io%2ftoken-Id', 't1'],
      ['Impersonate-Extra-Kgw.io%2ftoken-Id', 't2'],
    ]);
  });

  it('omits uid and extra when absent, and writes no group header for no groups', () => {
    expect(impersonationHeaders({ username: 'bob', groups: [] })).toEqual([['Impersonate-User', 'bob']]);
    expect(impersonationHeaders({ username: 'bob', uid: '', groups: [], extra: { 'a.io/k': [] } })).toEqual([
      ['Impersonate-User', 'bob'],
    ]);
  });

  it('sends non-ASCII values as their UTF-8 bytes (Node writes header values as latin1)', () => {
    const [[, value]] = impersonationHeaders({ username: 'j\u00f6hn', groups: [] });
    expect(Buffer.from(value, 'latin1').toString('utf8')).toBe('j\u00f6hn');
  });

  it.each([
    ['empty username', { username: '', groups: [] }],
    [
      'CRLF in a group (header injection)',
      { username: 'a', groups: ['x\r\nImpersonate-Group: system:masters'] },
    ],
    ['NUL in the username', { username: 'a\u0000', groups: [] }],
    ['leading space in a group (HTTP trims it)', { username: 'a', groups: [' system:masters'] }],
    ['trailing tab in the uid', { username: 'a', uid: 'u\t', groups: [] }],
    [
      'upper-case extra key (server lowercases it)',
      { username: 'a', groups: [], extra: { 'Kgw.io/Token': ['x'] } },
    ],
    ['empty extra key', { username: 'a', groups: [], extra: { '': ['x'] } }],
    ['newline in an extra value', { username: 'a', groups: [], extra: { k: ['x\ny'] } }],
    ['DEL in a group (a control character past printable ASCII)', { username: 'a', groups: ['x\u007f'] }],
    ['a tab inside the username', { username: 'a\tb', groups: [] }],
    ['trailing space in an extra value', { username: 'a', groups: [], extra: { k: ['x '] } }],
  ])('refuses %s', (_description, identity) => {
    expect(() => impersonationHeaders(identity)).toThrow(ImpersonationError);
  });

  it('passes printable ASCII as it is, inner spaces included', () => {
    expect(impersonationHeaders({ username: 'Jane Doe', groups: ['!~'] })).toEqual([
      ['Impersonate-User', 'Jane Doe'],
      ['Impersonate-Group', '!~'],
    ]);
  });

  it('names the same extra key alike past the remembered names (any number of client-chosen keys)', () => {
    for (let i = 0; i < 300; i++)
      impersonationHeaders({ username: 'a', groups: [], extra: { [`k${i}/x`]: ['v'] } });
    expect(impersonationHeaders({ username: 'a', groups: [], extra: { 'k299/x': ['v'] } })[1][0]).toBe(
      'Impersonate-Extra-K299%2fx',
    );
  });
});

describe('escapeExtraKey (client-go headerKeyEscape)', () => {
  it.each([
    ['kgw.io/token-id', 'kgw.io%2Ftoken-id'],
    ['100%', '100%25'],
    ['a b', 'a%20b'],
    ['scopes', 'scopes'],
    ["!#$&'*+-.^_`|~", "!#$&'*+-.^_`|~"],
    ['k\u00e9y', 'k%C3%A9y'],
    ['a:b=c', 'a%3Ab%3Dc'],
  ])('%j → %j', (key, escaped) => {
    expect(escapeExtraKey(key)).toBe(escaped);
  });

  it('round-trips through the API server decoding (lowercase, then PathUnescape)', () => {
    for (const key of ['kgw.io/token-id', '100%', 'k\u00e9y', 'a b/c%d']) {
      const sent = canonicalHeaderName(`Impersonate-Extra-${escapeExtraKey(key)}`).slice(
        'Impersonate-Extra-'.length,
      );
      expect(decodeURIComponent(sent.toLowerCase())).toBe(key);
    }
  });
});

describe('isForbiddenClientHeader', () => {
  it.each([
    ['Authorization', true],
    ['authorization', true],
    ['AUTHORIZATION', true],
    ['Proxy-Authorization', true],
    ['Impersonate-User', true],
    ['impersonate-user', true],
    ['IMPERSONATE-GROUP', true],
    ['Impersonate-Uid', true],
    ['Impersonate-Extra-Scopes', true],
    ['impersonate-extra-kgw.io%2ftoken-id', true],
    ['Impersonate_User', true],
    ['X-Remote-User', true],
    ['x-remote-group', true],
    ['X-Remote-Extra-Foo', true],
    ['X-Remote-Uid', true],
    ['X_Remote_User', true],
    ['X-Forwarded-For', true],
    ['x-forwarded-host', true],
    ['X-Forwarded-Proto', true],
    ['Forwarded', true],
    ['X-Real-IP', true],
    ['Audit-ID', true],
    ['audit_id', true],
    ['Content-Type', false],
    ['Accept', false],
    ['User-Agent', false],
    ['X-Stream-Protocol-Version', false],
    ['Impersonatex-User', false],
    ['Kubectl-Command', false],
  ])('%s → %s', (name, forbidden) => {
    expect(isForbiddenClientHeader(name)).toBe(forbidden);
  });
});
