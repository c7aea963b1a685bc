// `node dist/apps/gateway/src/main.js`: options → validate → run, and a clean exit on signals.
import 'reflect-metadata';
import { ConfigError, loadConfig, unknownVariables } from '@kgw/config';
import { startGateway } from './gateway';

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

  for (const name of unknownVariables())
    process.stderr.write(
      `kgw: warning: ${name} is not a kgw setting and is ignored (see docs/configuration.md)\n`,
    );

  const gateway = await startGateway(config);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      // An impatient operator: a second signal exits at once, without draining.
      process.stderr.write(`kgw: ${signal} again, exiting now\n`);
      process.exit(130);
    }
    gateway.logger.info({ signal }, 'signal received');
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: unknown) => {
  const message =
    err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  process.stderr.write(`kgw: failed to start: ${message}\n`);
  process.exit(1);
});
