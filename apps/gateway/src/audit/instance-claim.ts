// One writer per audit chain. Each instance links its records into its own hash chain and owns
// its spool directory; two gateways writing under the same instance name would interleave two
// chains with clashing sequence numbers (and fail to insert). The claim is a Postgres session
// advisory lock on the instance name, held on a dedicated connection for the writer's life;
// a second gateway with the same name refuses to start instead of corrupting the chain.
import { Client } from 'pg';
import type { Logger } from 'pino';

/** Advisory-lock class for audit instance claims (the other key is hashtext(instance)). */
const LOCK_CLASS = 7291;

export class AuditInstanceTakenError extends Error {
  override name = 'AuditInstanceTakenError';
}

export class AuditInstanceClaim {
  private client?: Client;
  private retry?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly url: string,
    private readonly instance: string,
    private readonly retryIntervalMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Claims the first free name among `candidates`: one explicit name (POD_NAME, strict), or the
   * host name and its numbered variants when nothing was configured, so several gateways can
   * share one machine and database without a setting each.
   */
  static async take(
    url: string,
    candidates: string[],
    retryIntervalMs: number,
    logger: Logger,
  ): Promise<AuditInstanceClaim> {
    let lastError: unknown = new AuditInstanceTakenError('no audit instance name to claim');
    for (const instance of candidates) {
      const claim = new AuditInstanceClaim(url, instance, retryIntervalMs, logger);
      try {
        await claim.lock();
        return claim;
      } catch (err) {
        if (!(err instanceof AuditInstanceTakenError)) throw err;
        lastError = err;
      }
    }
    throw lastError;
  }

  get name(): string {
    return this.instance;
  }

  private async lock(): Promise<void> {
    const client = new Client({ connectionString: this.url });
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
      [LOCK_CLASS, this.instance],
    );
    if (!rows[0]?.locked) {
      await client.end().catch(() => undefined);
      throw new AuditInstanceTakenError(
        `another gateway is already writing the audit trail as instance "${this.instance}"; ` +
          'give every gateway a unique POD_NAME',
      );
    }
    this.client = client;
    // The lock dies with its connection (a Postgres restart): take it again when Postgres is back.
    client.once('end', () => this.relockLater());
  }

  private relockLater(): void {
    if (this.closed) return;
    this.client = undefined;
    this.retry = setTimeout(() => {
      this.lock().catch((err: unknown) => {
        if (err instanceof AuditInstanceTakenError) this.logger.error(err.message);
        this.relockLater();
      });
    }, this.retryIntervalMs);
    this.retry.unref();
  }

  async release(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.client?.end().catch(() => undefined);
  }
}
