// Chooses what serves the Kubernetes paths, from config: kubeconfig, in-cluster, or the demo
// cluster simulator. Filled in by the proxy chain; until an upstream exists, nothing is served.
import type { GatewayConfig } from '@kgw/config';
import type { Database } from '@kgw/db';
import type { Logger } from 'pino';
import type { KubeTrafficHandler } from './gateway';

export async function kubeTrafficFromConfig(_ctx: {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
}): Promise<KubeTrafficHandler | undefined> {
  return undefined;
}
