// Where the CLI finds its gateway and credential: --server/KGW_SERVER, --token/KGW_TOKEN and
// --ca/KGW_CA_FILE (the demo's self-signed CA is .kgw/demo/tls/ca.crt), then the saved
// `kgw login`; flags and environment stay first so scripts can override.
// The token is only ever sent in an Authorization header, never printed.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Command } from 'commander';
import { CliError, ExitCode } from './commands/command';
import { readSavedLogin } from './saved-login';

export interface GatewayConnection {
  server: URL;
  token: string;
  caPem?: string;
}

/** The connection flags every command that talks to the gateway accepts. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  ca?: string;
}

/** Adds --server, --token and --ca to a command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--server <url>', 'gateway URL (or KGW_SERVER; default: the saved kgw login)')
    .option('--token <token>', 'bearer token (or KGW_TOKEN)')
    .option('--ca <file>', 'CA certificate to trust for the gateway (or KGW_CA_FILE)');
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Resolves the connection flags with the environment and the saved login. */
export function resolveGatewayConnection(
  flags: ConnectionFlags,
  env: Record<string, string | undefined>,
  /** Told about a risky but allowed choice (a token over plain HTTP across the network). */
  warn: (text: string) => void = () => undefined,
): GatewayConnection {
  // Flags, then environment, then the saved `kgw login` (only as a whole: a token saved for
  // one gateway is never sent to a server named on the command line).
  let server = flags.server ?? env.KGW_SERVER;
  let token = flags.token ?? env.KGW_TOKEN;
  let caFile = flags.ca ?? env.KGW_CA_FILE;
  const saved = readSavedLogin(env);
  if (saved && (!server || originOf(server) === originOf(saved.server))) {
    server ??= saved.server;
    token ??= saved.token;
    caFile ??= saved.caFile;
  }
  if (!server)
    throw new CliError('not logged in: run kgw login, pass --server or set KGW_SERVER', ExitCode.NotLoggedIn);
  if (!token)
    throw new CliError('no credential: run kgw login, pass --token or set KGW_TOKEN', ExitCode.NotLoggedIn);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CliError(`--server: not a URL: ${server}`, ExitCode.Usage);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new CliError('--server: expected an https:// URL', ExitCode.Usage);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    warn(
      `kgw: warning: ${url.origin} is plain HTTP: your token travels readable by anyone on the network ` +
        'between here and the gateway. Use its https:// URL (with --ca or KGW_CA_FILE if its certificate is private).\n',
    );
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new CliError(`--ca: cannot read ${caFile}: ${(err as Error).message}`, ExitCode.Usage);
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
    req.on('error', (err) => reject(unreachable(connection.server, err)));
    req.end();
  });
}

export async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The gateway's `{error, message}` answer as a CliError (see refusal). */
export async function failureOf(res: IncomingMessage): Promise<CliError> {
  const body = await readBody(res);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = { message: body.slice(0, 200) };
  }
  return refusal(res.statusCode ?? 0, parsed);
}

/** 127.0.0.0/8, ::1 and localhost: traffic that never leaves this computer. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

/** Node's codes for a server certificate that does not chain to a trusted CA or name the host. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The gateway could not be reached: exit code Unreachable, with the socket's reason. */
export function unreachable(server: URL, err: Error): CliError {
  const code = (err as NodeJS.ErrnoException).code;
  // The first thing a newcomer meets against the demo (its CA is generated): say what to do.
  const hint =
    code && UNTRUSTED_CERTIFICATE.has(code)
      ? ". The gateway's certificate is not trusted here: pass --ca FILE (or set KGW_CA_FILE) with the CA " +
        'that signed it — for the demo, --ca .kgw/demo/tls/ca.crt'
      : '';
  return new CliError(`cannot reach ${server.origin}: ${err.message}${hint}`, ExitCode.Unreachable);
}

/**
 * The error for a gateway answer other than success: 401 means the login is gone (run kgw login
 * again), 403 is forbidden; the gateway's message and request id are kept.
 */
export function refusal(status: number, body: unknown): CliError {
  const parsed = (typeof body === 'object' && body !== null ? body : {}) as {
    message?: unknown;
    requestId?: unknown;
  };
  const message = typeof parsed.message === 'string' ? parsed.message : 'failed';
  const id = typeof parsed.requestId === 'string' ? ` (request id ${parsed.requestId})` : '';
  if (status === 401)
    return new CliError(`${status}: ${message}${id}; run kgw login again`, ExitCode.NotLoggedIn);
  if (status === 403) return new CliError(`${status}: ${message}${id}`, ExitCode.Forbidden);
  if (status === 404) return new CliError(`${status}: ${message}${id}`, ExitCode.NotFound);
  return new CliError(`${status}: ${message}${id}`);
}
