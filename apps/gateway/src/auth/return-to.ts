// Where a browser goes after login: a page the gateway itself serves (under /kgw/) and nothing
// else.
//
// Guards: the login flow against open redirects (a phishing link through our login that ends
// on someone else's site). Same-origin is not enough: every path outside /kgw/ is proxied to
// the API server, and a pod or service proxy path answers whatever the pod says — a 302 to
// any site. Refuses, falling back to the gateway's own page: paths outside /kgw/ (after the
// URL parser has resolved dot segments, so `/kgw/../api/...` is outside too), absolute URLs,
// scheme-relative `//host`, backslash tricks (`/\host`, browsers read `\` as `/`), control
// characters (`/\t/host` parses as `//host`), and any of these percent-encoded, however often.
export const DEFAULT_RETURN_TO = '/kgw/ui/';

/** The gateway's own pages: the UI, its API and its login pages; never a proxied path. */
const GATEWAY_PAGES = /^\/kgw\/(ui|v1|auth)(\/|$)/;

export function safeReturnTo(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return DEFAULT_RETURN_TO;
  // Decode repeatedly: `%252F%252F` must not survive as a later `//`.
  let decoded = raw;
  for (let i = 0; i < 5; i++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      return DEFAULT_RETURN_TO;
    }
    if (next === decoded) break;
    decoded = next;
  }
  for (const candidate of [raw, decoded]) {
    if (!candidate.startsWith('/')) return DEFAULT_RETURN_TO;
    if (candidate.startsWith('//') || candidate.startsWith('/\\')) return DEFAULT_RETURN_TO;
    if (candidate.includes('\\')) return DEFAULT_RETURN_TO;
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    if (/[\u0000-\u001f\u007f]/.test(candidate)) return DEFAULT_RETURN_TO;
  }
  // Last word to the URL parser: it must stay on our origin.
  const base = 'https://gateway.invalid';
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return DEFAULT_RETURN_TO;
  }
  if (url.origin !== base) return DEFAULT_RETURN_TO;
  if (!GATEWAY_PAGES.test(url.pathname)) return DEFAULT_RETURN_TO;
  return `${url.pathname}${url.search}${url.hash}`;
}
