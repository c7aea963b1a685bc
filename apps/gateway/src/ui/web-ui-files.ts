// The built web UI (dist/web, made by Vite from apps/web) as the gateway serves it under /kgw/ui/.
//
// Guards: the gateway's origin, where a signed-in user's cookie lives. Trusts: only the files
// Vite wrote, listed once when the gateway starts. Refuses: any path that is not one of those
// files (no filesystem lookup per request, so no traversal); inline scripts, framing, plugins
// and foreign origins, through the Content-Security-Policy every UI response carries.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { dirname, extname, join, relative, sep } from 'node:path';

export const UI_PATH = '/kgw/ui/';

/**
 * Scripts only from this origin, never inline or eval'd. Inline <style> elements are allowed
 * (`style-src-elem`): xterm.js writes its measured cell sizes and theme into <style> elements it
 * creates at run time; style attributes in markup stay refused. `connect-src 'self'` covers the
 * same-origin WebSocket of the terminal and the SSE audit tail.
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "style-src-elem 'self' 'unsafe-inline'",
  "style-src-attr 'none'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': UI_CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export interface UiFile {
  body: Buffer;
  contentType: string;
  /** Vite puts a content hash in every name under assets/: cache those for good. */
  immutable: boolean;
}

export class WebUiFiles {
  private constructor(
    private readonly files: ReadonlyMap<string, UiFile>,
    readonly directory: string | undefined,
  ) {}

  /** Reads the build once; an absent build gives a UI that says how to make it. */
  static load(directory = defaultUiDirectory()): WebUiFiles {
    const files = new Map<string, UiFile>();
    if (directory && existsSync(join(directory, 'index.html'))) {
      for (const path of listFiles(directory)) {
        const name = relative(directory, path).split(sep).join('/');
        files.set(name, {
          body: readFileSync(path),
          contentType: CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
          immutable: name.startsWith('assets/'),
        });
      }
    }
    return new WebUiFiles(files, files.size > 0 ? directory : undefined);
  }

  get built(): boolean {
    return this.files.has('index.html');
  }

  /**
   * The file for a path under /kgw/ui/ (already without that prefix): a built file by its exact
   * name, the app's page for any other route (the app routes in the browser), nothing for a
   * missing asset (a stale page asking for an old hash must not get HTML as JavaScript).
   */
  resolve(path: string): UiFile | undefined {
    const exact = this.files.get(path);
    if (exact) return exact;
    if (path.startsWith('assets/') || /\.[a-z0-9]+$/i.test(path)) return undefined;
    return this.files.get('index.html');
  }
}

function listFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** dist/web of the checkout or image this gateway runs from (source under jest, dist/ otherwise). */
function defaultUiDirectory(): string | undefined {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dist'))) return join(dir, 'dist', 'web');
  }
  return undefined;
}

/**
 * A browser opening the gateway's URL (GET / asking for HTML) goes to the UI; API clients
 * asking for `/` (kubectl, curl: JSON or anything but HTML first) still get the Kubernetes answer.
 */
export function isBrowserAtRoot(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (req.url !== '/' && !req.url?.startsWith('/?')) return false;
  const accept = req.headers.accept ?? '';
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}
