// /kgw/ui/: the browser UI's files. No authentication here: the page itself holds nothing
// secret, and it signs the user in (via /kgw/auth/login) when /kgw/v1/me says 401.
import { Controller, Get, Head, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { UI_PATH, UI_SECURITY_HEADERS, WebUiFiles } from '../ui/web-ui-files';

@Controller('kgw')
export class UiController {
  constructor(@Inject(WebUiFiles) private readonly files: WebUiFiles) {}

  // Express matches `ui` with or without the trailing slash: only the bare one is redirected.
  @Get(['ui', 'ui/*path'])
  @Head(['ui', 'ui/*path'])
  serve(@Req() req: Request, @Res() res: Response): void {
    const pathname = req.originalUrl.split('?')[0] ?? '';
    if (!pathname.startsWith(UI_PATH)) return void res.redirect(301, UI_PATH);
    for (const [name, value] of Object.entries(UI_SECURITY_HEADERS)) res.setHeader(name, value);
    if (!this.files.built) {
      res.status(503).type('text/plain').send('The web UI is not built: run `npm run build` (scripts/build.mjs).\n');
      return;
    }
    // req.path is already decoded by Express; the raw path keeps `%2F` from naming a file.
    const raw = pathname.slice(UI_PATH.length);
    const file = this.files.resolve(raw);
    if (!file) {
      res.status(404).type('text/plain').send('No such file in the web UI.\n');
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }
}
