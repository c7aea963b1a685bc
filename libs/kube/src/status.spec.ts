import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { forbiddenMessageFor, forbiddenStatusFor } from './access-attributes';
import { goQuote } from './go-text';
import { resolveRequestInfo, type RequestInfo } from './request-info';
import { isRequestRejection } from './request-target';
import {
  alreadyExists,
  badRequest,
  conflict,
  encodeStatus,
  expired,
  gatewayTimeout,
  internal,
  methodNotSupported,
  serviceUnavailable,
  statusNotFound,
  tooManyRequests,
  unauthorized,
  writeStatus,
  type KubeStatus,
} from './status';

const pods = { group: '', resource: 'pods' };
const deployments = { group: 'apps', resource: 'deployments' };
const head = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",';

function info(method: string, target: string): RequestInfo {
  const result = resolveRequestInfo(method, target);
  if (isRequestRejection(result)) throw new Error(result.message);
  return result;
}

// Bodies as the API server writes them (Go encoding/json: field order, omitempty, HTML escaping, "\n").
const bodies: Array<[string, KubeStatus, string]> = [
  [
    'not found, core',
    statusNotFound(pods, 'x'),
    `${head}"message":"pods \\"x\\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}\n`,
  ],
  [
    'not found, group',
    statusNotFound(deployments, 'web'),
    `${head}"message":"deployments.apps \\"web\\" not found","reason":"NotFound","details":{"name":"web","group":"apps","kind":"deployments"},"code":404}\n`,
  ],
  [
    'already exists',
    alreadyExists(pods, 'x'),
    `${head}"message":"pods \\"x\\" already exists","reason":"AlreadyExists","details":{"name":"x","kind":"pods"},"code":409}\n`,
  ],
  [
    'conflict',
    conflict(
      pods,
      'x',
      'the object has been modified; please apply your changes to the latest version and try again',
    ),
    `${head}"message":"Operation cannot be fulfilled on pods \\"x\\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"x","kind":"pods"},"code":409}\n`,
  ],
  ['unauthorized', unauthorized(), `${head}"message":"Unauthorized","reason":"Unauthorized","code":401}\n`],
  [
    'bad request',
    badRequest('the request path contains ";"'),
    `${head}"message":"the request path contains \\";\\"","reason":"BadRequest","code":400}\n`,
  ],
  [
    'too many requests',
    tooManyRequests('Too many requests, please try again later.', 1),
    `${head}"message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}\n`,
  ],
  [
    'service unavailable',
    serviceUnavailable('the audit spool is unavailable'),
    `${head}"message":"the audit spool is unavailable","reason":"ServiceUnavailable","code":503}\n`,
  ],
  [
    'gateway timeout',
    gatewayTimeout('request did not complete within 60s'),
    `${head}"message":"Timeout: request did not complete within 60s","reason":"Timeout","details":{},"code":504}\n`,
  ],
  [
    'expired',
    expired('too old resource version: 1 (5)'),
    `${head}"message":"too old resource version: 1 (5)","reason":"Expired","code":410}\n`,
  ],
  [
    'method not supported',
    methodNotSupported(deployments, 'watch'),
    `${head}"message":"watch is not supported on resources of kind \\"deployments.apps\\"","reason":"MethodNotAllowed","details":{"group":"apps","kind":"deployments"},"code":405}\n`,
  ],
  [
    'internal hides the cause',
    internal('req-42'),
    `${head}"message":"Internal error occurred: the gateway could not complete the request (request id req-42)","reason":"InternalError","details":{"causes":[{"message":"request id req-42"}]},"code":500}\n`,
  ],
  [
    'forbidden named, namespaced, subresource',
    forbiddenStatusFor(
      {
        kind: 'resource',
        verb: 'get',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: 'exec',
        namespace: 'ns',
        name: 'x',
      },
      'u',
    ),
    `${head}"message":"pods \\"x\\" is forbidden: User \\"u\\" cannot get resource \\"pods/exec\\" in API group \\"\\" in the namespace \\"ns\\"","reason":"Forbidden","details":{"name":"x","kind":"pods"},"code":403}\n`,
  ],
  [
    'forbidden list (no name)',
    forbiddenStatusFor(
      {
        kind: 'resource',
        verb: 'list',
        group: '',
        version: 'v1',
        resource: 'pods',
        subresource: '',
        namespace: 'default',
        name: '',
      },
      'system:anonymous',
    ),
    `${head}"message":"pods is forbidden: User \\"system:anonymous\\" cannot list resource \\"pods\\" in API group \\"\\" in the namespace \\"default\\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}\n`,
  ],
  [
    'forbidden at the cluster scope, group',
    forbiddenStatusFor(
      {
        kind: 'resource',
        verb: 'list',
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        resource: 'clusterroles',
        subresource: '',
        namespace: '',
        name: '',
      },
      'u',
    ),
    `${head}"message":"clusterroles.rbac.authorization.k8s.io is forbidden: User \\"u\\" cannot list resource \\"clusterroles\\" in API group \\"rbac.authorization.k8s.io\\" at the cluster scope","reason":"Forbidden","details":{"group":"rbac.authorization.k8s.io","kind":"clusterroles"},"code":403}\n`,
  ],
  [
    'forbidden non-resource path: details is {}',
    forbiddenStatusFor({ kind: 'nonResource', verb: 'get', path: '/p' }, 'u'),
    `${head}"message":"forbidden: User \\"u\\" cannot get path \\"/p\\"","reason":"Forbidden","details":{},"code":403}\n`,
  ],
  [
    'forbidden with authorizer reason',
    forbiddenStatusFor(
      { kind: 'nonResource', verb: 'get', path: '/p' },
      'u',
      'RBAC: clusterrole.rbac.authorization.k8s.io "x" not found',
    ),
    `${head}"message":"forbidden: User \\"u\\" cannot get path \\"/p\\": RBAC: clusterrole.rbac.authorization.k8s.io \\"x\\" not found","reason":"Forbidden","details":{},"code":403}\n`,
  ],
  [
    'forbidden sanitizes HTML and Go-escapes it in JSON',
    forbiddenStatusFor({ kind: 'nonResource', verb: 'get', path: '/<b>' }, 'a&b'),
    `${head}"message":"forbidden: User \\"a\\u0026amp;b\\" cannot get path \\"/\\u0026lt;b\\u0026gt;\\"","reason":"Forbidden","details":{},"code":403}\n`,
  ],
];

