// Minimal HTTPS client for simulator tests: trusts the simulator's CA, sends a bearer token.
import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';

export interface SimResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface SimRequest {
  method?: string;
  path: string;
  token?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | object;
  contentType?: string;
}

export function simHttp(
  url: string,
  caPem: string,
): { send(req: SimRequest): Promise<SimResponse>; agent: Agent } {
  const base = new URL(url);
  const agent = new Agent({ ca: caPem, keepAlive: true, maxSockets: Infinity });
  return {
    agent,
    send(r: SimRequest): Promise<SimResponse> {
      const body =
        r.body === undefined
          ? undefined
          : typeof r.body === 'string' || Buffer.isBuffer(r.body)
            ? r.body
            : JSON.stringify(r.body);
      const headers: Record<string, string | string[]> = { ...(r.headers ?? {}) };
      if (r.token) headers.authorization = `Bearer ${r.token}`;
      if (body !== undefined) headers['content-type'] = r.contentType ?? 'application/json';
      return new Promise((resolve, reject) => {
        const req = request(
          {
            host: base.hostname,
            port: base.port,
            path: r.path,
            method: r.method ?? 'GET',
            headers,
            agent,
            ca: caPem,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text,
                json: <T>() => JSON.parse(text) as T,
              });
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
  };
}
