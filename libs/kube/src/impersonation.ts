// Impersonation headers, and the client headers the gateway must never pass on.
//
// What it guards: the API server trusts the gateway's credential to act as anyone. The identity it acts
// as comes only from these headers, so (1) the gateway writes them itself, from the mapped identity,
// byte-exact as client-go does, and (2) no header a client sent may carry or alter an identity: any
// Authorization, Impersonate-*, X-Remote-* (requestheader authentication) or X-Forwarded-* header is
// dropped before anything reads the request.
//
// What it trusts: the Identity handed in (produced by the gateway's identity mapper).
//
// What it refuses: identities whose values would be read differently after the trip through HTTP —
// control characters, leading/trailing whitespace (HTTP trims it), an empty username, and extra keys
// with upper-case letters (the API server lowercases extra keys, so the SubjectAccessReview and the
// impersonated request would name different keys).

export interface Identity {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export class ImpersonationError extends Error {
  override readonly name = 'ImpersonationError';
}

/**
 * The headers that make the API server act as `identity`, in client-go's order: Impersonate-User,
 * Impersonate-Uid, one Impersonate-Group per group, one Impersonate-Extra-<escaped key> per value
 * (keys sorted, so the output is deterministic). Names are in Go's canonical form.
 *
 * Values are returned as "binary" strings holding their UTF-8 bytes: Node writes header values as
 * latin1, and Go reads the raw bytes as UTF-8, so this is what makes `jöhn` arrive as `jöhn`.
 */
export function impersonationHeaders(identity: Identity): Array<[string, string]> {
  if (identity.username === '') {
    throw new ImpersonationError('cannot impersonate an empty username');
  }
  const headers: Array<[string, string]> = [['Impersonate-User', headerValue('username', identity.username)]];
  if (identity.uid !== undefined && identity.uid !== '') {
    headers.push(['Impersonate-Uid', headerValue('uid', identity.uid)]);
  }
  for (const group of identity.groups) {
    headers.push(['Impersonate-Group', headerValue('group', group)]);
  }
  const extra = identity.extra ?? {};
  for (const key of Object.keys(extra).sort()) {
    if (key === '') throw new ImpersonationError('cannot impersonate an empty extra key');
    if (key !== asciiLowerCase(key)) {
      throw new ImpersonationError(
        `extra key ${JSON.stringify(key)} must be lower case: the API server lowercases extra keys`,
      );
    }
    const name = extraHeaderName(key);
    for (const value of extra[key]) {
      headers.push([name, headerValue(`extra ${key}`, value)]);
    }
  }
  return headers;
}

/**
 * Whether a client-sent header must be removed before the request is read or forwarded. Compares
 * case-insensitively and treats `_` as `-`, because some servers and proxies fold the two.
 */
export function isForbiddenClientHeader(name: string): boolean {
  const lower = name.toLowerCase();
  const normalized = lower.includes('_') ? lower.replace(/_/g, '-') : lower;
  if (FORBIDDEN_CLIENT_HEADERS.has(normalized)) return true;
  return FORBIDDEN_CLIENT_HEADER_PREFIXES.some((prefix) => normalized.startsWith(prefix));
}

const FORBIDDEN_CLIENT_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  // Client-IP claims: the gateway derives the client address itself.
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  // The API server takes Audit-ID as the ID of its own audit event: a client-chosen one could
  // collide with, or impersonate, the event of another request. The gateway sends its request id.
  'audit-id',
]);

const FORBIDDEN_CLIENT_HEADER_PREFIXES: readonly string[] = ['impersonate-', 'x-remote-', 'x-forwarded-'];

/** Hop-by-hop headers (RFC 9110 §7.6.1) that a proxy never forwards as they are. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// RFC 7230 token characters (Go's isTokenTable), which client-go keeps as they are in extra keys.
const TOKEN_CHARACTER = /^[!#$&'*+\-.^_`|~0-9A-Za-z]$/;

/** client-go headerKeyEscape: every UTF-8 byte outside the token set, and `%` itself, as %XX. */
export function escapeExtraKey(key: string): string {
  let escaped = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const character = String.fromCharCode(byte);
    escaped +=
      byte < 0x80 && TOKEN_CHARACTER.test(character)
        ? character
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return escaped;
}

/** Go's textproto.CanonicalMIMEHeaderKey for a name made only of token characters. */
export function canonicalHeaderName(name: string): string {
  let upper = true;
  let canonical = '';
  for (const character of name) {
    canonical += upper ? character.toUpperCase() : character.toLowerCase();
    upper = character === '-';
  }
  return canonical;
}

/**
 * Extra keys repeat on every request (kgw.io/auth-method, kgw.io/token-id…): their header names are
 * remembered, up to a bound, since a client's `--as-user-extra` may name any key.
 */
const extraHeaderNames = new Map<string, string>();
const EXTRA_HEADER_NAMES_MAX = 256;

function extraHeaderName(key: string): string {
  let name = extraHeaderNames.get(key);
  if (name === undefined) {
    name = canonicalHeaderName(`Impersonate-Extra-${escapeExtraKey(key)}`);
    if (extraHeaderNames.size < EXTRA_HEADER_NAMES_MAX) extraHeaderNames.set(key, name);
  }
  return name;
}

/**
 * Printable ASCII that starts and ends with a visible character: nothing to refuse, and its UTF-8
 * bytes are its characters. Nearly every value; the checks below handle the rest.
 */
const PLAIN_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

function headerValue(what: string, value: string): string {
  if (PLAIN_VALUE.test(value)) return value;
  // eslint-disable-next-line no-control-regex -- control characters are what we refuse
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new ImpersonationError(`cannot impersonate a ${what} containing a control character`);
  }
  // HTTP strips optional whitespace around a field value, so the API server would read another name.
  if (/^[ \t]|[ \t]$/.test(value)) {
    throw new ImpersonationError(`cannot impersonate a ${what} with leading or trailing whitespace`);
  }
  return Buffer.from(value, 'utf8').toString('latin1');
}

function asciiLowerCase(value: string): string {
  return value.replace(/[A-Z]/g, (character) => character.toLowerCase());
}
