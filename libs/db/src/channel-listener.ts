// Postgres LISTEN on one dedicated connection (a pooled client cannot hold a LISTEN), with
// reconnection: what carries an event from one replica to the others (token revocations, new
// audit records) without polling.
//
// Trusts: Postgres to deliver a NOTIFY to every session listening on the channel once the
// notifying transaction commits. It does not deliver what was sent while a session was not
// listening: owners learn of such a gap from onListening(false) … onListening(true) and make up
// for it themselves (drop a cache, read the table).
import { Client } from 'pg';

export interface ChannelListenerOptions {
  url: string;
  /** A Postgres identifier: lower-case letters, digits and underscores. */
  channel: string;
  onNotification(payload: string): void;
  /** false when notifications can no longer be heard, true when they can (again). */
  onListening(listening: boolean): void;
  /** Why the connection failed (never the connection string). */
  onProblem(message: string): void;
  retryMs?: number;
}

export class ChannelListener {
  private client: Client | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ChannelListenerOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.channel))
      throw new Error(`invalid channel name ${options.channel}`);
  }

  /** Resolves once listening, or after the first attempt failed (it is retried in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.options.url });
    client.on('error', (err) => {
      this.options.onProblem(`lost its connection: ${err.message}`);
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel === this.options.channel && message.payload)
        this.options.onNotification(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.options.channel}`);
      if (this.stopped) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      this.options.onListening(true);
    } catch (err) {
      this.options.onProblem(`cannot connect: ${(err as Error).message}`);
      await client.end().catch(() => undefined);
      this.lost(client);
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