describe('Status bodies are byte-exact', () => {
  it.each(bodies)('%s', (_description, status, body) => {
    expect(encodeStatus(status)).toBe(body);
  });
});

describe('forbiddenMessageFor', () => {
  it.each([
    [
      'GET',
      '/api/v1/namespaces/ns/pods/x/exec',
      'u',
      'pods "x" is forbidden: User "u" cannot create resource "pods/exec" in API group "" in the namespace "ns"',
    ],
    [
      'GET',
      '/api/v1/namespaces/ns/pods/x',
      'u',
      'pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "ns"',
    ],
    [
      'GET',
      '/api/v1/namespaces/ns/pods?watch=1',
      'u',
      'pods is forbidden: User "u" cannot watch resource "pods" in API group "" in the namespace "ns"',
    ],
    [
      'GET',
      '/api/v1/nodes',
      'u',
      'nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope',
    ],
    [
      'DELETE',
      '/apis/apps/v1/namespaces/ns/deployments',
      'u',
      'deployments.apps is forbidden: User "u" cannot deletecollection resource "deployments" in API group "apps" in the namespace "ns"',
    ],
    ['GET', '/healthz', 'u', 'forbidden: User "u" cannot get path "/healthz"'],
    [
      'GET',
      '/api/v1/namespaces/ns/pods/x',
      'j\u00f6hn "q"',
      'pods "x" is forbidden: User "j\u00f6hn \\"q\\"" cannot get resource "pods" in API group "" in the namespace "ns"',
    ],
  ])('%s %s as %s', (method, target, user, message) => {
    expect(forbiddenMessageFor(info(method, target), user)).toBe(message);
  });
});

describe('goQuote matches strconv.Quote', () => {
  it.each([
    ['plain', '"plain"'],
    ['tab\there', '"tab\\there"'],
    ['nul\u0000', '"nul\\x00"'],
    ['del\u007f', '"del\\x7f"'],
    ['caf\u00e9', '"caf\u00e9"'],
    ['zero\u200bwidth', '"zero\\u200bwidth"'],
    ['back\\slash', '"back\\\\slash"'],
  ])('%j', (input, quoted) => {
    expect(goQuote(input)).toBe(quoted);
  });
});

describe('writeStatus', () => {
  let server: http.Server;
  let port: number;
  let next: KubeStatus = unauthorized();

  beforeAll(async () => {
    server = http.createServer((_req, res) => writeStatus(res, next));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function fetchStatus(status: KubeStatus): Promise<Response> {
    next = status;
    return fetch(`http://127.0.0.1:${port}/`);
  }

  it('writes the code, JSON content type and the exact body', async () => {
    const response = await fetchStatus(unauthorized());
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await response.text()).toBe(encodeStatus(unauthorized()));
  });

  it('adds Retry-After for 429', async () => {
    const response = await fetchStatus(tooManyRequests('slow down', 3));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(JSON.parse(await response.text())).toMatchObject({ code: 429, details: { retryAfterSeconds: 3 } });
  });
});
