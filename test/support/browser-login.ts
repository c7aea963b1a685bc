// Logs a user of the built-in OpenID provider in at a gateway stack through the provider's form
// (authorization code + PKCE, as a browser would), for suites that need a browser session.
import { OIDC_USERS, type GatewayStack } from './gateway-stack';
import { SECURE_SESSION_COOKIE } from '../../apps/gateway/src/auth/browser-sessions';
import { TestBrowser } from './test-browser';

export interface BrowserLogin {
  browser: TestBrowser;
  /** Where the gateway sent the browser after login. */
  landed: URL;
  status: number;
  /** The session cookie's value (a secret: keep it out of logs). */
  session?: string;
}

export async function browserLogin(
  stack: GatewayStack,
  user: keyof typeof OIDC_USERS,
  returnTo?: string,
): Promise<BrowserLogin> {
  const browser = new TestBrowser(stack.caPem);
  const gateway = new URL(stack.url);
  const start = `${stack.url}/kgw/auth/login${returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`}`;
  // Stop when the gateway sends the browser to its final page (off /kgw/auth/), or off-site.
  const stopAt = (u: URL): boolean =>
    (u.host === gateway.host && !u.pathname.startsWith('/kgw/auth/')) ||
    (u.host !== gateway.host && u.hostname !== '127.0.0.1');
  const res = await browser.navigateSigningIn(start, user, OIDC_USERS[user].password, { stopAt });
  return {
    browser,
    landed: new URL(String(res.headers.location ?? res.url), res.url),
    status: res.status,
    // The stack serves HTTPS: the session cookie carries the __Host- prefix.
    session: browser.cookie(gateway.hostname, SECURE_SESSION_COOKIE),
  };
}
