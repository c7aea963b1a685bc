// The gateway's composition root: from the config, build once what both the Kubernetes proxy
// chain and the /kgw/ routes use — who may call (authenticators, identity mapping, gateway
// policy, admins), the audit sink, and the upstream chosen explicitly (kubeconfig if given,
// else in-cluster, else the demo simulator), logging which one won.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import type { Database } from '@kgw/db';
import {
  AccessReviewCache,
  SubjectAccessReviewClient,
  exchangeWithUpstream,
  loadUpstream,
  openPodPortForward,
  upstreamReviewTransport,
  withGatewayCredential,
  type Upstream,
  type UpstreamOptions,
} from '@kgw/kube';
import type { AuditSink } from './audit/audit-sink';
import { openAuditTrail } from './audit/audit-trail';
import { AuthenticatorChain, type Authenticator } from './auth/authenticator';
import { CredentialTransport } from './auth/credential-transport';
import { GatewayAuth } from './auth/gateway-auth';
import { ScopedTokenPolicy } from './auth/gateway-policy';
import { AuthServices } from './auth/auth-services';
import type { OpenStreams } from './auth/open-streams';
import { RateLimitedAuthenticator } from './auth/failed-auth-limiter';
import { startDemoIdentityProvider } from './dev-oidc/demo-identity-provider';
import { StaticTokenAuthenticator } from './auth/static-token-authenticator';
import { startDemoCluster, type DemoCluster } from './demo/demo-cluster';
import type { ReadinessCheckFn } from './health/readiness';
import { IdentityMapper, parseMappingRules, type ServiceAccountRule } from './identity/identity-mapper';
import { ServiceAccountTokens } from './identity/service-account-tokens';
import { RequestLimits } from './limits/request-limits';
import { GatewayMetrics } from './metrics/gateway-metrics';
import { ClientAddressResolver } from './proxy/client-address';
import { ProxyContentOrigin } from './proxy/content-origin';
import { KubeProxyChain } from './proxy/kube-proxy-chain';
import { ForwardTunnels, type ForwardMode } from './tunnel/forward-tunnels';
import { watchAs } from './tunnel/kube-watch';
import { GatewayEndpoint } from './connect/gateway-endpoint';

/** Serves every non-/kgw/ path: the Kubernetes API as kubectl proxy would. */
export interface KubeTrafficHandler {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  readiness?: ReadinessCheckFn;
  /** TLS for the gateway's own listener (demo mode brings a generated certificate). */
  tls?: { cert: string; key: string; alsoPlainHttp: boolean };
  /** Said once at startup, after the URL (demo credentials and the like). */
  banner?: (url: string) => void;
}

import { chooseUpstream, type UpstreamChoice } from './lifecycle/gateway-mode';

export interface GatewayServices {
  auth: GatewayAuth;
  audit: AuditSink;
  clientAddress: ClientAddressResolver;
  /** Absent when no upstream is configured: Kubernetes paths then answer 503. */
  kube?: KubeTrafficHandler;
  /** Personal tokens, sessions, login; the routes under /kgw/auth and /kgw/v1/tokens. */
  authn?: AuthServices;
  /** KGW_PROXY_CONTENT_ORIGIN: proxied content for browsers on an origin of its own. */
  contentOrigin?: ProxyContentOrigin;
  /** `kgw forward` tunnels at /kgw/v1/forward (absent without an upstream). */
  forward?: ForwardTunnels;
  /** Prometheus metrics of this process (/kgw/metrics). */
  metrics: GatewayMetrics;
  /** The URL and CA users reach the gateway with (kubeconfigs, the CLI download, Connect). */
  endpoint: GatewayEndpoint;
  /** Told the gateway's URL once it listens (redirect URIs need it). */
  listening?(url: string): void;
  close(): Promise<void>;
}

interface Context {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
}

/**
 * `openAudit` exists for measurement only (bench/servers/gateway-unaudited.ts measures what the
 * audit trail adds to the proxy path); nothing in the configuration can turn the audit off.
 */
