// `GET /api` answers APIVersions with serverAddressByClientCIDRs: the address the API server wants
// clients to use. Passed through, it would point a client of the gateway at the API server
// itself (an address the client usually cannot reach, and one it should not be sent to, since
// the gateway is its door to the cluster). So that one small answer is rewritten to name the
// address the client reached the gateway at.
import type * as http from 'node:http';

/** Whether a request is the legacy group's version list (`/api`, any query). */
export function isApiVersionsRequest(req: http.IncomingMessage): boolean {
  const url = req.url ?? '';
  return req.method === 'GET' && (url === '/api' || url.startsWith('/api?'));
}

/** The APIVersions body is a few hundred bytes; anything larger is passed on untouched. */
export const MAX_API_VERSIONS_BYTES = 64 * 1024;

/**
 * The address the client used for the gateway: its Host (or :authority) when it is a plain
 * host[:port], else the local address the connection came in on.
 */
export function gatewayAddress(req: http.IncomingMessage): string {
  const host = req.headers.host ?? req.headers[':authority'];
  if (typeof host === 'string' && /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(host)) return host;
  const { localAddress = '127.0.0.1', localPort } = req.socket;
  return localAddress.includes(':') ? `[${localAddress}]:${localPort}` : `${localAddress}:${localPort}`;
}

/**
 * Returns the body with serverAddressByClientCIDRs naming `address`, or undefined when the body
 * is not a JSON APIVersions (aggregated discovery, protobuf, an error Status): pass those on.
 */
export function rewriteApiVersions(body: Buffer, address: string): Buffer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { kind?: unknown }).kind !== 'APIVersions')
    return undefined;
  const versions = parsed as { serverAddressByClientCIDRs?: unknown };
  versions.serverAddressByClientCIDRs = [{ clientCIDR: '0.0.0.0/0', serverAddress: address }];
  return Buffer.from(JSON.stringify(versions));
}
