// nginx as a second anchor: a plain reverse proxy (keep-alive HTTPS pool, the upstream's CA
// verified, a fixed Authorization header) in front of the same upstream. A C proxy doing no auth,
// no authorization and no audit: the floor for what forwarding alone costs. Used only when an
// nginx binary is installed (`apt-get install -y nginx-light`); otherwise the bench says so.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context';
import type { UpstreamInfo } from './environment';
import { freePort, waitForHttp, type Child } from './processes';

export function findNginx(): string | undefined {
  const dirs = (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']);
  return dirs.map((dir) => join(dir, 'nginx')).find((path) => existsSync(path));
}

export interface NginxInfo {
  url: string;
  child: Child;
}

export function nginxProxy(ctx: BenchContext, binary: string, upstream: UpstreamInfo): Promise<NginxInfo> {
  return ctx.shared(`nginx-${upstream.name}`, async () => {
    const prefix = join(ctx.workDir, `nginx-${upstream.name}`);
    mkdirSync(join(prefix, 'logs'), { recursive: true });
    const caFile = join(prefix, 'upstream-ca.crt');
    writeFileSync(caFile, upstream.caPem);
    const port = await freePort();
    const upstreamUrl = new URL(upstream.url);
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(
      conf,
      `# written by bench/support/nginx.ts
daemon off;
master_process on;
worker_processes auto;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  upstream kube { server ${upstreamUrl.host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass https://kube;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${upstream.adminToken}";
      proxy_ssl_trusted_certificate ${caFile};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
    }
  }
}
`,
    );
    ctx.log(`starting nginx → ${upstream.name} on port ${port}`);
    const child = ctx.processes.spawn(`nginx-${upstream.name}`, binary, [
      '-p',
      prefix,
      '-c',
      conf,
      '-e',
      'stderr',
    ]);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/version`, { expectStatus: 200, alive: () => child.running });
    return { value: { url, child }, stop: () => child.stop() };
  });
}
