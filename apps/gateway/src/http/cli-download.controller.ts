// /kgw/cli/: the single-file `kgw` CLI for people who have Node but not this repository
// (cli-download.ts). No authentication: the file holds nothing secret, and it is what a new user
// needs before they can log in. GET /kgw/cli/ describes it (version, SHA-256, install lines),
// /kgw/cli/kgw is the file, /kgw/cli/kgw.sha256 its checksum in `sha256sum -c` format.
import { Controller, Get, Head, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CLI_FILE_NAME, CLI_PATH, CliDownload } from '../cli/cli-download';
import { GatewayEndpoint } from '../connect/gateway-endpoint';
import { GatewayError } from '../errors/gateway-error';

const NOT_BUILT = 'The kgw CLI download is not built: run `npm run build` (scripts/build.mjs).';

@Controller('kgw')
export class CliDownloadController {
  constructor(
    @Inject(CliDownload) private readonly download: CliDownload,
    private readonly endpoint: GatewayEndpoint,
  ) {}

  // Express matches `cli` with or without the trailing slash: only the bare one is redirected.
  @Get(['cli', 'cli/*path'])
  @Head(['cli', 'cli/*path'])
  serve(@Req() req: Request, @Res() res: Response): void {
    const pathname = req.originalUrl.split('?')[0] ?? '';
    if (!pathname.startsWith(CLI_PATH)) return void res.redirect(301, CLI_PATH);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-cache');
    const name = pathname.slice(CLI_PATH.length);
    if (name !== '' && name !== CLI_FILE_NAME && name !== `${CLI_FILE_NAME}.sha256`)
      throw new GatewayError(
        'not_found',
        `No such file under ${CLI_PATH} (there are ${CLI_FILE_NAME} and ${CLI_FILE_NAME}.sha256).`,
      );
    const bundle = this.download.bundle;
    if (!bundle) throw new GatewayError('not_ready', NOT_BUILT);
    res.setHeader('ETag', `"${bundle.sha256}"`);
    if (name === '') {
      res.status(200).json(this.download.manifest(this.endpoint.url()));
      return;
    }
    if (name.endsWith('.sha256')) {
      res.status(200).type('text/plain').send(this.download.checksumLine());
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Disposition', `attachment; filename="${CLI_FILE_NAME}"`);
    res.setHeader('Content-Length', String(bundle.body.length));
    res.setHeader('X-Checksum-Sha256', bundle.sha256);
    res.setHeader('X-Kgw-Version', bundle.version);
    res.end(req.method === 'HEAD' ? undefined : bundle.body);
  }
}
