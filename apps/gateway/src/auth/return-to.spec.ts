import { DEFAULT_RETURN_TO, safeReturnTo } from './return-to';

describe('safeReturnTo', () => {
  const refused: Array<{ attack: string; value: unknown }> = [
    { attack: 'absolute URL to another site', value: 'https://evil.example/' },
    { attack: 'scheme-relative URL', value: '//evil.example' },
    { attack: 'backslash read as slash by browsers', value: '/\\evil.example' },
    { attack: 'backslashes only', value: '\\\\evil.example' },
    { attack: 'encoded scheme-relative URL', value: '%2F%2Fevil.example' },
    { attack: 'encoded slashes after a slash', value: '/%2Fevil.example' },
    { attack: 'double-encoded slashes', value: '/%252Fevil.example' },
    { attack: 'encoded backslash', value: '/%5Cevil.example' },
    { attack: 'tab that the URL parser drops (/\\t/evil)', value: '/\t/evil.example' },
    { attack: 'encoded newline', value: '/%0A/evil.example' },
    { attack: 'javascript: URL', value: 'javascript:alert(1)' },
    { attack: 'data: URL', value: 'data:text/html,hi' },
    { attack: 'relative path without a slash', value: 'evil.example' },
    { attack: 'not a string', value: ['/a', '/b'] },
    { attack: 'malformed encoding', value: '/%E0%A4%A' },
    // Same origin, but proxied: a pod answers what it likes, a 302 off-site included.
    {
      attack: 'a pod proxy path that redirects off-site',
      value: '/api/v1/namespaces/default/pods/nginx/proxy/',
    },
    { attack: 'a service proxy path', value: '/api/v1/namespaces/default/services/my-nginx:80/proxy/go' },
    { attack: 'dot segments out of /kgw/', value: '/kgw/../api/v1/namespaces/x/pods/y/proxy/' },
    { attack: 'encoded dot segments out of /kgw/', value: '/kgw/ui/%2e%2e/%2e%2e/api/v1/x/proxy/' },
    { attack: 'a path merely starting with /kgw', value: '/kgwx/ui/' },
    { attack: 'the site root (a proxied discovery path)', value: '/' },
  ];
  it.each(refused)('refuses $attack', ({ value }) => {
    expect(safeReturnTo(value)).toBe(DEFAULT_RETURN_TO);
  });

  it.each(['/kgw/ui/', '/kgw/ui/?tab=tokens#new', '/kgw/v1/me', '/kgw/auth/device?user_code=ABCD-EFGH'])(
    'keeps the gateway page %s',
    (path) => {
      expect(safeReturnTo(path)).toBe(path);
    },
  );
});
