// The gateway exactly as deployed, except that its audit sink discards records: the bench runs
// it next to the real one to measure what the audit trail adds to the proxy path. A separate
// program on purpose — the gateway itself has no setting that turns the audit off.
import 'reflect-metadata';
import { hostname } from 'node:os';
import { loadConfig } from '@kgw/config';
import type { AuditSink } from '../../apps/gateway/src/audit/audit-sink';
import { startGateway } from '../../apps/gateway/src/gateway';
import { gatewayServicesFromConfig } from '../../apps/gateway/src/gateway-services';

const discarding: AuditSink = {
  instance: `${hostname()}-unaudited-bench`,
  record: () => undefined,
  accepting: () => true,
  close: async () => undefined,
};

startGateway(loadConfig(), {
  services: (ctx) => gatewayServicesFromConfig(ctx, async () => discarding),
}).then(
  (gateway) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const)
      process.once(signal, () => void gateway.close().then(() => process.exit(0)));
  },
  (err: unknown) => {
    process.stderr.write(`gateway-unaudited: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
