// The steps of the proxy chain (kube-proxy-chain.ts runs them in order). Each is a small function
// that returns what it learned or a Refusal: the Kubernetes Status to answer with and what the
// audit record says (decision, reason). None of them writes a response or an audit record;
// the chain does both in one place.
import type * as http from 'node:http';
import type { Logger } from 'pino';
import {
  AccessReviewError,
  badRequest,
  canonicalizeRequestTarget,
  forbiddenStatusFor,
  gatewayTimeout,
  isRequestRejection,
  queryFlag,
  requestEntityTooLarge,
  resolveRequestInfo,
  serviceUnavailable,
  streamingUpgradeOf,
  tooManyRequests,
  unauthorized,
  type AccessAttributes,
  type AccessDecision,
  type Identity,
  type KubeStatus,
  type RequestInfo,
} from '@kgw/kube';
import type { AuditSink } from '../audit/audit-sink';
import type { AuditEvent } from '../audit/audit-event';
import type { AuthenticatedCaller, AuthenticatedRequest, MappedIdentity } from '../identity/caller';
import type { GatewayAuthResult } from '../auth/gateway-auth';
import type { GatewayPolicy, RequestShape } from '../auth/gateway-policy';
import type { ServiceAccountTokenSource } from '../identity/service-account-tokens';
import { impersonatedIdentity, impersonationChecks, requestedImpersonation } from './requested-impersonation';
import type { LimitRefusal, RequestLimits } from '../limits/request-limits';
import type { GatewayMetrics, LongRunningKind } from '../metrics/gateway-metrics';

/** Why the chain stops: the answer, and what the audit record says about it. */
export class Refusal {
  constructor(
    readonly status: KubeStatus,
    readonly decision: AuditEvent['decision'],
    readonly reason: string,
    /** Who was refused, when they authenticated (an identity the mapper refused). */
    readonly caller?: AuthenticatedCaller,
  ) {}
}

/** Who may call, as the proxy chain needs it: GatewayAuth, or a stand-in in tests. */
export interface CallerIdentification {
  authenticate(req: http.IncomingMessage): Promise<GatewayAuthResult>;
}

