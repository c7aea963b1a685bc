// Refuses credentials that crossed the network in clear text.
//
// Guards: bearer tokens and session cookies sent over plain HTTP from another host — readable
// by anyone on the path, and replayable for as long as they live. A gateway that accepted them
// would make a forgotten TLS setting (or an ingress that speaks plain HTTP to the pod without
// saying so) look like it works. Refusing cannot un-send the credential, but the first request
// fails loudly, with the fix in the message, instead of a deployment running that way for months.
//
// Trusts: a TLS socket; a peer in KGW_HTTP_TRUSTED_PROXIES that says `X-Forwarded-Proto: https`
// (it terminated TLS; its own, last, value counts, since a client can send the header too) —
// a trusted proxy is judged by that header even on loopback; any other loopback peer (the same
// host: `kubectl port-forward` into the pod, a local curl); the operator's
// KGW_HTTP_ALLOW_PLAIN_CREDENTIALS. Demo mode is exempt (loopback, generated TLS).
//
// Refuses: with 403 and a message that names the way out. 403, not 401: kubectl prints a 403's
// message, while a 401 only becomes "You must be logged in to the server".
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { cookieValue, SECURE_SESSION_COOKIE, SESSION_COOKIE } from './browser-sessions';

export interface CredentialTransportOptions {
  /** KGW_HTTP_ALLOW_PLAIN_CREDENTIALS, or demo mode. */
  allowPlain: boolean;
  /** Whether the socket peer is a configured trusted proxy (ClientAddressResolver). */
  fromTrustedProxy(req: IncomingMessage): boolean;
}

export const PLAIN_HTTP_REFUSAL =
  'credentials are refused over plain HTTP from another host: they cross the network readable by anyone on the path ' +
  '(treat this one as exposed). Use https://; behind a proxy that terminates TLS, list it in KGW_HTTP_TRUSTED_PROXIES ' +
  'and have it send X-Forwarded-Proto: https; on a network encrypted otherwise (a service mesh with mTLS), set ' +
  'KGW_HTTP_ALLOW_PLAIN_CREDENTIALS=true';

export class CredentialTransport {
  constructor(private readonly options: CredentialTransportOptions) {}

  /** The refusal's message when `req` carries a credential that arrived in clear, else undefined. */
  refusal(req: IncomingMessage): string | undefined {
    if (this.options.allowPlain || !carriesCredential(req)) return undefined;
    if ((req.socket as TLSSocket).encrypted === true) return undefined;
    // A trusted proxy speaks for the hop before it, even from loopback (a sidecar that takes
    // plain HTTP from outside the pod): its X-Forwarded-Proto decides.
    if (this.options.fromTrustedProxy(req))
      return forwardedProto(req) === 'https' ? undefined : PLAIN_HTTP_REFUSAL;
    return isLoopback(req.socket.remoteAddress) ? undefined : PLAIN_HTTP_REFUSAL;
  }
}

/** An Authorization header of any kind, or the gateway's session cookie (other cookies are not ours). */
function carriesCredential(req: IncomingMessage): boolean {
  return (
    req.headers.authorization !== undefined ||
    cookieValue(req, SESSION_COOKIE) !== undefined ||
    cookieValue(req, SECURE_SESSION_COOKIE) !== undefined
  );
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped form. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/** The scheme the nearest proxy saw: the last value of X-Forwarded-Proto (the one it set). */
function forwardedProto(req: IncomingMessage): string | undefined {
  const header = req.headers['x-forwarded-proto'];
  const values = ([] as string[])
    .concat(header ?? [])
    .join(',')
    .split(',')
    .map((value) => value.trim().toLowerCase())
    .filter(Boolean);
  return values.at(-1);
}
