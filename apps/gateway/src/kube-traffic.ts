// Chooses the upstream explicitly — kubeconfig if given, else in-cluster, else the demo
// simulator — logs which one won, and assembles the proxy chain around it.
import { request } from 'node:https';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import type { Database } from '@kgw/db';
import {
  AccessReviewCache,
  SubjectAccessReviewClient,
  loadUpstream,
  upstreamReviewTransport,
  type Upstream,
} from '@kgw/kube';
import { LoggingAuditSink, type AuditSink } from './audit/audit-sink';
import { AuthenticatorChain, type Authenticator } from './auth/authenticator';
import { StaticTokenAuthenticator } from './auth/static-token-authenticator';
import { startDemoCluster } from './demo/demo-cluster';
import type { KubeTrafficHandler } from './gateway';
import { IdentityMapper, type IdentityMappingRules } from './identity/identity-mapper';
import { ClientAddressResolver } from './proxy/client-address';
import { KubeProxyChain } from './proxy/kube-proxy-chain';

export type UpstreamChoice = 'kubeconfig' | 'in-cluster' | 'demo' | 'none';

export function chooseUpstream(config: GatewayConfig): UpstreamChoice {
  if (config.kube.mode !== 'auto') return config.kube.mode;
  if (config.kube.kubeconfig) return 'kubeconfig';
  if (config.kube.serviceHost) return 'in-cluster';
  return config.demo.enabled === 'false' ? 'none' : 'demo';
}

interface Context {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
}

export async function kubeTrafficFromConfig({
  config,
  logger,
}: Context): Promise<KubeTrafficHandler | undefined> {
  const choice = chooseUpstream(config);
  const authenticators: Authenticator[] = [];
  if (config.auth.tokenFile) {
    const tokens = StaticTokenAuthenticator.fromFile(config.auth.tokenFile);
    logger.info({ file: config.auth.tokenFile, entries: tokens.size }, 'static token authentication on');
    authenticators.push(tokens);
  }

  switch (choice) {
    case 'none':
      logger.warn(
        'no Kubernetes upstream: set KGW_KUBECONFIG, run in a cluster, or enable demo mode (KGW_DEMO)',
      );
      return undefined;
    case 'kubeconfig':
    case 'in-cluster': {
      const upstream =
        choice === 'kubeconfig'
          ? loadUpstream({ mode: 'kubeconfig', path: config.kube.kubeconfig!, context: config.kube.context })
          : loadUpstream({
              mode: 'in-cluster',
              env: {
                KUBERNETES_SERVICE_HOST: config.kube.serviceHost,
                KUBERNETES_SERVICE_PORT: config.kube.servicePort,
              },
              saDir: config.kube.serviceAccountDir,
            });
      logUpstream(logger, upstream);
      return proxyChain({ config, logger, upstream, authenticators });
    }
    case 'demo': {
      const demo = await startDemoCluster(config, logger);
      authenticators.push(demo.authenticator);
      const upstream = demo.upstream;
      logUpstream(logger, upstream);
      const chain = proxyChain({
        config,
        logger,
        upstream,
        authenticators,
        mappingRules: { serviceAccounts: demo.serviceAccountRules },
      });
      return {
        ...chain,
        tls: demo.tls,
        banner: (url) => demo.announce(url),
        close: async () => {
          await chain.close();
          await demo.stop();
        },
      };
    }
  }
}

function logUpstream(logger: Logger, upstream: Upstream): void {
  logger.info({ upstream: upstream.describe() }, `Kubernetes upstream: ${upstream.describe()}`);
  for (const warning of upstream.warnings) logger.warn(warning);
}

function proxyChain(deps: {
  config: GatewayConfig;
  logger: Logger;
  upstream: Upstream;
  authenticators: Authenticator[];
  mappingRules?: IdentityMappingRules;
}): KubeTrafficHandler {
  const { config, logger, upstream } = deps;
  const audit: AuditSink = new LoggingAuditSink(logger.child({ component: 'audit' }));
  const accessReviews = new AccessReviewCache(
    new SubjectAccessReviewClient(upstreamReviewTransport(upstream)),
    {
      allowedTtlMs: config.kube.sarAllowedTtlMs,
      deniedTtlMs: config.kube.sarDeniedTtlMs,
      maxEntries: config.kube.sarCacheSize,
    },
  );
  const chain = new KubeProxyChain({
    authenticator: new AuthenticatorChain(deps.authenticators),
    identityMapper: new IdentityMapper(deps.mappingRules),
    clientAddress: new ClientAddressResolver(config.http.trustedProxies),
    accessReviews,
    upstream,
    audit,
    logger: logger.child({ component: 'proxy' }),
    instance: config.audit.instance,
    streamKeepaliveMs: config.http.streamKeepaliveSeconds * 1000,
  });
  return {
    handleRequest: (req, res) => chain.handleRequest(req, res),
    handleUpgrade: (req, socket, head) => chain.handleUpgrade(req, socket, head),
    readiness: async () => ['kubernetes', await upstreamReachable(upstream)],
    close: async () => {
      await audit.close();
      upstream.close();
    },
  };
}

/** Readiness of the upstream: the API server answers /version (any status below 500 counts as reachable). */
async function upstreamReachable(upstream: Upstream): Promise<{ ok: boolean; detail: string }> {
  return new Promise((done) => {
    const req = request(
      {
        hostname: upstream.url.hostname.replace(/^\[|\]$/g, ''),
        port: upstream.url.port || 443,
        path: `${upstream.basePath}/version`,
        agent: upstream.agent,
        servername: upstream.tlsServerName,
        headers: upstream.authorizationHeader() ? { authorization: upstream.authorizationHeader()! } : {},
        timeout: 2000,
      },
      (res) => {
        res.resume();
        done({
          ok: res.statusCode !== undefined && res.statusCode < 500,
          detail: `${upstream.url.host} answered ${res.statusCode}`,
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out after 2000 ms')));
    req.on('error', (err) => done({ ok: false, detail: `${upstream.url.host} unreachable: ${err.message}` }));
    req.end();
  });
}
