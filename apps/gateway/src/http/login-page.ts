// The small HTML pages and replies of the login routes: no scripts, no framing, escaped text.
import type { Request, Response } from 'express';
import { DEFAULT_RETURN_TO } from '../auth/return-to';

/** A caller that asked for JSON (scripts) rather than a page (browsers). */
export function wantsJson(req: Request): boolean {
  return (
    (req.headers.accept ?? '').includes('application/json') &&
    !(req.headers.accept ?? '').includes('text/html')
  );
}

/** An OAuth 2.0 error reply (RFC 6749 §5.2, RFC 8628 §3.5) for the CLI's token endpoints. */
export function oauthError(res: Response, status: number, error: string, description: string): void {
  res.status(status).json({ error, error_description: description });
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(res: Response, status: number, title: string, body: string): void {
  res.status(status);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // No scripts, no framing: these pages hold CSRF tokens and approval buttons (clickjacking).
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'",
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.send(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)} · kgw</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}<p><small><a href="${DEFAULT_RETURN_TO}">kgw</a></small></p></body></html>`);
}
