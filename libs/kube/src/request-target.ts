// Request-target canonicalization: the gate in front of every authorization decision.
//
// What it guards: the gateway authorizes a request from the path and query it reads, then forwards
// the raw target to the API server, which reads it again with Go's net/url (one percent-decoding of
// the path, `&`-separated query, first value of a repeated parameter wins). If the two readings could
// differ, a caller could be authorized for one resource and reach another. So this module accepts only
// targets whose meaning is the same to us, to Go, and to any RFC 3986 / WHATWG normalizer in between.
//
// What it trusts: nothing from the client. The raw target is taken byte for byte (Node hands us the
// request line as latin1); decoding happens once, here.
//
// What it refuses (each with a RejectionCode the gateway answers as a 400 Status):
//   not origin-form targets (absolute-form, `*`), over-long targets, control and non-ASCII bytes,
//   backslashes (raw or encoded; WHATWG turns them into `/`), `#` (a fragment to WHATWG, a path byte to
//   Go), `;` in the path (a path parameter to Java/Tomcat-style proxies), malformed or non-UTF-8 percent
//   escapes, encoded `/` and `%` (one decoder splits or re-decodes what another does not), `.`/`..`
//   segments raw or encoded (normalized away by some hops, not by Go), empty `//` segments (cleaned by
//   Go's ServeMux, split by RequestInfo), `;` in the query (Go drops such pairs, others keep them), and
//   a repeated `watch`, `fieldSelector` or `labelSelector` (Go uses the first; other parsers the last).

/** Why a request target was refused; each code names the ambiguity it closes. */
export type RejectionCode =
  | 'not-origin-form'
  | 'too-long'
  | 'control-character'
  | 'non-ascii'
  | 'backslash'
  | 'fragment'
  | 'path-parameter'
  | 'malformed-percent-encoding'
  | 'invalid-utf8'
  | 'encoded-slash'
  | 'encoded-percent'
  | 'dot-segment'
  | 'empty-segment'
  | 'query-semicolon'
  | 'duplicate-query-parameter'
  | 'incomplete-resource-path';

/** A refused request target. The gateway answers it with `badRequest(message)`. */
export interface RequestRejection {
  readonly rejected: true;
  readonly code: RejectionCode;
  /** Safe to show the caller: names the problem, never echoes more than the offending piece. */
  readonly message: string;
}

/** A request target that reads the same to the gateway and to the API server. */
export interface CanonicalTarget {
  /** The percent-decoded path, exactly Go's `req.URL.Path`. */
  readonly path: string;
  /** The path as received (still encoded); forward this one. */
  readonly rawPath: string;
  /** The query as received, without `?` ('' when absent). */
  readonly rawQuery: string;
  /** Decoded query parameters in order of appearance, as Go's `url.ParseQuery` reads them. */
  readonly query: ReadonlyMap<string, readonly string[]>;
}

export interface TargetLimits {
  /** Longest accepted raw path, in bytes. */
  readonly maxPathLength: number;
  /** Longest accepted raw target (path and query), in bytes; exec commands travel in the query. */
  readonly maxTargetLength: number;
}

export const DEFAULT_TARGET_LIMITS: TargetLimits = { maxPathLength: 4096, maxTargetLength: 65536 };

