// Multi-process mode (KGW_HTTP_WORKERS > 1): one Node event loop tops out at about one core,
// while kubectl proxy (Go) uses every core it is given. The primary process owns what must
// exist once — the embedded Postgres and the migrations — and forks N workers through
// node:cluster. Each worker is a whole gateway (authentication, SAR cache, proxy chain) with its
// own audit chain (`<instance>-w<slot>`), and all of them accept on the one listening port.
//
// Shutdown is the primary's to run: a terminal's Ctrl-C reaches the whole process group, so the
// workers ignore signals and drain when the primary tells them (or when it disappears), and the
// primary stops Postgres only after every worker has flushed its audit trail. A worker that
// dies after startup is replaced in the same slot (same audit instance, whose chain continues);
// one that dies during startup stops the whole gateway with its exit code, since the next one
// would fail the same way.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError, type GatewayConfig } from '@kgw/config';
import { loginMethods, NO_LOGIN_METHOD } from './gateway-mode';
import { createLogger } from '../logging/logger';
import { openGatewayDatabase } from './gateway-database';
import { ensurePortFree } from './listen-port';
import { servePrimaryMetrics } from '../metrics/cluster-metrics';
import { startMetricsListener } from '../metrics/metrics-listener';
import { onShutdownSignals } from './shutdown-signals';

/** Set by the primary in each worker's environment: which slot (1..N) it fills. */
const SLOT_VARIABLE = 'KGW_WORKER_SLOT';

/** Messages from the primary to a worker. */
export type PrimaryMessage = { kgw: 'shutdown' };

/** The worker count a config asks for (0 = one per available CPU). */
export function workerCount(config: GatewayConfig): number {
  return config.http.workers === 0 ? availableParallelism() : config.http.workers;
}

/** This process's slot when it is a worker of a multi-process gateway. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const slot = Number(process.env[SLOT_VARIABLE]);
  return Number.isInteger(slot) && slot > 0 ? slot : undefined;
}

/**
 * In a worker: calls `shutdown` once when the primary asks for it or goes away, and keeps
 * SIGINT/SIGTERM from ending the process on their own (the primary relays them in order).
 */
export function followPrimary(shutdown: () => void): void {
  let asked = false;
  const once = (): void => {
    if (asked) return;
    asked = true;
    shutdown();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
  process.on('message', (message: PrimaryMessage) => {
    if (message?.kgw === 'shutdown') once();
  });
  // The primary was killed outright: nobody will ask, so drain and flush now.
  process.on('disconnect', once);
}

/** Restarts of crashed workers allowed per minute before the primary gives up. */
const MAX_RESTARTS_PER_MINUTE = 5;

export async function runPrimary(config: GatewayConfig, workers: number): Promise<void> {
  const started = performance.now();
  const logger = createLogger(config.log).child({ component: 'primary' });
  if (loginMethods(config).length === 0) throw new ConfigError([NO_LOGIN_METHOD]);
  await ensurePortFree(config.http.host, config.http.port);
  const db = await openGatewayDatabase(config, logger);
  const readMetrics = servePrimaryMetrics();
  const metricsListener =
    config.metrics.port !== undefined
      ? await startMetricsListener(config.metrics.host, config.metrics.port, readMetrics)
      : undefined;
  logger.info({ workers }, `starting ${workers} workers`);
  const slots = new Map<Worker, number>();
  const ready = new Set<number>();
  const restarts: number[] = [];
  let stopping = false;
  let exitCode = 0;
  let allExited: (() => void) | undefined;

  const fork = (slot: number): void => {
    // The workers reach Postgres by URL (the embedded one's too); the password stays in env.
    const worker = cluster.fork({ DATABASE_URL: db.url, [SLOT_VARIABLE]: String(slot) });
    slots.set(worker, slot);
  };

  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ workers: slots.size }, 'shutting down: asking workers to drain');
    for (const worker of slots.keys()) sendShutdown(worker);
    if (slots.size === 0) allExited?.();
  };

  cluster.on('listening', (worker, address) => {
    const slot = slots.get(worker);
    if (slot === undefined || ready.has(slot)) return;
    ready.add(slot);
    if (ready.size === workers) {
      const startupMs = Math.round(performance.now() - started);
      logger.info(
        { workers, port: address.port, startupMs },
        `kgw: ${workers} workers ready in ${startupMs} ms on port ${address.port}`,
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.get(worker);
    slots.delete(worker);
    if (slot === undefined) return;
    if (stopping) {
      if (code !== 0) exitCode = 1;
      if (slots.size === 0) allExited?.();
      return;
    }
    if (ready.size < workers) {
      // Still starting: a config or startup error that every worker would hit again.
      logger.error({ slot, code, signal }, 'a worker failed during startup; stopping the gateway');
      exitCode = code || 1;
      stopAll();
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0] < now - 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      logger.error({ slot, code, signal }, 'workers keep crashing; stopping the gateway');
      exitCode = 1;
      stopAll();
      return;
    }
    logger.error({ slot, code, signal }, 'worker exited unexpectedly; starting a replacement');
    fork(slot);
  });

  const finished = new Promise<void>((done) => {
    allExited = done;
  });
  onShutdownSignals({
    first: (signal) => {
      logger.info({ signal }, 'signal received');
      stopAll();
    },
    again: (signal) => {
      process.stderr.write(`kgw: ${signal} again, exiting now\n`);
      for (const worker of slots.keys()) worker.process.kill('SIGKILL');
      process.exit(130);
    },
  });

  for (let slot = 1; slot <= workers; slot++) fork(slot);
  await finished;
  await metricsListener?.close();
  await db.close();
  logger.info('stopped');
  logger.flush();
  process.exit(exitCode);
}

function sendShutdown(worker: Worker): void {
  const message: PrimaryMessage = { kgw: 'shutdown' };
  // A worker listens for this from its first line (followPrimary), so even one that is still
  // starting will drain once it is up.
  if (worker.isConnected()) worker.send(message);
}

/** A worker's audit instance: `<instance>-w<slot>`, one hash chain per worker. */
export function workerInstanceName(base: string, slot: number): string {
  return `${base}-w${slot}`;
}
