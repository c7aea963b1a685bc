// `node dist/apps/gateway/src/main.js`: options → validate → run, and a clean exit on signals.
import 'reflect-metadata';
import { ConfigError, loadConfig, unknownVariables, type GatewayConfig } from '@kgw/config';
import cluster from 'node:cluster';
import { startGateway, type RunningGateway } from './gateway';
import { chooseUpstream } from './lifecycle/gateway-mode';
import { PortInUseError } from './lifecycle/listen-port';
import { onShutdownSignals } from './lifecycle/shutdown-signals';
import { followPrimary, runPrimary, workerCount } from './lifecycle/worker-cluster';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kgw: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  if (cluster.isWorker) return runWorker(config);
  for (const name of unknownVariables())
    process.stderr.write(
      `kgw: warning: ${name} is not a kgw setting and is ignored (see docs/configuration.md)\n`,
    );
  const workers = workerCount(config);
  if (workers > 1) {
    // The demo's simulator and OpenID provider live inside the gateway process.
    if (chooseUpstream(config) === 'demo')
      process.stderr.write(`kgw: warning: demo mode runs one process; KGW_HTTP_WORKERS=${workers} ignored\n`);
    else return runPrimary(config, workers);
  }

  const gateway = await startGateway(config);

  onShutdownSignals({
    first: (signal) => {
      gateway.logger.info({ signal }, 'signal received');
      closeAndExit(gateway);
    },
    // An impatient operator: a second signal exits at once, without draining.
    again: (signal) => {
      process.stderr.write(`kgw: ${signal} again, exiting now\n`);
      process.exit(130);
    },
  });
}

/** One worker of a multi-process gateway: serves until the primary says stop. */
async function runWorker(config: GatewayConfig): Promise<void> {
  const state: { gateway?: RunningGateway; asked: boolean } = { asked: false };
  // Registered before startup, so a stop requested meanwhile is not lost.
  followPrimary(() => {
    state.asked = true;
    if (state.gateway) closeAndExit(state.gateway);
  });
  state.gateway = await startGateway(config);
  if (state.asked) closeAndExit(state.gateway);
}

/** Graceful: drain, flush the audit trail, stop; exit 0, or 1 if shutting down failed. */
function closeAndExit(gateway: RunningGateway): void {
  gateway.close().then(
    () => process.exit(0),
    (err: unknown) => {
      gateway.logger.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`kgw: ${err.message}\n`);
    process.exit(2);
  }
  const message =
    err instanceof Error
      ? `${err.name === 'Error' || err instanceof PortInUseError ? '' : `${err.name}: `}${err.message}`
      : String(err);
  process.stderr.write(`kgw: failed to start: ${message}\n`);
  process.exit(1);
});
