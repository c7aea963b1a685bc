// Starts the built-in OpenID provider when it is wanted: KGW_DEV_OIDC=true, or auto in demo
// mode when no real issuer is configured. Its users are the demo users with the passwords in
// credentials.json; its one client is the gateway, with a secret made at each start.
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import { newSecret } from '../auth/browser-sessions';
import { DEMO_USERS, type DemoCluster } from '../demo/demo-cluster';
import { startDevOidcProvider, type RunningDevOidcProvider } from './dev-oidc-provider';

export interface DemoIdentityProvider {
  provider: RunningDevOidcProvider;
  /** The login issuer for AuthServices. */
  login: { url: string; clientId: string; clientSecret?: string; usernamePrefix?: string };
  stop(): Promise<void>;
}

export async function startDemoIdentityProvider(
  config: GatewayConfig,
  demo: DemoCluster | undefined,
  logger: Logger,
): Promise<DemoIdentityProvider | undefined> {
  const wanted =
    config.oidc.devProvider === 'true' ||
    (config.oidc.devProvider === 'auto' && demo !== undefined && !config.oidc.issuerUrl);
  if (!wanted) return undefined;
  if (config.oidc.issuerUrl) {
    logger.warn(
      'KGW_DEV_OIDC=true and KGW_OIDC_ISSUER_URL are both set: the configured issuer is used for login',
    );
  }
  if (!demo) {
    logger.warn('KGW_DEV_OIDC=true outside demo mode: the built-in provider has no users to sign in');
  }
  const clientSecret = newSecret();
  const provider = await startDevOidcProvider({
    port: config.oidc.devProviderPort,
    users: (demo?.users ?? []).map((u) => ({ name: u.username, password: u.password, groups: u.groups })),
    clients: [{ clientId: config.oidc.clientId, clientSecret }],
  });
  logger.info(
    { issuer: provider.issuer, users: DEMO_USERS.map((u) => u.name) },
    'built-in OpenID provider started (development and demo only)',
  );
  return {
    provider,
    login: {
      url: config.oidc.issuerUrl ?? provider.issuer,
      clientId: config.oidc.clientId,
      clientSecret: config.oidc.issuerUrl ? config.oidc.clientSecret : clientSecret,
      // The demo's RBAC and admin list name its users plainly, and the built-in provider is the
      // one issuer whose names the demo controls: no `<issuer>#` prefix unless configured.
      usernamePrefix: config.oidc.issuerUrl ? undefined : '-',
    },
    stop: () => provider.stop(),
  };
}