export async function gatewayServicesFromConfig(
  { config, db, logger }: Context,
  openAudit: (ctx: Context) => Promise<AuditSink> = openAuditTrail,
): Promise<GatewayServices> {
  const choice = chooseUpstream(config);
  const authenticators: Authenticator[] = [];
  if (config.auth.tokenFile) {
    const tokens = StaticTokenAuthenticator.fromFile(config.auth.tokenFile);
    logger.info({ file: config.auth.tokenFile, entries: tokens.size }, 'static token authentication on');
    authenticators.push(tokens);
  }
  const serviceAccountRules: ServiceAccountRule[] = [];
  const adminGroups = [...config.auth.adminGroups];
  let upstream: Upstream | undefined;
  let demoCluster: DemoCluster | undefined;
  let stopDemo: (() => Promise<void>) | undefined;
  let demoExtras: Pick<KubeTrafficHandler, 'tls' | 'banner'> = {};

  const upstreamOptions: UpstreamOptions = {
    http2: config.kube.http2,
    socketKeepaliveMs: config.http.streamKeepaliveSeconds * 1000,
  };
  switch (choice) {
    case 'none':
      logger.warn(
        'no Kubernetes upstream: set KGW_KUBECONFIG, run in a cluster, or enable demo mode (KGW_DEMO)',
      );
      break;
    case 'kubeconfig':
      upstream = loadUpstream(
        {
          mode: 'kubeconfig',
          path: config.kube.kubeconfig!,
          context: config.kube.context,
        },
        upstreamOptions,
      );
      break;
    case 'in-cluster':
      upstream = loadUpstream(
        {
          mode: 'in-cluster',
          env: {
            KUBERNETES_SERVICE_HOST: config.kube.serviceHost,
            KUBERNETES_SERVICE_PORT: config.kube.servicePort,
          },
          saDir: config.kube.serviceAccountDir,
        },
        upstreamOptions,
      );
      break;
    case 'demo': {
      const demo = await startDemoCluster(config, logger, upstreamOptions);
      demoCluster = demo;
      serviceAccountRules.push(...demo.serviceAccountRules);
      adminGroups.push(...demo.adminGroups);
      upstream = demo.upstream;
      stopDemo = () => demo.stop();
      demoExtras = { tls: demo.tls, banner: (url) => demo.announce(url) };
      break;
    }
  }

  const endpoint = new GatewayEndpoint({
    publicUrl: config.http.publicUrl,
    caFile: config.http.tlsCaFile,
    caPem: demoCluster?.caPem,
  });
  const audit: AuditSink = await openAudit({ config, db, logger });
  const metrics = new GatewayMetrics();
  metrics.observeAuditTrail(() => audit.trailStats?.());
  metrics.describeInstance({ name: audit.instance, ...config.pod });
  const clientAddress = new ClientAddressResolver(config.http.trustedProxies);
  const addressOf = (req: IncomingMessage): string => clientAddress.resolve(req);
  // Authentication: personal tokens and bearer JWTs first, then the static token file (which
  // refuses every bearer it does not know), then the session cookie; failures rate-limited.
  const devProvider = await startDemoIdentityProvider(config, demoCluster, logger);
  const authn = await AuthServices.start({
    config,
    db,
    logger,
    audit,
    clientAddress: addressOf,
    issuer: devProvider?.login,
  });
  await demoCluster?.provisionTokens(authn.tokens);
  const auth = new GatewayAuth({
    authenticator: new RateLimitedAuthenticator(
      new AuthenticatorChain([
        ...authn.bearerAuthenticators(),
        ...authenticators,
        authn.sessionAuthenticator,
      ]),
      authn.limiter,
      addressOf,
    ),
    identityMapper: new IdentityMapper({
      serviceAccounts: serviceAccountRules,
      rules: parseMappingRules(config.identity.rules),
      usernamePrefix: config.identity.usernamePrefix,
      groupsPrefix: config.identity.groupsPrefix,
    }),
    policy: new ScopedTokenPolicy(),
    transport: new CredentialTransport({
      allowPlain: config.http.allowPlainCredentials || choice === 'demo',
      fromTrustedProxy: (req) => clientAddress.fromTrustedProxy(req),
    }),
    adminUsers: config.auth.adminUsers,
    adminGroups,
    metrics,
  });
  authn.upstream = upstream;

  let kube: KubeTrafficHandler | undefined;
  let forward: ForwardTunnels | undefined;
  let contentOrigin: ProxyContentOrigin | undefined;
  if (upstream) {
    logger.info({ upstream: upstream.describe() }, `Kubernetes upstream: ${upstream.describe()}`);
    for (const warning of upstream.warnings) logger.warn(warning);
    const reviewer = new SubjectAccessReviewClient(upstreamReviewTransport(upstream));
    const accessReviews = new AccessReviewCache(reviewer, {
      allowedTtlMs: config.kube.sarAllowedTtlMs,
      deniedTtlMs: config.kube.sarDeniedTtlMs,
      maxEntries: config.kube.sarCacheSize,
    });
    metrics.observeAccessReviews(() => accessReviews.stats);
    // One set of per-user counts for the proxy chain and the tunnels (a tunnel is long-running).
    const limits = new RequestLimits(config.limits);
    // Everything but the authentication, shared by the gateway's chain and the content origin's.
    const chainDeps = {
      config,
      logger,
      upstream,
      audit,
      clientAddress,
      openStreams: authn.openStreams,
      accessReviews,
      metrics,
      limits,
    };
    kube = { ...proxyChain({ ...chainDeps, auth }), ...demoExtras };
    if (config.http.proxyContentOrigin) {
      const gatewayChain = kube;
      // Built after the origin, whose authenticator it needs.
      const built: { contentChain?: KubeTrafficHandler } = {};
      const origin = new ProxyContentOrigin({
        origin: config.http.proxyContentOrigin,
        gatewayUrl: () => authn.url(),
        sessions: authn.sessions,
        sessionCookieName: (req) => authn.sessionCookieName(req),
        contentChain: () => built.contentChain ?? gatewayChain,
        gatewayChain: () => gatewayChain,
        logger: logger.child({ component: 'content-origin' }),
      });
      // The same chain, authenticated by the content cookie alone (content-origin.ts).
      built.contentChain = proxyChain({
        ...chainDeps,
        auth: new GatewayAuth({
          authenticator: new RateLimitedAuthenticator(origin.authenticator, authn.limiter, addressOf),
          identityMapper: auth.identityMapper,
          policy: auth.policy,
          adminUsers: config.auth.adminUsers,
          adminGroups,
          metrics,
        }),
      });
      contentOrigin = origin;
      logger.info({ origin: origin.origin }, 'proxied content served at its own origin');
    }
    const pinned = upstream;
    forward = new ForwardTunnels({
      mode: forwardMode(config, choice),
      portForwardAs: (identity, namespace, pod, requestId) =>
        openPodPortForward(pinned, { identity, namespace, pod, requestId }),
      auth,
      accessReviews,
      reviewer,
      kubeAs: (identity, path) => authn.kubeAs(identity, 'GET', path),
      watchAs: (identity) => watchAs(pinned, identity),
      audit,
      clientAddress,
      openStreams: authn.openStreams,
      logger: logger.child({ component: 'forward' }),
      resumeGraceMs: config.forward.resumeGraceSeconds * 1000,
      tunnelBufferBytes: config.forward.tunnelBufferMib * 1024 * 1024,
      metrics,
      limits,
    });
  }
  const pinnedUpstream = upstream;
  return {
    auth,
    audit,
    clientAddress,
    kube,
    forward,
    contentOrigin,
    authn,
    metrics,
    endpoint,
    listening: (url) => {
      authn.listening(url);
      endpoint.listening(url);
    },
    async close() {
      await forward?.close();
      await authn.close();
      await devProvider?.stop();
      await audit.close();
      pinnedUpstream?.close();
      await stopDemo?.();
    },
  };
}

