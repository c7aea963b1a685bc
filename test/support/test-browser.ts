// A browser without a browser, for login flows in tests: an HTTP client with a cookie jar
// (keyed by host, as browsers do), manual redirects, and a helper that fills the built-in
// provider's login form. Enough to complete authorization code + PKCE as a user would.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface BrowserResponse {
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface NavigateOptions {
  method?: string;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  /** Stop following redirects when the next location satisfies this (its response is returned unfetched). */
  stopAt?: (url: URL) => boolean;
}

export class TestBrowser {
  /** host → cookie name → value */
  private readonly jar = new Map<string, Map<string, string>>();
  /** Every URL requested, in order (to check where a flow went). */
  readonly visited: string[] = [];

  constructor(private readonly caPem?: string) {}

  cookie(host: string, name: string): string | undefined {
    return this.jar.get(host)?.get(name);
  }

  setCookie(host: string, name: string, value: string): void {
    let cookies = this.jar.get(host);
    if (!cookies) this.jar.set(host, (cookies = new Map()));
    cookies.set(name, value);
  }

  /** One request, no redirects followed. */
  async fetch(url: string, options: Omit<NavigateOptions, 'stopAt'> = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    this.visited.push(target.href);
    const body = options.form ? new URLSearchParams(options.form).toString() : options.body;
    const headers: Record<string, string> = { accept: 'text/html', ...options.headers };
    if (options.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const cookies = this.jar.get(target.hostname);
    if (cookies && cookies.size > 0) {
      headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((done, fail) => {
      const req = send(
        target,
        {
          method: options.method ?? (body !== undefined ? 'POST' : 'GET'),
          headers,
          ca: this.caPem,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            this.store(target.hostname, res.headers['set-cookie'] ?? []);
            done({
              url: target.href,
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            });
          });
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  }

  /** Follows redirects (GET after the first request), like a browser's address bar. */
  async navigate(url: string, options: NavigateOptions = {}): Promise<BrowserResponse> {
    let response = await this.fetch(url, options);
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.location;
      if (response.status < 300 || response.status >= 400 || !location) return response;
      const next = new URL(location, response.url);
      if (options.stopAt?.(next)) return response;
      response = await this.fetch(next.href);
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Navigates, and when the provider's login form appears, signs in as `user`. */
  async navigateSigningIn(
    url: string,
    user: string,
    password: string,
    options: NavigateOptions = {},
  ): Promise<BrowserResponse> {
    let response = await this.navigate(url, options);
    const form = /<form method="post" action="([^"]+\/login)"/.exec(response.body);
    if (!form) return response;
    const action = new URL(
      form[1].replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c))),
      response.url,
    );
    response = await this.fetch(action.href, { form: { login: user, password } });
    if (response.status === 401) return response;
    const location = response.headers.location;
    if (!location) return response;
    const next = new URL(location, response.url);
    if (options.stopAt?.(next)) return response;
    return this.navigate(next.href, { stopAt: options.stopAt });
  }

  private store(host: string, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => {
        const [k, v] = a.trim().split('=');
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return new Date(v).getTime() <= Date.now();
        return false;
      });
      let cookies = this.jar.get(host);
      if (!cookies) this.jar.set(host, (cookies = new Map()));
      if (expired || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
  }
}
