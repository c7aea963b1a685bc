// Carries personal-token revocations to every replica within a second: Postgres LISTEN/NOTIFY
// on a dedicated connection (a pooled client cannot hold a LISTEN). A revocation evicts the
// token from the authenticator's cache and cuts the token's open streams.
//
// Guards: that a revoked token stops working on replicas other than the one that revoked it.
// Trusts: Postgres to deliver NOTIFY to every listening session after commit. When the
// listening connection is lost, replicas cannot hear revocations: the authenticator's cache is
// dropped and bypassed until the listener is back (every request reads the database then).
import { Client } from 'pg';
import type { Logger } from 'pino';
import { REVOCATION_CHANNEL } from './personal-tokens';

export interface RevocationListenerOptions {
  url: string;
  logger: Logger;
  /** Called for every revoked token id, including ones revoked on this replica. */
  onRevoked(tokenId: string): void;
  /** Called with false when revocations can no longer be heard, true when they can again. */
  onListening(listening: boolean): void;
  retryMs?: number;
}

export class TokenRevocationListener {
  private client: Client | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RevocationListenerOptions) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.options.url });
    client.on('error', (err) => {
      this.options.logger.warn({ err: err.message }, 'token revocation listener lost its connection');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel === REVOCATION_CHANNEL && message.payload) this.options.onRevoked(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
      this.client = client;
      this.options.onListening(true);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message }, 'token revocation listener cannot connect');
      await client.end().catch(() => undefined);
      this.lost(client);
      if (!this.client && this.stopped) return;
    }
  }

  private lost(client: Client): void {
    if (this.client && this.client !== client) return;
    this.client = undefined;
    this.options.onListening(false);
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, this.options.retryMs ?? 1000);
    this.retryTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