function proxyChain(deps: {
  config: GatewayConfig;
  logger: Logger;
  upstream: Upstream;
  auth: GatewayAuth;
  audit: AuditSink;
  clientAddress: ClientAddressResolver;
  openStreams: OpenStreams;
  accessReviews: AccessReviewCache;
  metrics: GatewayMetrics;
  limits: RequestLimits;
}): KubeTrafficHandler {
  const { config, logger, upstream, auth, accessReviews } = deps;
  const chain = new KubeProxyChain({
    auth,
    policy: auth.policy,
    clientAddress: deps.clientAddress,
    accessReviews,
    upstream,
    audit: deps.audit,
    logger: logger.child({ component: 'proxy' }),
    instance: deps.audit.instance,
    streamKeepaliveMs: config.http.streamKeepaliveSeconds * 1000,
    responseTimeoutMs: config.kube.responseTimeoutSeconds * 1000,
    openStreams: deps.openStreams,
    // For `serviceAccountMode: token-request` rules; asked with the gateway's own credential.
    serviceAccountTokens: new ServiceAccountTokens(upstreamReviewTransport(upstream)),
    limits: deps.limits,
    maxBodyBytes: config.http.maxBodyBytes,
    metrics: deps.metrics,
  });
  return {
    handleRequest: (req, res) => chain.handleRequest(req, res),
    handleUpgrade: (req, socket, head) => chain.handleUpgrade(req, socket, head),
    readiness: async () => ['kubernetes', await upstreamReachable(upstream)],
  };
}

/** Readiness of the upstream: the API server answers /version (any status below 500 counts as reachable). */
async function upstreamReachable(upstream: Upstream): Promise<{ ok: boolean; detail: string }> {
  try {
    const { statusCode } = await exchangeWithUpstream(upstream, {
      method: 'GET',
      path: '/version',
      headers: withGatewayCredential(upstream, {}),
      timeoutMs: 2000,
      timeoutError: () => new Error('timed out after 2000 ms'),
      maxResponseBytes: 64 * 1024,
    });
    return { ok: statusCode < 500, detail: `${upstream.url.host} answered ${statusCode}` };
  } catch (err) {
    return { ok: false, detail: `${upstream.url.host} unreachable: ${(err as Error).message}` };
  }
}

/** KGW_FORWARD_MODE with `auto` resolved: direct where the gateway can reach pod IPs. */
function forwardMode(config: GatewayConfig, choice: UpstreamChoice): ForwardMode {
  if (config.forward.mode !== 'auto') return config.forward.mode;
  return choice === 'in-cluster' || choice === 'demo' ? 'direct' : 'api';
}
