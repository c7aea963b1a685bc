// A JSON request to the gateway (login, logout, whoami), optionally with a bearer token.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { unreachable } from './gateway-connection';

export function gatewayJson(
  connection: { server: URL; caPem?: string; token?: string },
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const url = new URL(path, connection.server);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (connection.token) headers.authorization = `Bearer ${connection.token}`;
  return new Promise((done, fail) => {
    const req = send(
      url,
      { method, headers, ...(connection.caPem ? { ca: connection.caPem } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          done({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', (err) => fail(unreachable(url, err)));
    req.end(payload);
  });
}
