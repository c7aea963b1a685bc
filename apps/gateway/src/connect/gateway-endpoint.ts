// Where users reach this gateway and what they need to trust it: the public URL and, when the
// gateway's certificate comes from a private CA, that CA. Kubeconfigs (/kgw/v1/kubeconfig), the
// CLI download's install lines and the web UI's Connect page are filled in from here — never
// from the request's Host header, which a client chooses.
import { readFileSync } from 'node:fs';

export interface GatewayEndpointOptions {
  /** KGW_HTTP_PUBLIC_URL. */
  publicUrl?: string;
  /** KGW_HTTP_TLS_CA_FILE: read on each use, so a renewed file is picked up. */
  caFile?: string;
  /** Demo mode's generated CA (used when no file is configured). */
  caPem?: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export class GatewayEndpoint {
  private listened: string | undefined;

  constructor(private readonly options: GatewayEndpointOptions) {
    // At boot a CA file that does not read is an error, named by its setting.
    this.caPem();
  }

  /** Told once the gateway listens: the URL when no public URL is configured. */
  listening(url: string): void {
    this.listened = url;
  }

  /** The gateway's URL, without a trailing slash. */
  url(): string {
    return (this.options.publicUrl ?? this.listened ?? 'http://127.0.0.1').replace(/\/+$/, '');
  }

  /** The CA's PEM, or undefined when users' own trust stores are enough (no CA configured). */
  caPem(): string | undefined {
    const { caFile } = this.options;
    if (!caFile) return this.options.caPem;
    let text: string;
    try {
      text = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new Error(
        `KGW_HTTP_TLS_CA_FILE: cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    if (!PEM_CERTIFICATE.test(text))
      throw new Error(`KGW_HTTP_TLS_CA_FILE: ${caFile} holds no PEM certificate`);
    return text;
  }
}