/** The SubjectAccessReview cache (AccessReviewCache) or a stand-in with the same shape. */
export interface AccessReviews {
  check(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision>;
}

/** 0. Nothing is served unaudited: when the audit trail cannot take records, refuse. */
export function auditUnavailable(audit: AuditSink): Refusal | undefined {
  if (audit.accepting()) return undefined;
  return new Refusal(
    serviceUnavailable('kgw cannot record an audit trail right now; retry shortly', 5),
    'error',
    'audit unavailable',
  );
}

/** 1 + 3. Authenticate (reads only the credential headers) and map to a Kubernetes identity. */
export async function identifyCaller(
  auth: CallerIdentification,
  req: http.IncomingMessage,
): Promise<AuthenticatedRequest | Refusal> {
  const who = await auth.authenticate(req);
  if (who.ok) return who;
  switch (who.refusal) {
    case 'throttled':
      return new Refusal(
        tooManyRequests(
          'too many failed authentication attempts from this address; retry later',
          who.retryAfterSeconds,
        ),
        'unauthenticated',
        'too many failed authentications from this address',
      );
    case 'no-credential':
      return new Refusal(unauthorized(), 'unauthenticated', 'no credential');
    case 'rejected':
      return new Refusal(unauthorized(), 'unauthenticated', 'credential rejected');
    case 'plain-http':
      return new Refusal(gatewayForbidden(who.message), 'unauthenticated', 'credential sent over plain HTTP');
    case 'unmapped':
      return new Refusal(
        gatewayForbidden(who.message),
        'deny',
        `identity mapping: ${who.message}`,
        who.caller,
      );
  }
}

/**
 * 3b. `kubectl --as …`: the identity asked for, when the caller's mapped identity may impersonate
 * every part of it (requested-impersonation.ts); else the caller's own. `impersonation` says who
 * acts for whom, for the audit reason.
 */
export async function actingIdentity(
  policy: GatewayPolicy,
  reviews: AccessReviews,
  req: http.IncomingMessage,
  who: { caller: AuthenticatedCaller; identity: MappedIdentity },
  upgrade: boolean,
): Promise<{ identity: MappedIdentity; impersonation?: string } | Refusal> {
  const asked = requestedImpersonation(req);
  if (asked === undefined) return { identity: who.identity };
  if ('error' in asked) return new Refusal(asked.error, 'deny', 'impersonation: malformed request');
  if (who.identity.tokenRequest) {
    const message = 'impersonation is not available to callers mapped to a service account token';
    return new Refusal(gatewayForbidden(message), 'deny', `impersonation: ${message}`);
  }
  for (const attributes of impersonationChecks(asked)) {
    const narrowed = checkPolicy(policy, who.caller, attributes, { upgrade });
    if (narrowed) return narrowed;
    const allowed = await checkRbac(reviews, who.identity, attributes);
    if (allowed instanceof Refusal)
      return new Refusal(allowed.status, 'deny', `impersonation of "${asked.user}": ${allowed.reason}`);
  }
  const identity = impersonatedIdentity(asked, who.identity);
  return {
    identity,
    impersonation: `impersonating "${identity.username}" as asked by "${who.identity.username}"`,
  };
}

/** 4. The request's attributes on the canonical path, as the API server will resolve them. */
export function resolveTarget(req: http.IncomingMessage): RequestInfo | Refusal {
  const info = resolveRequestInfo(req.method ?? 'GET', req.url ?? '/');
  if (isRequestRejection(info))
    return new Refusal(badRequest(info.message), 'deny', `rejected path: ${info.code}`);
  return info;
}

/** 4b. Upgrades are served only where the API server streams (exec, attach, portforward, proxy). */
export function checkUpgrade(req: http.IncomingMessage, info: RequestInfo): Refusal | undefined {
  if (streamingUpgradeOf(req.headers, info) || info.subresource === 'proxy') return undefined;
  return new Refusal(
    badRequest('upgrade requests are only served for exec, attach, portforward and proxy'),
    'deny',
    'upgrade to a path that does not stream',
  );
}

/** 5a. Gateway policy (personal-token scopes): it can only narrow what RBAC allows. */
export function checkPolicy(
  policy: GatewayPolicy,
  caller: AuthenticatedCaller,
  attributes: AccessAttributes,
  shape: RequestShape,
): Refusal | undefined {
  const decision = policy.check(caller, attributes, shape);
  if (decision.allowed) return undefined;
  return new Refusal(gatewayForbidden(decision.message), 'deny', `gateway policy: ${decision.message}`);
}

/** 5b. RBAC for the mapped identity, as the API server will see it after impersonation. */
export async function checkRbac(
  reviews: AccessReviews,
  identity: MappedIdentity,
  attributes: AccessAttributes,
): Promise<AccessDecision | Refusal> {
  let decision: AccessDecision;
  try {
    decision = await reviews.check(asSeenByApiServer(identity), attributes);
  } catch (err) {
    // The API server is down or hung: the same 503/504 as a request that cannot be forwarded
    // (any other failure stays an exception for the chain's last guard: a 500).
    if (!(err instanceof AccessReviewError) || err.noAnswer === undefined) throw err;
    const status =
      err.noAnswer === 'timeout'
        ? gatewayTimeout('the Kubernetes API server did not answer the authorization check in time', 1)
        : serviceUnavailable('the Kubernetes API server could not be reached', 1);
    return new Refusal(status, 'error', err.message);
  }
  if (decision.allowed) return decision;
  return new Refusal(
    forbiddenStatusFor(attributes, identity.username, decision.reason),
    'deny',
    decision.reason || 'RBAC: no rule allows it',
  );
}

/**
 * 5c. Token-request mode: the service account's own short-lived token (`Bearer …`) replaces the
 * gateway credential; undefined for impersonation. A failure refuses the request (503): falling
 * back to the gateway's credential with impersonation would silently change what the operator
 * configured.
 */
export async function serviceAccountCredential(
  tokens: ServiceAccountTokenSource | undefined,
  identity: MappedIdentity,
  logger: Logger,
  requestId: string,
): Promise<string | undefined | Refusal> {
  if (identity.tokenRequest === undefined) return undefined;
  const { namespace, name } = identity.tokenRequest;
  try {
    if (tokens === undefined) throw new Error('no token source configured');
    return `Bearer ${await tokens.tokenFor(namespace, name)}`;
  } catch (err) {
    const message = (err as Error).message;
    logger.warn({ err: message, requestId }, 'service-account token unavailable');
    return new Refusal(
      serviceUnavailable(
        `kgw could not obtain a token for the service account ${namespace}/${name}; retry shortly`,
        5,
      ),
      'error',
      `service-account token: ${message}`,
    );
  }
}

/**
 * The identity the API server will hold after impersonation: it adds `system:authenticated`
 * itself, so the pre-check must ask about that too, or every right granted to all
 * authenticated users (discovery, self reviews) would be denied here and allowed there.
 */
function asSeenByApiServer(identity: MappedIdentity): Identity {
  if (identity.groups.includes('system:authenticated')) return identity;
  return { ...identity, groups: [...identity.groups, 'system:authenticated'] };
}

/** A 403 decided by the gateway itself (mapping, policy), marked as such for the reader. */
export function gatewayForbidden(message: string): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `kgw: ${message}`,
    reason: 'Forbidden',
    details: {},
    code: 403,
  };
}

