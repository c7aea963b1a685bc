// Where the CLI finds its gateway and credential: --server/KGW_SERVER, --token/KGW_TOKEN and
// --ca/KGW_CA_FILE (the demo's self-signed CA is .kgw/demo/tls/ca.crt). `kgw login` will add
// its saved login as the next source; flags and environment stay first so scripts can override.
// The token is only ever sent in an Authorization header, never printed.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readSavedLogin } from './saved-login';

export interface GatewayConnection {
  server: URL;
  token: string;
  caPem?: string;
}

export class ConnectionError extends Error {
  override name = 'ConnectionError';
}

/** The value of `--name value` or `--name=value` in args, removing it from args. */
export function takeOption(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === `--${name}`) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ConnectionError(`--${name} needs a value`);
      args.splice(i, 2);
      return value;
    }
    if (arg.startsWith(`--${name}=`)) {
      args.splice(i, 1);
      return arg.slice(name.length + 3);
    }
  }
  return undefined;
}

export const CONNECTION_USAGE = `Connection:
  --server URL   gateway URL (or KGW_SERVER)
  --token TOKEN  bearer token (or KGW_TOKEN)
  --ca FILE      CA certificate to trust for the gateway (or KGW_CA_FILE)`;

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Takes the connection flags out of args and resolves them with the environment. */
export function resolveGatewayConnection(
  args: string[],
  env: Record<string, string | undefined>,
): GatewayConnection {
  // Flags, then environment, then the saved `kgw login` (only as a whole: a token saved for
  // one gateway is never sent to a server named on the command line).
  let server = takeOption(args, 'server') ?? env.KGW_SERVER;
  let token = takeOption(args, 'token') ?? env.KGW_TOKEN;
  let caFile = takeOption(args, 'ca') ?? env.KGW_CA_FILE;
  const saved = readSavedLogin(env);
  if (saved && (!server || originOf(server) === originOf(saved.server))) {
    server ??= saved.server;
    token ??= saved.token;
    caFile ??= saved.caFile;
  }
  if (!server) throw new ConnectionError('no gateway: run kgw login, pass --server or set KGW_SERVER');
  if (!token) throw new ConnectionError('no credential: run kgw login, pass --token or set KGW_TOKEN');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConnectionError(`--server: not a URL: ${server}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConnectionError('--server: expected an https:// URL');
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new ConnectionError(`--ca: cannot read ${caFile}: ${(err as Error).message}`);
    }
  }
  return { server: url, token, caPem };
}

/** A GET against the gateway with the caller's token; resolves with the response (unread). */
export function gatewayGet(
  connection: GatewayConnection,
  path: string,
  headers: Record<string, string> = {},
): Promise<IncomingMessage> {
  const url = new URL(path, connection.server);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        headers: { ...headers, authorization: `Bearer ${connection.token}` },
        ...(connection.caPem ? { ca: connection.caPem } : {}),
      },
      resolve,
    );
    req.on('error', (err) =>
      reject(new ConnectionError(`cannot reach ${connection.server.origin}: ${err.message}`)),
    );
    req.end();
  });
}

export async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The gateway's `{error, message}` body as one line for the terminal. */
export async function describeFailure(res: IncomingMessage): Promise<string> {
  const body = await readBody(res);
  try {
    const parsed = JSON.parse(body) as { message?: string; requestId?: string };
    return `${res.statusCode}: ${parsed.message ?? body}${parsed.requestId ? ` (request id ${parsed.requestId})` : ''}`;
  } catch {
    return `${res.statusCode}: ${body.slice(0, 200)}`;
  }
}
