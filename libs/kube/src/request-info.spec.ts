import {
  authorizationVerbFor,
  resolveRequestInfo,
  streamingUpgradeOf,
  type RequestInfo,
} from './request-info';
import { isRequestRejection, type RejectionCode } from './request-target';

type Expected = Partial<RequestInfo>;

function resolve(method: string, target: string): RequestInfo {
  const result = resolveRequestInfo(method, target);
  if (isRequestRejection(result)) throw new Error(`unexpected rejection: ${result.message}`);
  return result;
}

// Rows follow apiserver endpoints/request/requestinfo_test.go (TestGetAPIRequestInfo and friends),
// plus the ListOptions rows for watch/fieldSelector and the gateway-specific proxy paths.
const resolvedRows: Array<[string, string, string, Expected]> = [
  // [description, method, target, expected]
  [
    'namespaced list',
    'GET',
    '/api/v1/namespaces/other/pods',
    {
      verb: 'list',
      apiPrefix: 'api',
      apiGroup: '',
      apiVersion: 'v1',
      namespace: 'other',
      resource: 'pods',
      name: '',
      subresource: '',
      parts: ['pods'],
    },
  ],
  [
    'namespaced get',
    'GET',
    '/api/v1/namespaces/other/pods/foo',
    { verb: 'get', namespace: 'other', resource: 'pods', name: 'foo', parts: ['pods', 'foo'] },
  ],
  ['HEAD is get', 'HEAD', '/api/v1/namespaces/other/pods/foo', { verb: 'get', name: 'foo' }],
  [
    'cluster-wide list',
    'GET',
    '/api/v1/pods',
    { verb: 'list', namespace: '', resource: 'pods', parts: ['pods'] },
  ],
  [
    'list namespaces',
    'GET',
    '/api/v1/namespaces',
    { verb: 'list', namespace: '', resource: 'namespaces', name: '' },
  ],
  [
    'get namespace sets namespace and name',
    'GET',
    '/api/v1/namespaces/other',
    {
      verb: 'get',
      namespace: 'other',
      resource: 'namespaces',
      name: 'other',
      parts: ['namespaces', 'other'],
    },
  ],
  [
    'namespace status is a subresource',
    'PUT',
    '/api/v1/namespaces/other/status',
    { verb: 'update', namespace: 'other', resource: 'namespaces', name: 'other', subresource: 'status' },
  ],
  [
    'namespace finalize is a subresource',
    'PUT',
    '/api/v1/namespaces/other/finalize',
    { verb: 'update', namespace: 'other', resource: 'namespaces', name: 'other', subresource: 'finalize' },
  ],
  [
    'create collection',
    'POST',
    '/api/v1/namespaces/other/pods',
    { verb: 'create', resource: 'pods', name: '' },
  ],
  ['update', 'PUT', '/api/v1/namespaces/other/pods/foo', { verb: 'update', name: 'foo' }],
  ['patch', 'PATCH', '/api/v1/namespaces/other/pods/foo', { verb: 'patch', name: 'foo' }],
  ['delete', 'DELETE', '/api/v1/namespaces/other/pods/foo', { verb: 'delete', name: 'foo' }],
  ['deletecollection', 'DELETE', '/api/v1/namespaces/other/pods', { verb: 'deletecollection', name: '' }],
  [
    'unknown method has no verb',
    'OPTIONS',
    '/api/v1/namespaces/other/pods/foo',
    { verb: '', isResourceRequest: true },
  ],
  [
    'subresource',
    'GET',
    '/api/v1/namespaces/other/pods/foo/status',
    { verb: 'get', resource: 'pods', name: 'foo', subresource: 'status', parts: ['pods', 'foo', 'status'] },
  ],
  [
    'log subresource',
    'GET',
    '/api/v1/namespaces/other/pods/foo/log?follow=true',
    { verb: 'get', subresource: 'log' },
  ],
  [
    'extra parts past the subresource',
    'GET',
    '/api/v1/namespaces/other/pods/foo/proxy/a/b',
    { verb: 'get', subresource: 'proxy', parts: ['pods', 'foo', 'proxy', 'a', 'b'] },
  ],
  [
    'pod proxy name keeps scheme and port',
    'GET',
    '/api/v1/namespaces/default/pods/https:web:8443/proxy/',
    { name: 'https:web:8443', subresource: 'proxy' },
  ],
  [
    'service proxy',
    'GET',
    '/api/v1/namespaces/default/services/my-nginx:80/proxy/x',
    { resource: 'services', name: 'my-nginx:80', subresource: 'proxy' },
  ],
  [
    'exec is create over POST',
    'POST',
    '/api/v1/namespaces/default/pods/nginx/exec?command=ls&stdin=true',
    { verb: 'create', subresource: 'exec' },
  ],
  [
    'exec is get over GET (WebSocket)',
    'GET',
    '/api/v1/namespaces/default/pods/nginx/exec?command=ls',
    { verb: 'get', subresource: 'exec' },
  ],
  [
    'group resource',
    'GET',
    '/apis/apps/v1/namespaces/other/deployments/web',
    { apiPrefix: 'apis', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'web' },
  ],
  [
    'cluster-scoped group resource',
    'GET',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    { apiGroup: 'rbac.authorization.k8s.io', verb: 'list', resource: 'clusterroles', namespace: '' },
  ],
  [
    'review create',
    'POST',
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    { verb: 'create', apiGroup: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' },
  ],
  [
    'legacy watch path (namespaced)',
    'GET',
    '/api/v1/watch/namespaces/other/pods',
    { verb: 'watch', namespace: 'other', resource: 'pods', name: '' },
  ],
  [
    'legacy watch path names one object',
    'GET',
    '/api/v1/watch/namespaces/other/pods/foo',
    { verb: 'watch', name: 'foo' },
  ],
  [
    'legacy watch path (cluster)',
    'GET',
    '/api/v1/watch/pods',
    { verb: 'watch', namespace: '', resource: 'pods' },
  ],
  [
    'legacy watch path ignores selectors as attributes',
    'GET',
    '/api/v1/watch/pods?labelSelector=a%3Db',
    { verb: 'watch', labelSelector: '' },
  ],
  [
    'legacy proxy verb has no subresource',
    'GET',
    '/api/v1/proxy/namespaces/other/pods/foo/some/path',
    { verb: 'proxy', resource: 'pods', name: 'foo', subresource: '' },
  ],
  [
    'legacy proxy verb on a group path',
    'GET',
    '/apis/g/v1/proxy/things/a/b',
    { verb: 'proxy', apiGroup: 'g', resource: 'things', name: 'a', subresource: '' },
  ],
  ['watch=true', 'GET', '/api/v1/namespaces/other/pods?watch=true', { verb: 'watch' }],
  ['watch=1', 'GET', '/api/v1/namespaces/other/pods?watch=1', { verb: 'watch' }],
  ['watch=false is list', 'GET', '/api/v1/namespaces/other/pods?watch=false', { verb: 'list' }],
  ['watch=FALSE is list', 'GET', '/api/v1/namespaces/other/pods?watch=FALSE', { verb: 'list' }],
  ['watch=0 is list', 'GET', '/api/v1/namespaces/other/pods?watch=0', { verb: 'list' }],
  [
    'empty watch value is true (Go bool conversion)',
    'GET',
    '/api/v1/namespaces/other/pods?watch=',
    { verb: 'watch' },
  ],
  ['bare watch key is true', 'GET', '/api/v1/namespaces/other/pods?watch', { verb: 'watch' }],
  ['watch=yes is true', 'GET', '/api/v1/namespaces/other/pods?watch=yes', { verb: 'watch' }],
  ['Watch (wrong case) is not watch', 'GET', '/api/v1/namespaces/other/pods?Watch=true', { verb: 'list' }],
  ['percent-encoded watch key is watch', 'GET', '/api/v1/namespaces/other/pods?wat%63h=1', { verb: 'watch' }],
  [
    'watch param on a named get stays get',
    'GET',
    '/api/v1/namespaces/other/pods/foo?watch=true',
    { verb: 'get', name: 'foo' },
  ],
  [
    'fieldSelector names the object of a list',
    'GET',
    '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo',
    { verb: 'list', name: 'foo', fieldSelector: 'metadata.name=foo' },
  ],
  [
    'fieldSelector names the object of a watch',
    'GET',
    '/api/v1/namespaces/other/pods?watch=true&fieldSelector=metadata.name%3D%3Dfoo',
    { verb: 'watch', name: 'foo' },
  ],
  [
    'fieldSelector != does not name',
    'GET',
    '/api/v1/namespaces/other/pods?fieldSelector=metadata.name!%3Dfoo',
    { verb: 'list', name: '' },
  ],
  [
    'fieldSelector with other terms still names',
    'GET',
    '/api/v1/pods?fieldSelector=status.phase%3DRunning,metadata.name%3Dfoo',
    { name: 'foo' },
  ],
  [
    'fieldSelector: first of sorted terms wins',
    'GET',
    '/api/v1/pods?fieldSelector=metadata.name%3Db,metadata.name%3Da',
    { name: 'a' },
  ],
  [
    'fieldSelector: invalid name segment ignored',
    'GET',
    '/api/v1/pods?fieldSelector=metadata.name%3D..',
    { name: '' },
  ],
  [
    'fieldSelector: unparsable selector ignored',
    'GET',
    '/api/v1/pods?fieldSelector=metadata.name',
    { name: '' },
  ],
  [
    'fieldSelector: bare = in value ignored',
    'GET',
    '/api/v1/pods?fieldSelector=metadata.name%3Da%3Db',
    { name: '' },
  ],
  [
    'fieldSelector: escaped comma kept',
    'GET',
    '/api/v1/pods?fieldSelector=metadata.name%3Da%5C%2Cb',
    { name: 'a,b' },
  ],
  [
    'fieldSelector: spaces are part of the field',
    'GET',
    '/api/v1/pods?fieldSelector=metadata.name+%3D+foo',
    { name: '' },
  ],
  [
    'fieldSelector: a bad limit drops the name',
    'GET',
    '/api/v1/pods?limit=abc&fieldSelector=metadata.name%3Dfoo',
    { verb: 'list', name: '' },
  ],
  ['fieldSelector: a bad limit keeps watch', 'GET', '/api/v1/pods?limit=abc&watch=true', { verb: 'watch' }],
  [
    'fieldSelector does not rename a named get',
    'GET',
    '/api/v1/namespaces/other/pods/foo?fieldSelector=metadata.name%3Dbar',
    { verb: 'get', name: 'foo', fieldSelector: '' },
  ],
  [
    'deletecollection keeps selectors',
    'DELETE',
    '/api/v1/namespaces/other/pods?labelSelector=app%3Dweb',
    { verb: 'deletecollection', labelSelector: 'app=web' },
  ],
  [
    'trailing slash is ignored by splitPath',
    'GET',
    '/api/v1/namespaces/other/pods/',
    { verb: 'list', resource: 'pods', path: '/api/v1/namespaces/other/pods/' },
  ],
  [
    'encoded characters are decoded once',
    'GET',
    '/api/v1/namespaces/default/pods/web/proxy/a%20b',
    { path: '/api/v1/namespaces/default/pods/web/proxy/a b', parts: ['pods', 'web', 'proxy', 'a b'] },
  ],
  ['non-resource root', 'GET', '/', { isResourceRequest: false, verb: 'get', path: '/', parts: [] }],
  ['non-resource healthz', 'GET', '/healthz', { isResourceRequest: false, verb: 'get' }],
  [
    'non-resource version with trailing slash',
    'GET',
    '/version/',
    { isResourceRequest: false, path: '/version/' },
  ],
  ['/api is non-resource', 'GET', '/api', { isResourceRequest: false, apiPrefix: '' }],
  ['/api/v1 is non-resource', 'GET', '/api/v1', { isResourceRequest: false }],
  [
    '/apis/apps/v1 is non-resource (needs four parts)',
    'GET',
    '/apis/apps/v1',
    { isResourceRequest: false, apiPrefix: 'apis', apiGroup: '' },
  ],
  ['/apis/apps is non-resource', 'GET', '/apis/apps', { isResourceRequest: false }],
  [
    'non-resource POST verb is lowercase method',
    'POST',
    '/logs/x',
    { isResourceRequest: false, verb: 'post' },
  ],
  ['unknown prefix is non-resource', 'GET', '/openapi/v3/api/v1', { isResourceRequest: false, verb: 'get' }],
  ['prefix match is case-sensitive', 'GET', '/API/v1/pods', { isResourceRequest: false }],
];

describe('resolveRequestInfo follows the API server', () => {
  it.each(resolvedRows)('%s: %s %s', (_description, method, target, expected) => {
    expect(resolve(method, target)).toMatchObject(expected);
  });

  it('fills every field of a resource request', () => {
    expect(resolve('GET', '/apis/apps/v1/namespaces/ns/deployments/web/scale')).toEqual({
      isResourceRequest: true,
      path: '/apis/apps/v1/namespaces/ns/deployments/web/scale',
      verb: 'get',
      apiPrefix: 'apis',
      apiGroup: 'apps',
      apiVersion: 'v1',
      namespace: 'ns',
      resource: 'deployments',
      subresource: 'scale',
      name: 'web',
      parts: ['deployments', 'web', 'scale'],
      fieldSelector: '',
      labelSelector: '',
    });
  });
});

// Each row names the attack it stops: a target the gateway would authorize as one thing while the
// API server (or a hop between) reads another.
const rejectedRows: Array<[string, string, RejectionCode]> = [
  [
    'encoded slash splits a namespace into namespace + resource in Go',
    '/api/v1/namespaces/a%2Fb/pods',
    'encoded-slash',
  ],
  ['lower-case encoded slash, same split', '/api/v1/namespaces/default/pods/x%2fexec', 'encoded-slash'],
  [
    'dot-dot climbs from an allowed resource to secrets at a normalizing hop',
    '/api/v1/namespaces/a/pods/../secrets',
    'dot-segment',
  ],
  ['dot segment is dropped by normalizers, kept by Go', '/api/v1/./namespaces/a/pods', 'dot-segment'],
  [
    'encoded dot-dot (%2e%2e) decoded after our check',
    '/api/v1/namespaces/a/pods/%2e%2e/secrets',
    'dot-segment',
  ],
  ['mixed encoded dot-dot (.%2E)', '/api/v1/namespaces/a/pods/.%2E/secrets', 'dot-segment'],
  [
    'double slash: RequestInfo sees an empty part, ServeMux cleans it',
    '/api//v1/namespaces/a/pods',
    'empty-segment',
  ],
  ['double slash after the prefix shifts the parts', '/api/v1/namespaces//pods', 'empty-segment'],
  [
    'semicolon path parameter hides a segment from Java-style proxies',
    '/api/v1/namespaces/a/pods;x=y/foo',
    'path-parameter',
  ],
  ['raw backslash becomes "/" under WHATWG URL parsing', '/api/v1/namespaces/a\\pods', 'backslash'],
  ['encoded backslash likewise', '/api/v1/namespaces/a%5Cpods', 'backslash'],
  ['NUL byte truncates paths in C-based hops', '/api/v1/namespaces/a%00/pods', 'control-character'],
  ['encoded newline splits log lines and headers', '/api/v1/namespaces/a%0A/pods', 'control-character'],
  ['raw tab in the target', '/api/v1/namespaces/a\t/pods', 'control-character'],
  [
    'double encoding (%252F) decodes to %2F at a second decoder',
    '/api/v1/namespaces/a%252Fb/pods',
    'encoded-percent',
  ],
  [
    'malformed escape: Go answers 400, others pass it through',
    '/api/v1/namespaces/a%zz/pods',
    'malformed-percent-encoding',
  ],
  ['truncated escape at the end', '/api/v1/namespaces/a/pods/x%2', 'malformed-percent-encoding'],
  [
    'overlong UTF-8 for "/" (%C0%AF) read as a slash by lax decoders',
    '/api/v1/namespaces/a%C0%AFb/pods',
    'invalid-utf8',
  ],
  ['raw non-ASCII byte: latin1 here, UTF-8 in Go', '/api/v1/namespaces/caf\u00e9/pods', 'non-ascii'],
  [
    'fragment: WHATWG drops "#..." while Go keeps it in the path',
    '/api/v1/namespaces/a/pods#/../secrets',
    'fragment',
  ],
  ['absolute-form target smuggles a host', 'http://evil/api/v1/pods', 'not-origin-form'],
  ['asterisk-form target', '*', 'not-origin-form'],
  [
    'duplicate watch: Go reads the first, other parsers the last',
    '/api/v1/pods?watch=false&watch=true',
    'duplicate-query-parameter',
  ],
  [
    'duplicate watch spelled with an escape',
    '/api/v1/pods?watch=false&wat%63h=true',
    'duplicate-query-parameter',
  ],
  [
    'duplicate fieldSelector chooses which object is named',
    '/api/v1/pods?fieldSelector=metadata.name%3Da&fieldSelector=metadata.name%3Db',
    'duplicate-query-parameter',
  ],
  [
    'duplicate labelSelector changes selector authorization',
    '/api/v1/pods?labelSelector=a&labelSelector=b',
    'duplicate-query-parameter',
  ],
  [
    'semicolon in query: Go drops the pair, others keep it',
    '/api/v1/pods?watch=false;watch=true',
    'query-semicolon',
  ],
  [
    'malformed escape in the query: Go drops the pair',
    '/api/v1/pods?watch=%zz',
    'malformed-percent-encoding',
  ],
  ['over-long path exhausts buffers and logs', `/api/v1/namespaces/${'a'.repeat(5000)}/pods`, 'too-long'],
  [
    'watch verb without a resource: the API server fails with 500',
    '/api/v1/watch',
    'incomplete-resource-path',
  ],
];

describe('resolveRequestInfo refuses ambiguous targets', () => {
  it.each(rejectedRows)('%s', (_attack, target, code) => {
    const result = resolveRequestInfo('GET', target);
    expect(isRequestRejection(result) && result.code).toBe(code);
    if (isRequestRejection(result)) expect(result.message.length).toBeGreaterThan(10);
  });

  it('refuses an over-long query', () => {
    const result = resolveRequestInfo('GET', `/api/v1/pods?x=${'a'.repeat(70000)}`);
    expect(isRequestRejection(result) && result.code).toBe('too-long');
  });

  it('allows repeated parameters that do not decide authorization', () => {
    const info = resolve('POST', '/api/v1/namespaces/a/pods/p/exec?command=sh&command=-c&command=echo%20hi');
    expect(info.verb).toBe('create');
  });
});

describe('streaming upgrades', () => {
  const exec = resolve('GET', '/api/v1/namespaces/default/pods/nginx/exec?command=ls');
  const spdyExec = resolve('POST', '/api/v1/namespaces/default/pods/nginx/exec?command=ls');
  const portforward = resolve('GET', '/api/v1/namespaces/default/pods/nginx/portforward');
  const attach = resolve('POST', '/api/v1/namespaces/default/pods/nginx/attach');

  it.each([
    [
      'WebSocket GET exec',
      exec,
      { upgrade: 'websocket', connection: 'Upgrade' },
      { subresource: 'exec', transport: 'websocket' },
    ],
    [
      'WebSocket with odd case',
      exec,
      { upgrade: 'WebSocket' },
      { subresource: 'exec', transport: 'websocket' },
    ],
    ['SPDY POST exec', spdyExec, { upgrade: 'SPDY/3.1' }, { subresource: 'exec', transport: 'spdy' }],
    [
      'WebSocket port-forward',
      portforward,
      { upgrade: 'websocket' },
      { subresource: 'portforward', transport: 'websocket' },
    ],
    ['SPDY attach', attach, { upgrade: 'SPDY/3.1' }, { subresource: 'attach', transport: 'spdy' }],
    ['no Upgrade header', exec, {}, undefined],
    ['h2c is not a stream upgrade', exec, { upgrade: 'h2c' }, undefined],
    [
      'log is not a stream upgrade',
      resolve('GET', '/api/v1/namespaces/d/pods/p/log'),
      { upgrade: 'websocket' },
      undefined,
    ],
    [
      'pods/proxy WebSocket is not exec',
      resolve('GET', '/api/v1/namespaces/d/pods/p/proxy/ws'),
      { upgrade: 'websocket' },
      undefined,
    ],
    [
      'exec in another group is not pods/exec',
      resolve('GET', '/apis/x.io/v1/namespaces/d/pods/p/exec'),
      { upgrade: 'websocket' },
      undefined,
    ],
  ])('%s', (_description, info, headers, expected) => {
    expect(streamingUpgradeOf(headers, info)).toEqual(expected);
  });

  it('authorizes WebSocket exec (a GET) as create, like SPDY (a POST)', () => {
    expect(exec.verb).toBe('get');
    expect(authorizationVerbFor(exec)).toBe('create');
    expect(authorizationVerbFor(spdyExec)).toBe('create');
    expect(authorizationVerbFor(portforward)).toBe('create');
    expect(authorizationVerbFor(attach)).toBe('create');
  });

  it('leaves other verbs alone', () => {
    expect(authorizationVerbFor(resolve('GET', '/api/v1/namespaces/d/pods/p/log'))).toBe('get');
    expect(authorizationVerbFor(resolve('GET', '/api/v1/pods'))).toBe('list');
  });
});
