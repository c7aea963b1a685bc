// The simulator's API seen by programs: @kubernetes/client-node, raw HTTPS for bad input,
// impersonation, watch semantics, the request log, and 1,000 concurrent watches.
import { request } from 'node:https';
import { startSimulator, type RunningSimulator } from '@kgw/kube-sim';
import { simHttp, type SimResponse } from '../support/sim-http';

// @kubernetes/client-node is ESM-only; Jest transforms it. It is pinned to 1.x in package.json:
// 2.x depends on an undici that needs Node >= 22.
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const k8s = require('@kubernetes/client-node') as typeof K8s;

describe('kube-sim API', () => {
  let sim: RunningSimulator;
  let http: ReturnType<typeof simHttp>;

  beforeAll(async () => {
    sim = await startSimulator({ scenario: 'demo', bookmarkIntervalMs: 200 });
    http = simHttp(sim.url, sim.caPem);
  });
  afterAll(async () => {
    http?.agent.destroy();
    await sim?.stop();
  });

  const admin = (
    path: string,
    init: {
      method?: string;
      body?: unknown;
      contentType?: string;
      headers?: Record<string, string | string[]>;
    } = {},
  ): Promise<SimResponse> =>
    http.send({
      path,
      token: sim.adminToken,
      method: init.method,
      body: init.body as never,
      contentType: init.contentType,
      headers: init.headers,
    });

  function kubeConfig(token: string): K8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'sim', server: sim.url, caData: Buffer.from(sim.caPem).toString('base64') }],
      users: [{ name: 'u', token }],
      contexts: [{ name: 'c', cluster: 'sim', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  describe('@kubernetes/client-node', () => {
    it('lists, creates and watches through an informer', async () => {
      const kc = kubeConfig(sim.adminToken);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const pods = await core.listNamespacedPod({ namespace: 'default' });
      expect(pods.items.map((p) => p.metadata?.name)).toContain('nginx');

      const informer = k8s.makeInformer(kc, '/api/v1/namespaces/team-a/configmaps', () =>
        core.listNamespacedConfigMap({ namespace: 'team-a' }),
      );
      const seen: string[] = [];
      const added = new Promise<void>((resolve) =>
        informer.on('add', (cm) => {
          seen.push(`add:${cm.metadata?.name}`);
          if (cm.metadata?.name === 'from-client') resolve();
        }),
      );
      const updated = new Promise<void>((resolve) =>
        informer.on('update', (cm) => {
          if (cm.metadata?.name === 'from-client' && cm.data?.k === 'v2') resolve();
        }),
      );
      const deleted = new Promise<void>((resolve) =>
        informer.on('delete', (cm) => {
          if (cm.metadata?.name === 'from-client') resolve();
        }),
      );
      await informer.start();
      await core.createNamespacedConfigMap({
        namespace: 'team-a',
        body: { metadata: { name: 'from-client' }, data: { k: 'v1' } },
      });
      await added;
      await core.patchNamespacedConfigMap(
        { namespace: 'team-a', name: 'from-client', body: { data: { k: 'v2' } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await updated;
      await core.deleteNamespacedConfigMap({ namespace: 'team-a', name: 'from-client' });
      await deleted;
      await informer.stop();
      expect(seen).toContain('add:settings');
    });

    it('reports a 403 to a read-only user and a 409 on conflicts', async () => {
      const carol = kubeConfig(sim.userTokens.carol).makeApiClient(k8s.CoreV1Api);
      await expect(
        carol.createNamespacedConfigMap({ namespace: 'team-a', body: { metadata: { name: 'nope' } } }),
      ).rejects.toMatchObject({ code: 403 });
      const core = kubeConfig(sim.adminToken).makeApiClient(k8s.CoreV1Api);
      const cm = await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: 'cas' }, data: { a: '1' } },
      });
      await core.replaceNamespacedConfigMap({
        namespace: 'default',
        name: 'cas',
        body: { ...cm, data: { a: '2' } },
      });
      await expect(
        core.replaceNamespacedConfigMap({
          namespace: 'default',
          name: 'cas',
          body: { ...cm, data: { a: '3' } },
        }),
      ).rejects.toMatchObject({ code: 409 });
    });
  });

  describe('authentication and impersonation', () => {
    it('401 without or with a bad credential, and logs no token', async () => {
      const none = await http.send({ path: '/api/v1/pods' });
      expect(none.status).toBe(401);
      expect(none.json()).toMatchObject({
        kind: 'Status',
        reason: 'Unauthorized',
        message: 'Unauthorized',
        code: 401,
      });
      expect((await http.send({ path: '/api/v1/pods', token: 'forged' })).status).toBe(401);
      const entry = sim.requestLog.entries.at(-1)!;
      expect(entry).toMatchObject({ path: '/api/v1/pods', authorizationHeader: true, status: 401 });
      expect(JSON.stringify(sim.requestLog.entries)).not.toContain('forged');
    });

    it('the gateway service account may impersonate but not act itself; the log records both users', async () => {
      const kgw = sim.userTokens.kgw;
      expect((await http.send({ path: '/api/v1/namespaces/team-a/pods', token: kgw })).status).toBe(403);
      const asBob = await http.send({
        path: '/api/v1/namespaces/team-a/pods',
        token: kgw,
        headers: {
          'Impersonate-User': 'bob',
          'Impersonate-Group': ['team-a', 'devs'],
          'Impersonate-Uid': 'u-1',
          'Impersonate-Extra-Kgw.io%2ftoken-Id': 'pat-7',
        },
      });
      expect(asBob.status).toBe(200);
      const entry = sim.requestLog.entries.at(-1)!;
      expect(entry.authenticatedUser?.username).toBe('system:serviceaccount:kgw-system:kgw');
      expect(entry.impersonation).toEqual({
        user: 'bob',
        groups: ['team-a', 'devs'],
        uid: 'u-1',
        extra: { 'kgw.io/token-id': ['pat-7'] },
      });
      expect(entry.user).toEqual({
        username: 'bob',
        uid: 'u-1',
        groups: ['team-a', 'devs', 'system:authenticated'],
        extra: { 'kgw.io/token-id': ['pat-7'] },
      });
      const denied = await http.send({
        path: '/api/v1/namespaces/team-b/pods',
        token: kgw,
        headers: { 'Impersonate-User': 'bob' },
      });
      expect(denied.json()).toMatchObject({
        code: 403,
        message:
          'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "team-b"',
      });
      const asSa = await http.send({
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        method: 'POST',
        token: kgw,
        headers: { 'Impersonate-User': 'system:serviceaccount:team-b:deployer' },
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      expect(asSa.json<{ status: { userInfo: unknown } }>().status.userInfo).toEqual({
        username: 'system:serviceaccount:team-b:deployer',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:team-b', 'system:authenticated'],
      });
    });

    it('refuses groups without a user and unpermitted impersonation, worded like the API server', async () => {
      const groupOnly = await admin('/api/v1/pods', { headers: { 'Impersonate-Group': 'system:masters' } });
      expect(groupOnly.status).toBe(500);
      expect(groupOnly.json()).toMatchObject({
        message:
          'Internal error occurred: requested [{Group  system:masters    }] without impersonating a user',
      });
      const bob = await http.send({
        path: '/api/v1/pods',
        token: sim.userTokens.bob,
        headers: { 'Impersonate-User': 'alice' },
      });
      expect(bob.json()).toMatchObject({
        code: 403,
        reason: 'Forbidden',
        message:
          'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
      });
      const extra = await http.send({
        path: '/apis',
        token: sim.userTokens.kgw,
        headers: { 'Impersonate-User': 'x', 'Impersonate-Extra-Scopes': 'view' },
      });
      expect(extra.json()).toMatchObject({
        code: 403,
        message:
          'userextras.authentication.k8s.io "view" is forbidden: User "system:serviceaccount:kgw-system:kgw" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope',
      });
    });

    it('reviews: SubjectAccessReview, TokenReview and TokenRequest with audiences', async () => {
      const kgw = sim.userTokens.kgw;
      const sar = await http.send({
        path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        method: 'POST',
        token: kgw,
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'bob',
            groups: ['team-a'],
            resourceAttributes: {
              namespace: 'team-a',
              verb: 'create',
              resource: 'pods',
              subresource: 'portforward',
              name: 'x',
            },
          },
        },
      });
      expect(sar.status).toBe(201);
      expect(sar.json<{ status: { allowed: boolean } }>().status.allowed).toBe(true);
      const tr = await http.send({
        path: '/api/v1/namespaces/team-b/serviceaccounts/deployer/token',
        method: 'POST',
        token: kgw,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600 },
        },
      });
      expect(tr.status).toBe(201);
      const token = tr.json<{ status: { token: string } }>().status.token;
      const review = await admin('/apis/authentication.k8s.io/v1/tokenreviews', {
        method: 'POST',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      });
      expect(
        review.json<{ status: { authenticated: boolean; user: { username: string } } }>().status,
      ).toMatchObject({ authenticated: true, user: { username: 'system:serviceaccount:team-b:deployer' } });
      const short = await http.send({
        path: '/api/v1/namespaces/team-b/serviceaccounts/deployer/token',
        method: 'POST',
        token: kgw,
        body: { spec: { expirationSeconds: 599 } },
      });
      expect(short.json()).toMatchObject({
        code: 422,
        message:
          'TokenRequest.authentication.k8s.io "deployer" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes',
      });
      const otherAudience = await http.send({
        path: '/api/v1/namespaces/team-b/serviceaccounts/deployer/token',
        method: 'POST',
        token: kgw,
        body: { spec: { audiences: ['kgw'] } },
      });
      expect(
        (
          await http.send({
            path: '/api/v1/namespaces/team-b/pods',
            token: otherAudience.json<{ status: { token: string } }>().status.token,
          })
        ).status,
      ).toBe(401);
    });
  });

  describe('bad input leaves the store unchanged', () => {
    const count = (): number => sim.store.list('pods', 'default').length;
    it.each([
      [
        'malformed JSON',
        '{"apiVersion":"v1","kind":"Po',
        'application/json',
        400,
        'the object provided is unrecognized (must be of type Pod): couldn\'t get version/kind; json parse error: unexpected end of JSON input ({"apiVersion":"v1","kind":"Po)',
      ],
      [
        'malformed YAML',
        'apiVersion: v1\nkind: Pod\nmetadata: [unclosed',
        'application/yaml',
        400,
        undefined,
      ],
      [
        'wrong kind',
        JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }),
        'application/json',
        400,
        'Service in version "v1" cannot be handled as a Pod: converting (v1.Service) to (core.Pod): unknown conversion',
      ],
      [
        'wrong group',
        JSON.stringify({ apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 's' } }),
        'application/json',
        400,
        undefined,
      ],
      [
        'missing containers',
        JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'empty' }, spec: {} }),
        'application/json',
        422,
        'Pod "empty" is invalid: spec.containers: Required value',
      ],
      [
        'bad name',
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'Bad_Name' },
          spec: { containers: [{ name: 'a', image: 'b' }] },
        }),
        'application/json',
        422,
        undefined,
      ],
      ['unsupported media type', 'x', 'text/plain', 415, undefined],
    ])('%s', async (_name, body, contentType, code, message) => {
      const before = count();
      const rv = sim.store.currentResourceVersion();
      const res = await admin('/api/v1/namespaces/default/pods', { method: 'POST', body, contentType });
      expect(res.status).toBe(code);
      expect(res.json()).toMatchObject({ kind: 'Status', status: 'Failure', code });
      if (message) expect(res.json<{ message: string }>().message).toBe(message);
      expect(count()).toBe(before);
      expect(sim.store.currentResourceVersion()).toBe(rv);
    });

    it('unknown fields: 400 with fieldValidation=Strict, a warning by default', async () => {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'strict' },
        spec: { containers: [{ name: 'a', image: 'b', colour: 'red' }], bogus: 1 },
      };
      const strict = await admin('/api/v1/namespaces/default/pods?fieldValidation=Strict', {
        method: 'POST',
        body: pod,
      });
      expect(strict.json()).toMatchObject({
        code: 400,
        reason: 'BadRequest',
        message:
          'strict decoding error: unknown field "spec.containers[0].colour", unknown field "spec.bogus"',
      });
      expect(sim.store.get('pods', 'default', 'strict')).toBeUndefined();
      const warn = await admin('/api/v1/namespaces/default/pods', { method: 'POST', body: pod });
      expect(warn.status).toBe(201);
      expect(warn.headers.warning).toContain('unknown field \\"spec.bogus\\"');
      await admin('/api/v1/namespaces/default/pods/strict', { method: 'DELETE' });
    });

    it('bad selectors and unsupported field labels → 400', async () => {
      expect((await admin('/api/v1/pods?labelSelector=a%20b')).json()).toMatchObject({
        code: 400,
        reason: 'BadRequest',
      });
      expect((await admin('/api/v1/pods?fieldSelector=foo')).json()).toMatchObject({
        code: 400,
        message: "invalid selector: 'foo'; can't understand 'foo'",
      });
      expect((await admin('/api/v1/pods?fieldSelector=spec.foo%3D1')).json()).toMatchObject({
        code: 400,
        message: 'field label not supported: spec.foo',
      });
      expect((await admin('/api/v1/configmaps?fieldSelector=data.x%3D1')).json()).toMatchObject({
        code: 400,
        message: '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"',
      });
      const running = await admin(
        '/api/v1/pods?fieldSelector=status.phase%3DRunning,metadata.namespace%3Ddefault&labelSelector=app%3Dnginx',
      );
      expect(
        running.json<{ items: { metadata: { name: string } }[] }>().items.map((i) => i.metadata.name),
      ).toEqual(['nginx']);
    });
  });

  describe('lists and watches', () => {
    it('pages with limit/continue and answers Tables', async () => {
      const first = (await admin('/api/v1/pods?limit=2')).json<{
        metadata: { continue: string; resourceVersion: string };
        items: unknown[];
      }>();
      expect(first.items).toHaveLength(2);
      const rest = (
        await admin(`/api/v1/pods?limit=100&continue=${encodeURIComponent(first.metadata.continue)}`)
      ).json<{ items: unknown[] }>();
      expect(first.items.length + rest.items.length).toBe(sim.store.list('pods').length);
      const table = (
        await admin('/api/v1/namespaces/default/services', {
          headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
        })
      ).json<{ kind: string; columnDefinitions: { name: string }[] }>();
      expect(table.kind).toBe('Table');
      expect(table.columnDefinitions.map((c) => c.name)).toEqual([
        'Name',
        'Type',
        'Cluster-IP',
        'External-IP',
        'Port(s)',
        'Age',
        'Selector',
      ]);
    });

    it('410 Expired for a too-old resourceVersion, bookmarks when asked, and timeoutSeconds ends the stream', async () => {
      const expired = await admin('/api/v1/pods?watch=true&resourceVersion=1');
      expect(JSON.parse(expired.text.trim())).toEqual({
        type: 'ERROR',
        object: expect.objectContaining({
          code: 410,
          reason: 'Expired',
          message: expect.stringMatching(/^too old resource version: 1 \(\d+\)$/),
        }),
      });
      const rv = sim.store.currentResourceVersion();
      const stream = await admin(
        `/api/v1/namespaces/team-b/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`,
      );
      const events = stream.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; object: { metadata: { resourceVersion: string } } });
      expect(events.length).toBeGreaterThan(0);
      expect(events.every((e) => e.type === 'BOOKMARK')).toBe(true);
    });

    it('1,000 concurrent watches all receive every event, in order', async () => {
      const n = 1000;
      await admin('/api/v1/namespaces', {
        method: 'POST',
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fanout' } },
      });
      await sim.settled();
      const rv = sim.store.currentResourceVersion();
      const base = new URL(sim.url);
      const streams = await Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<{ lines: string[]; done: Promise<void> }>((resolve, reject) => {
              const lines: string[] = [];
              const req = request(
                {
                  host: base.hostname,
                  port: base.port,
                  agent: http.agent,
                  path: `/api/v1/namespaces/fanout/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=60`,
                  headers: { authorization: `Bearer ${sim.adminToken}` },
                },
                (res) => {
                  let buf = '';
                  const done = new Promise<void>((finish) => {
                    res.on('data', (c: Buffer) => {
                      buf += c.toString();
                      let i;
                      while ((i = buf.indexOf('\n')) >= 0) {
                        lines.push(buf.slice(0, i));
                        buf = buf.slice(i + 1);
                        if (lines.at(-1)!.includes('"DELETED"') && lines.at(-1)!.includes('"cm-2"')) {
                          req.destroy();
                          finish();
                        }
                      }
                    });
                  });
                  resolve({ lines, done });
                },
              );
              req.on('error', (err: NodeJS.ErrnoException) =>
                err.code === 'ECONNRESET' ? undefined : reject(err),
              );
              req.end();
            }),
        ),
      );
      const expected: string[] = [];
      for (const name of ['cm-0', 'cm-1', 'cm-2']) {
        await admin('/api/v1/namespaces/fanout/configmaps', {
          method: 'POST',
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v: '1' } },
        });
        await admin(`/api/v1/namespaces/fanout/configmaps/${name}`, {
          method: 'PATCH',
          body: { data: { v: '2' } },
          contentType: 'application/merge-patch+json',
        });
        await admin(`/api/v1/namespaces/fanout/configmaps/${name}`, { method: 'DELETE' });
        expected.push(`ADDED ${name}`, `MODIFIED ${name}`, `DELETED ${name}`);
      }
      await Promise.all(streams.map((s) => s.done));
      for (const s of streams) {
        const got = s.lines
          .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } })
          .map((e) => `${e.type} ${e.object.metadata.name}`);
        expect(got).toEqual(expected);
      }
    }, 300_000); // 1,000 TLS connections: minutes on a loaded 2-core machine, seconds on a quiet one
  });
});
