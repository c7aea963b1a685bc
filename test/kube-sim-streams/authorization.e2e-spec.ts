// How the simulator authorizes the pod stream subresources, pinned as a table with raw HTTP (no
// kubectl): `create` on pods/exec, pods/attach and pods/portforward for both the SPDY POST and the
// WebSocket GET; `get` on pods/log; pods/proxy and services/proxy by the request's verb. Users:
// carol (view everywhere), bob (edit in team-a only) and two made here with one narrow Role each.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { startStreamsSim, StreamsSim } from '../support/streams-sim';

type Upgrade = 'spdy' | 'websocket' | undefined;

interface Attempt {
  status: number;
  message?: string;
}

describe('authorization of pod stream subresources', () => {
  let server: StreamsSim;
  let agent: Agent;
  let webPod: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    server = await startStreamsSim();
    agent = new Agent({ ca: server.sim.caPem, keepAlive: false });
    tokens.carol = server.sim.userTokens.carol;
    tokens.bob = server.sim.userTokens.bob;
    // pod-reader: get pods, nothing on their subresources. exec-getter: `get` on pods/exec and
    // pods/portforward only (what WebSocket clients send, but not what the API server checks).
    // proxy-creator: `create` on pods/proxy and services/proxy only.
    const roles: Record<string, Array<{ resources: string[]; verbs: string[] }>> = {
      'pod-reader': [{ resources: ['pods'], verbs: ['get', 'list'] }],
      'exec-getter': [{ resources: ['pods', 'pods/exec', 'pods/portforward'], verbs: ['get'] }],
      'proxy-creator': [{ resources: ['pods/proxy', 'services/proxy'], verbs: ['create'] }],
    };
    for (const [name, rules] of Object.entries(roles)) {
      server.sim.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: `test:${name}`, namespace: 'default' },
        rules: rules.map((rule) => ({ apiGroups: [''], ...rule })),
      });
      server.sim.apply({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `test:${name}`, namespace: 'default' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `test:${name}` },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name }],
      });
      tokens[name] = server.sim.addUserToken(name, []);
    }
    await server.sim.settled();
    webPod = server.sim.store.list('pods', 'team-a').find((pod) => pod.metadata.labels?.app === 'web')!
      .metadata.name;
  });

  afterAll(async () => {
    agent?.destroy();
    await server?.close();
  });

  /** One request; an upgrade that succeeds reads as 101 (and its connection is dropped at once). */
  function attempt(user: string, method: string, path: string, upgrade: Upgrade): Promise<Attempt> {
    const headers: Record<string, string> = { Authorization: `Bearer ${tokens[user]}` };
    const portForward = path.includes('/portforward');
    if (upgrade === 'spdy') {
      Object.assign(headers, {
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': portForward ? 'portforward.k8s.io' : 'v4.channel.k8s.io',
      });
    } else if (upgrade === 'websocket') {
      Object.assign(headers, {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': portForward ? 'v4.channel.k8s.io' : 'v5.channel.k8s.io',
      });
    }
    const url = new URL(path, server.sim.url);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let message: string | undefined;
            if (/json/.test(res.headers['content-type'] ?? '')) {
              message = (JSON.parse(text) as { message?: string }).message;
            }
            resolve({ status: res.statusCode ?? 0, message });
          });
        },
      );
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0 });
      });
      req.on('error', reject);
      req.end();
    });
  }

  const denied = (user: string, verb: string, resource: string, name: string, ns: string): string =>
    `${resource.split('/')[0]} "${name}" is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "" in the namespace "${ns}"`;

  const pod = (ns: string, name: string, rest: string): string =>
    `/api/v1/namespaces/${ns}/pods/${name}/${rest}`;
  const EXEC = 'exec?command=env&stdout=true&stderr=true';
  const ATTACH = 'attach?stdout=true&stderr=true';

  // [user, method, subresource path (pod nginx in default), upgrade, expected status, denied verb].
  // Every row has all six columns: jest would pass `done` in place of a missing one.
  const CASES: Array<[string, string, string, Upgrade, number, string | null]> = [
    // carol: view → logs yes; exec/attach/portforward no, by either wire; no proxying.
    ['carol', 'GET', 'log?tailLines=1', undefined, 200, null],
    ['carol', 'POST', EXEC, 'spdy', 403, 'create'],
    ['carol', 'GET', EXEC, 'websocket', 403, 'create'],
    ['carol', 'GET', EXEC, undefined, 403, 'create'],
    ['carol', 'POST', ATTACH, 'spdy', 403, 'create'],
    ['carol', 'GET', ATTACH, 'websocket', 403, 'create'],
    ['carol', 'POST', 'portforward', 'spdy', 403, 'create'],
    ['carol', 'GET', 'portforward?ports=80', 'websocket', 403, 'create'],
    ['carol', 'GET', 'proxy/', undefined, 403, 'get'],
    ['carol', 'POST', 'proxy/echo', undefined, 403, 'create'],
    ['carol', 'PUT', 'proxy/echo', undefined, 403, 'update'],
    ['carol', 'PATCH', 'proxy/echo', undefined, 403, 'patch'],
    ['carol', 'DELETE', 'proxy/echo', undefined, 403, 'delete'],
    // bob: nothing at all in default.
    ['bob', 'GET', 'log', undefined, 403, 'get'],
    ['bob', 'POST', EXEC, 'spdy', 403, 'create'],
    ['bob', 'GET', 'portforward?ports=80', 'websocket', 403, 'create'],
    ['bob', 'GET', 'proxy/', undefined, 403, 'get'],
    // pod-reader: get on pods does not extend to pods/log.
    ['pod-reader', 'GET', 'log', undefined, 403, 'get'],
    // exec-getter: `get` on pods/exec is not enough for a WebSocket (GET) exec or port-forward.
    ['exec-getter', 'GET', EXEC, 'websocket', 403, 'create'],
    ['exec-getter', 'GET', 'portforward?ports=80', 'websocket', 403, 'create'],
    // proxy-creator: the proxy verb is the HTTP method's.
    ['proxy-creator', 'POST', 'proxy/echo', undefined, 200, null],
    ['proxy-creator', 'GET', 'proxy/echo', undefined, 403, 'get'],
    ['proxy-creator', 'DELETE', 'proxy/echo', undefined, 403, 'delete'],
  ];

  it.each(CASES)('%s %s pods/nginx/%s (%s) → %d', async (user, method, rest, upgrade, status, verb) => {
    const reply = await attempt(user, method, pod('default', 'nginx', rest), upgrade);
    expect(reply.status).toBe(status);
    if (verb) {
      const subresource = rest.split(/[/?]/)[0];
      expect(reply.message).toBe(denied(user, verb, `pods/${subresource}`, 'nginx', 'default'));
    }
  });

  it('services/proxy: carol and bob are refused by verb in default; proxy-creator may POST only', async () => {
    const path = '/api/v1/namespaces/default/services/my-nginx/proxy/echo';
    for (const [user, method, verb] of [
      ['carol', 'GET', 'get'],
      ['carol', 'POST', 'create'],
      ['bob', 'GET', 'get'],
      ['proxy-creator', 'GET', 'get'],
      ['proxy-creator', 'PUT', 'update'],
    ]) {
      const reply = await attempt(user, method, path, undefined);
      expect({ user, method, ...reply }).toEqual({
        user,
        method,
        status: 403,
        message: denied(user, verb, 'services/proxy', 'my-nginx', 'default'),
      });
    }
    expect((await attempt('proxy-creator', 'POST', path, undefined)).status).toBe(200);
  });

  it('bob (edit in team-a) may exec, attach and port-forward over both wires, read logs and proxy there', async () => {
    const results: Record<string, number> = {};
    const tries: Array<[string, string, Upgrade]> = [
      ['POST', EXEC, 'spdy'],
      ['GET', EXEC, 'websocket'],
      ['POST', ATTACH, 'spdy'],
      ['GET', ATTACH, 'websocket'],
      ['POST', 'portforward', 'spdy'],
      ['GET', 'portforward?ports=80', 'websocket'],
      ['GET', 'log', undefined],
      ['GET', 'proxy/', undefined],
      ['POST', 'proxy/echo', undefined],
      ['PUT', 'proxy/echo', undefined],
      ['PATCH', 'proxy/echo', undefined],
      ['DELETE', 'proxy/echo', undefined],
    ];
    for (const [method, rest, upgrade] of tries)
      results[`${method} ${rest} ${upgrade ?? 'http'}`] = (
        await attempt('bob', method, pod('team-a', webPod, rest), upgrade)
      ).status;
    for (const method of ['GET', 'POST', 'DELETE'])
      results[`${method} services/web:80/proxy`] = (
        await attempt('bob', method, '/api/v1/namespaces/team-a/services/web:80/proxy/echo', undefined)
      ).status;
    // Authorized, but web's one port is named: without a port no endpoint port matches (as upstream).
    results['GET services/web/proxy'] = (
      await attempt('bob', 'GET', '/api/v1/namespaces/team-a/services/web/proxy/echo', undefined)
    ).status;
    expect(results).toEqual({
      [`POST ${EXEC} spdy`]: 101,
      [`GET ${EXEC} websocket`]: 101,
      [`POST ${ATTACH} spdy`]: 101,
      [`GET ${ATTACH} websocket`]: 101,
      'POST portforward spdy': 101,
      'GET portforward?ports=80 websocket': 101,
      'GET log http': 200,
      'GET proxy/ http': 200,
      'POST proxy/echo http': 200,
      'PUT proxy/echo http': 200,
      'PATCH proxy/echo http': 200,
      'DELETE proxy/echo http': 200,
      'GET services/web:80/proxy': 200,
      'POST services/web:80/proxy': 200,
      'DELETE services/web:80/proxy': 200,
      'GET services/web/proxy': 503,
    });
  });
});
