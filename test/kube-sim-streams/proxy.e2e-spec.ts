// `kubectl proxy --port=0` in front of the simulator (demo scenario): pod and service proxy
// paths, redirects, header hygiene and HTML link rewriting.
import * as http from 'node:http';
import { KubectlRunner, LongRunningKubectl } from '../support/kubectl';
import { myNginxPods, startStreamsSim, StreamsSim } from '../support/streams-sim';

function get(
  port: number,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      })
      .on('error', reject);
  });
}

describe('pod and service proxy through kubectl proxy', () => {
  let server: StreamsSim;
  let kubectl: KubectlRunner;
  let proxy: LongRunningKubectl;
  let port: number;

  beforeAll(async () => {
    server = await startStreamsSim();
    kubectl = new KubectlRunner(server.kubeconfigs.admin);
    proxy = kubectl.start(['proxy', '--port=0']);
    port = Number((await proxy.waitFor(/Starting to serve on 127\.0\.0\.1:(\d+)/))[1]);
  });

  afterAll(async () => {
    await proxy?.stop();
    await kubectl?.cleanup();
    await server?.close();
  });

  it('serves the welcome page from pods/nginx/proxy/', async () => {
    const reply = await get(port, '/api/v1/namespaces/default/pods/nginx/proxy/');
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('<title>Welcome to nginx!</title>');
  });

  it('serves one of my-nginx pods from services/my-nginx/proxy/ (named and numbered ports)', async () => {
    // my-nginx's one port is unnamed (as `kubectl expose` makes it), so it also works without a port.
    for (const name of ['my-nginx', 'my-nginx:80', 'http:my-nginx:80', 'http:my-nginx:']) {
      const reply = await get(port, `/api/v1/namespaces/default/services/${name}/proxy/echo`);
      expect(reply.status).toBe(200);
      expect(myNginxPods(server.sim)).toContain(JSON.parse(reply.body).pod.name);
    }
    const page = await get(port, '/api/v1/namespaces/default/services/my-nginx/proxy/');
    expect(page.body).toContain('<title>Welcome to nginx!</title>');
  });

  it('passes path and query, drops credentials and sets X-Forwarded-*', async () => {
    const reply = await get(port, '/api/v1/namespaces/default/pods/nginx:80/proxy/echo/a/b/?x=1&y=two', {
      // Honoured by the API server (admin may impersonate alice, a cluster-admin), never forwarded.
      'Impersonate-User': 'alice',
    });
    expect(reply.status).toBe(200);
    const echo = JSON.parse(reply.body);
    expect(echo.path).toBe('/echo/a/b/');
    expect(echo.query).toEqual({ x: ['1'], y: ['two'] });
    expect(echo.headers.authorization).toBeUndefined();
    expect(echo.headers['impersonate-user']).toBeUndefined();
    expect(echo.headers['x-forwarded-for']).toBeDefined();
    expect(echo.headers['x-forwarded-uri']).toBe(
      '/api/v1/namespaces/default/pods/nginx:80/proxy/echo/a/b/?x=1&y=two',
    );
  });

  it('redirects a bare /proxy with 301 and rewrites same-host Location and HTML links', async () => {
    const bare = await get(port, '/api/v1/namespaces/default/pods/nginx/proxy');
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('/api/v1/namespaces/default/pods/nginx/proxy/');
    const redirect = await get(port, '/api/v1/namespaces/default/pods/nginx/proxy/redirect?to=/echo');
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/api/v1/namespaces/default/pods/nginx/proxy/echo');
    const links = await get(port, '/api/v1/namespaces/default/pods/nginx/proxy/links');
    expect(links.body).toContain('href="/api/v1/namespaces/default/pods/nginx/proxy/echo?from=links"');
    expect(links.body).toContain('href="http://nginx.org/"');
  });

  it('answers 503 for a port with no listener and 404 for a missing pod', async () => {
    const refused = await get(port, '/api/v1/namespaces/default/pods/nginx:8081/proxy/');
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body).message).toMatch(
      /^error trying to reach service: dial tcp 127\.\d+\.\d+\.\d+:8081: connect: connection refused$/,
    );
    const missing = await get(port, '/api/v1/namespaces/default/pods/nope/proxy/');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).message).toBe('pods "nope" not found');
  });
});
