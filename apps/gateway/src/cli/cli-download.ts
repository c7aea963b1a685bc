// The single-file `kgw` CLI as the gateway offers it under /kgw/cli/ (built by scripts/build.mjs
// into dist/cli/kgw.js: the CLI and its packages in one file that needs only Node).
//
// Guards: the gateway's origin. Trusts: only the one file the build wrote, read once at boot (no
// filesystem lookup per request). Refuses: every other name under /kgw/cli/. The file is sent as
// a download (octet-stream, attachment, nosniff), never as a script a page could run.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const CLI_PATH = '/kgw/cli/';
/** The file's name in the download URL and in the checksum line. */
export const CLI_FILE_NAME = 'kgw';

export interface CliBundle {
  body: Buffer;
  sha256: string;
  version: string;
}

export class CliDownload {
  private constructor(readonly bundle: CliBundle | undefined) {}

  /** Reads dist/cli/kgw.js once; an absent build gives routes that say how to make it. */
  static load(file = defaultBundlePath()): CliDownload {
    if (!file || !existsSync(file)) return new CliDownload(undefined);
    const body = readFileSync(file);
    const version = /^\/\/ kgw CLI (\S+)$/m.exec(body.subarray(0, 512).toString('utf8'))?.[1] ?? 'unknown';
    return new CliDownload({ body, version, sha256: createHash('sha256').update(body).digest('hex') });
  }

  /** `sha256sum` format, so `sha256sum -c` checks a download saved as `kgw`. */
  checksumLine(): string | undefined {
    return this.bundle ? `${this.bundle.sha256}  ${CLI_FILE_NAME}\n` : undefined;
  }

  /** What /kgw/cli/ answers: the version, the checksum and how to install, for people and pages. */
  manifest(origin: string): Record<string, unknown> | undefined {
    if (!this.bundle) return undefined;
    const url = `${origin}${CLI_PATH}${CLI_FILE_NAME}`;
    return {
      name: 'kgw',
      version: this.bundle.version,
      sha256: this.bundle.sha256,
      size: this.bundle.body.length,
      url,
      checksumUrl: `${url}.sha256`,
      requires: 'Node.js >= 20.19',
      install: [
        `curl -fsSLO ${url}`,
        `curl -fsSL ${url}.sha256 | sha256sum -c -`,
        `chmod +x ${CLI_FILE_NAME} && mkdir -p ~/.local/bin && mv ${CLI_FILE_NAME} ~/.local/bin/`,
      ],
    };
  }
}

/** dist/cli/kgw.js of the checkout or image this gateway runs from. */
function defaultBundlePath(): string | undefined {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dist')))
      return join(dir, 'dist', 'cli', 'kgw.js');
  }
  return undefined;
}
