// The gateway's own certificate and key, from KGW_HTTP_TLS_CERT_FILE / KGW_HTTP_TLS_KEY_FILE,
// reloaded when the files change (cert-manager renewing a Secret: the kubelet swaps the mounted
// files with a `..data` symlink rename). New connections get the new pair through
// setSecureContext; open connections keep the context they were made with, so watches, exec
// sessions and tunnels go on. A pair that does not load (half-written, key and certificate that
// do not match) is logged and the previous one stays in use.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';

export interface TlsPair {
  cert: string;
  key: string;
}

/** How often the files are stat()ed; a stat is a few microseconds, off the request path. */
const RECHECK_MS = 1000;

export class ReloadingTlsFiles {
  private pair: TlsPair;
  private signature: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly logger: Logger,
  ) {
    // At boot a pair that does not load is an error, named by its settings.
    this.pair = this.load();
    this.signature = this.statSignature() ?? '';
  }

  get current(): TlsPair {
    return this.pair;
  }

  /** Watches the files and hands every good new pair to the servers' future handshakes. */
  watch(servers: readonly TlsServer[]): void {
    this.timer = setInterval(() => this.recheck(servers), RECHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private recheck(servers: readonly TlsServer[]): void {
    const signature = this.statSignature();
    if (signature === undefined || signature === this.signature) return;
    let next: TlsPair;
    try {
      next = this.load();
    } catch (err) {
      // Mid-rotation (only one file swapped yet) or a broken pair: keep serving the old one and
      // try again at the next change.
      this.logger.warn(
        { err: (err as Error).message },
        'TLS certificate files changed but do not load; keeping the previous certificate',
      );
      return;
    }
    this.signature = signature;
    this.pair = next;
    for (const server of servers) server.setSecureContext({ cert: next.cert, key: next.key });
    this.logger.info({ certFile: this.certFile }, 'TLS certificate reloaded');
  }

  private load(): TlsPair {
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(this.certFile, 'utf8');
    } catch (err) {
      throw new Error(
        `KGW_HTTP_TLS_CERT_FILE: cannot read ${this.certFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    try {
      key = readFileSync(this.keyFile, 'utf8');
    } catch (err) {
      throw new Error(
        `KGW_HTTP_TLS_KEY_FILE: cannot read ${this.keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      throw new Error(
        `KGW_HTTP_TLS_CERT_FILE / KGW_HTTP_TLS_KEY_FILE: not a matching PEM certificate and key (${(err as Error).message})`,
      );
    }
    return { cert, key };
  }

  private statSignature(): string | undefined {
    try {
      // stat follows symlinks: the kubelet's ..data swap shows as a new inode.
      return [this.certFile, this.keyFile]
        .map((file) => {
          const s = statSync(file);
          return `${s.ino}:${s.mtimeMs}:${s.size}`;
        })
        .join('|');
    } catch {
      return undefined;
    }
  }
}