/** Query parameters that change the authorization decision, so a repeat is ambiguous. */
const AUTHORIZATION_QUERY_PARAMETERS: ReadonlySet<string> = new Set([
  'watch',
  'fieldSelector',
  'labelSelector',
]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function rejection(code: RejectionCode, message: string): RequestRejection {
  return { rejected: true, code, message };
}

export function isRequestRejection(value: unknown): value is RequestRejection {
  return typeof value === 'object' && value !== null && (value as { rejected?: unknown }).rejected === true;
}

/** Validates and decodes a raw request target (`req.url`). */
export function canonicalizeRequestTarget(
  rawTarget: string,
  limits: TargetLimits = DEFAULT_TARGET_LIMITS,
): CanonicalTarget | RequestRejection {
  if (!rawTarget.startsWith('/')) {
    return rejection('not-origin-form', 'the request target must be an absolute path starting with "/"');
  }
  if (rawTarget.length > limits.maxTargetLength) {
    return rejection('too-long', `the request target is longer than ${limits.maxTargetLength} bytes`);
  }
  for (let index = 0; index < rawTarget.length; index++) {
    const code = rawTarget.charCodeAt(index);
    if (code <= 0x20 || code === 0x7f) {
      return rejection('control-character', 'the request target contains a control character or space');
    }
    if (code > 0x7e) {
      // Clients percent-encode non-ASCII; a raw high byte would be read as latin1 here and UTF-8 in Go.
      return rejection('non-ascii', 'the request target contains a raw non-ASCII byte; percent-encode it');
    }
    if (code === 0x5c) {
      return rejection('backslash', 'the request target contains a backslash');
    }
    if (code === 0x23) {
      return rejection('fragment', 'the request target contains "#"');
    }
  }

  // Go splits at the first "?", as we do; everything after it is the query.
  const queryStart = rawTarget.indexOf('?');
  const rawPath = queryStart === -1 ? rawTarget : rawTarget.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? '' : rawTarget.slice(queryStart + 1);
  if (rawPath.length > limits.maxPathLength) {
    return rejection('too-long', `the request path is longer than ${limits.maxPathLength} bytes`);
  }

  const path = decodePath(rawPath);
  if (isRequestRejection(path)) return path;
  const query = decodeQuery(rawQuery);
  if (isRequestRejection(query)) return query;
  return { path, rawPath, rawQuery, query };
}

function decodePath(rawPath: string): string | RequestRejection {
  if (rawPath === '/') return '/';
  const rawSegments = rawPath.slice(1).split('/');
  const decodedSegments: string[] = [];
  for (let index = 0; index < rawSegments.length; index++) {
    const rawSegment = rawSegments[index];
    const isTrailing = index === rawSegments.length - 1;
    if (rawSegment === '') {
      // One trailing slash is meaningful (`/version/`, `.../proxy/`) and read alike everywhere.
      if (isTrailing) {
        decodedSegments.push('');
        continue;
      }
      return rejection('empty-segment', 'the request path contains an empty segment ("//")');
    }
    if (rawSegment.includes(';')) {
      return rejection('path-parameter', 'the request path contains ";" (a path parameter to some proxies)');
    }
    const segment = percentDecode(rawSegment, false);
    if (isRequestRejection(segment)) return segment;
    if (segment.includes('/')) {
      return rejection('encoded-slash', 'the request path contains an encoded "/" (%2F)');
    }
    if (segment.includes('\\')) {
      return rejection('backslash', 'the request path contains an encoded backslash (%5C)');
    }
    if (segment.includes('%')) {
      // A literal "%" after decoding means the client encoded twice; a second decoder would differ.
      return rejection('encoded-percent', 'the request path contains an encoded "%" (%25)');
    }
    if (segment === '.' || segment === '..') {
      return rejection('dot-segment', 'the request path contains a "." or ".." segment (raw or encoded)');
    }
    if (hasControlCharacter(segment)) {
      return rejection('control-character', 'the request path contains an encoded control character');
    }
    decodedSegments.push(segment);
  }
  return `/${decodedSegments.join('/')}`;
}

function decodeQuery(rawQuery: string): Map<string, string[]> | RequestRejection {
  const query = new Map<string, string[]>();
  if (rawQuery === '') return query;
  if (rawQuery.includes(';')) {
    // Go's ParseQuery drops any pair containing ";" while most other parsers keep it.
    return rejection('query-semicolon', 'the query contains ";"; encode it as %3B');
  }
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const key = percentDecode(equals === -1 ? pair : pair.slice(0, equals), true);
    if (isRequestRejection(key)) return key;
    const value = percentDecode(equals === -1 ? '' : pair.slice(equals + 1), true);
    if (isRequestRejection(value)) return value;
    const values = query.get(key);
    if (values === undefined) {
      query.set(key, [value]);
      continue;
    }
    if (AUTHORIZATION_QUERY_PARAMETERS.has(key)) {
      return rejection(
        'duplicate-query-parameter',
        `the query repeats "${key}", which decides authorization`,
      );
    }
    values.push(value);
  }
  return query;
}

/** One round of percent-decoding into UTF-8; in a query `+` is a space, as in Go's QueryUnescape. */
function percentDecode(raw: string, plusIsSpace: boolean): string | RequestRejection {
  if (!raw.includes('%') && !(plusIsSpace && raw.includes('+'))) return raw;
  const bytes: number[] = [];
  for (let index = 0; index < raw.length; index++) {
    const character = raw[index];
    if (character === '%') {
      const hex = raw.slice(index + 1, index + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        return rejection(
          'malformed-percent-encoding',
          'the request target contains a malformed percent escape',
        );
      }
      bytes.push(parseInt(hex, 16));
      index += 2;
    } else if (character === '+' && plusIsSpace) {
      bytes.push(0x20);
    } else {
      bytes.push(raw.charCodeAt(index));
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return rejection('invalid-utf8', 'the request target percent-encodes bytes that are not UTF-8');
  }
}

function hasControlCharacter(value: string): boolean {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point here
  return /[\u0000-\u001f\u007f]/.test(value);
}