/** 1b. The caller's request rates (per token, per user): 429 with Retry-After beyond them. */
export function checkRequestRate(
  limits: RequestLimits | undefined,
  caller: AuthenticatedCaller,
  metrics: GatewayMetrics | undefined,
): Refusal | undefined {
  const refused = limits?.admitRequest(caller);
  return refused && limitRefusal(refused, metrics);
}

/**
 * 5d. A long-running request (watch, logs -f, exec, attach, port-forward, proxy upgrade): counted
 * against the caller's concurrent maximum; the returned function releases it when it ends.
 */
export function openLongRunning(
  limits: RequestLimits | undefined,
  caller: AuthenticatedCaller,
  metrics: GatewayMetrics | undefined,
): (() => void) | Refusal {
  const opened = limits?.openLongRunning(caller) ?? (() => undefined);
  return typeof opened === 'function' ? opened : limitRefusal(opened, metrics);
}

function limitRefusal(refused: LimitRefusal, metrics: GatewayMetrics | undefined): Refusal {
  metrics?.requestLimited(refused.limit);
  return new Refusal(
    tooManyRequests(refused.message, refused.retryAfterSeconds),
    'deny',
    `limit ${refused.limit}: ${refused.message}`,
  );
}

/**
 * kube-apiserver's rule for long-running requests, which its request timeout never cuts:
 * verbs watch and proxy, subresources attach, exec, proxy, log and portforward
 * (BasicLongRunningRequestCheck as pkg/controlplane/apiserver/config.go configures it). Every
 * log request counts, with or without follow, as it does there.
 */
export function isLongRunning(info: RequestInfo): boolean {
  return info.verb === 'watch' || info.verb === 'proxy' || LONG_RUNNING_SUBRESOURCES.has(info.subresource);
}

const LONG_RUNNING_SUBRESOURCES: ReadonlySet<string> = new Set([
  'attach',
  'exec',
  'proxy',
  'log',
  'portforward',
]);

/** Which long-running kind a request is (kgw_longrunning_requests{kind}), if it is one. */
export function longRunningKindOf(
  req: http.IncomingMessage,
  info: RequestInfo,
  upgrade: boolean,
): LongRunningKind | undefined {
  if (upgrade) {
    const sub = info.subresource;
    return sub === 'exec' || sub === 'attach' || sub === 'portforward' ? sub : 'proxy';
  }
  if (info.verb === 'watch') return 'watch';
  if (info.subresource === 'log' && followRequested(req.url ?? '/')) return 'logs';
  return undefined;
}

/**
 * PodLogOptions.follow as the API server converts it: the first `follow` value through
 * Convert_Slice_string_To_bool (queryFlag: `yes`, `TRUE`, `%74rue`, even `` are true), so a
 * spelling of "follow" we did not count cannot hold a stream outside the long-running limit.
 */
export function followRequested(target: string): boolean {
  const canonical = canonicalizeRequestTarget(target);
  return !isRequestRejection(canonical) && queryFlag(canonical.query.get('follow'));
}

/**
 * 4c. Bodies of API requests are held to the API server's own limit (3 MiB by default), checked
 * on Content-Length here and counted while a body without one streams (forward-request.ts); pod, service and
 * node proxy bodies are not API objects and pass unlimited. Undefined when the body may pass.
 */
export function bodyLimitFor(info: RequestInfo, maxBytes: number): number | undefined {
  return info.subresource === 'proxy' || info.verb === 'proxy' ? undefined : maxBytes;
}

export function checkBodySize(req: http.IncomingMessage, limit: number | undefined): Refusal | undefined {
  if (limit === undefined) return undefined;
  const length = Number(req.headers['content-length']);
  return length > limit ? bodyTooLarge(limit) : undefined;
}

export function bodyTooLarge(limit: number): Refusal {
  return new Refusal(
    requestEntityTooLarge(`limit is ${limit}`),
    'deny',
    `request body over the limit of ${limit} bytes`,
  );
}
