// What the configuration makes of this gateway before anything starts: which Kubernetes upstream
// it uses (kubeconfig, in-cluster, the demo simulator, none) and how callers can log in. Both
// the single gateway and the cluster primary check these before starting anything.
import type { GatewayConfig } from '@kgw/config';

export type UpstreamChoice = 'kubeconfig' | 'in-cluster' | 'demo' | 'none';

export function chooseUpstream(config: GatewayConfig): UpstreamChoice {
  if (config.kube.mode !== 'auto') return config.kube.mode;
  if (config.kube.kubeconfig) return 'kubeconfig';
  if (config.kube.serviceHost) return 'in-cluster';
  return config.demo.enabled === 'false' ? 'none' : 'demo';
}

/**
 * How callers can prove who they are with this config. Empty means a gateway nobody can use: it
 * would start "ready" and answer 404 at /kgw/auth/login, so startGateway refuses it.
 */
export function loginMethods(config: GatewayConfig): string[] {
  const methods: string[] = [];
  if (config.oidc.issuerUrl) methods.push('OIDC login (KGW_OIDC_ISSUER_URL)');
  if (config.oidc.bearerIssuers.length > 0) methods.push('bearer JWTs (KGW_OIDC_BEARER_ISSUERS)');
  if (config.auth.tokenFile) methods.push('static tokens (KGW_AUTH_TOKEN_FILE)');
  // The demo mints a personal token per demo user, and runs the built-in OpenID provider.
  if (chooseUpstream(config) === 'demo') methods.push('demo users');
  return methods;
}

export const NO_LOGIN_METHOD =
  'no way to log in is configured, so nobody could use this gateway. Set KGW_OIDC_ISSUER_URL ' +
  '(with KGW_OIDC_CLIENT_ID, and KGW_OIDC_CLIENT_SECRET for a confidential client) for browser and CLI login, ' +
  'KGW_OIDC_BEARER_ISSUERS to accept JWTs from an issuer, or KGW_AUTH_TOKEN_FILE for a static token file; ' +
  'or run the demo (unset KGW_KUBECONFIG and KGW_DEMO)';
