// Talking to the gateway from the page: its own API (/kgw/v1/...) and the Kubernetes API it
// proxies, both with the session cookie (same origin). Every unsafe request carries the
// session's CSRF token in X-CSRF-Token; the page never reads or names the cookie itself.

export const UI_BASE = '/kgw/ui/';

let csrfToken: string | null = null;
const signedOutListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the gateway answers 401: the session ended (expired, refused refresh, logout elsewhere). */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export function loginUrl(returnTo = location.pathname + location.search): string {
  return `/kgw/auth/login?returnTo=${encodeURIComponent(returnTo)}`;
}

/** An answer other than 2xx, with the server's own words (Kubernetes Status or kgw error body). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }

  /** For a Kubernetes forbidden message: what was refused, to ask "why can't I?". */
  get refused(): RefusedRequest | undefined {
    return this.status === 403 ? parseForbidden(this.message) : undefined;
  }
}

export interface RefusedRequest {
  verb: string;
  resource: string;
  subresource?: string;
  group: string;
  namespace?: string;
  name?: string;
}

/**
 * Reads the API server's forbidden message, e.g. `pods "nginx" is forbidden: User "carol" cannot
 * delete resource "pods" in API group "" in the namespace "default"`.
 */
export function parseForbidden(message: string): RefusedRequest | undefined {
  const m =
    /cannot (\S+) resource "([^"/]+)(?:\/([^"]+))?" in API group "([^"]*)"(?: in the namespace "([^"]+)")?/.exec(
      message,
    );
  if (!m) return undefined;
  const named = /\S+ "([^"]+)" is forbidden/.exec(message);
  return {
    verb: m[1],
    resource: m[2],
    subresource: m[3],
    group: m[4],
    namespace: m[5],
    name: named?.[1],
  };
}

export function canIUrl(refused: RefusedRequest): string {
  const q = new URLSearchParams({ verb: refused.verb, resource: refused.resource });
  if (refused.subresource) q.set('subresource', refused.subresource);
  if (refused.group) q.set('group', refused.group);
  if (refused.namespace) q.set('namespace', refused.namespace);
  if (refused.name) q.set('name', refused.name);
  return `${UI_BASE}can-i?${q.toString()}`;
}

/**
 * Subprotocols a WebSocket from the page offers after its real ones: a browser cannot set
 * X-CSRF-Token on a WebSocket, so the token rides as `csrf.kgw.io.<token>` (the gateway checks
 * it and removes it before the API server sees the offer).
 */
export function csrfSubprotocols(): string[] {
  return csrfToken ? [`csrf.kgw.io.${csrfToken}`] : [];
}

function isUnsafe(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

export function requestHeaders(method: string, extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { Accept: 'application/json', ...extra };
  if (isUnsafe(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  return headers;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown = text;
  let message = `${res.status} ${res.statusText}`;
  try {
    body = JSON.parse(text);
    const m = (body as { message?: unknown }).message;
    if (typeof m === 'string' && m) message = m;
  } catch {
    if (text) message = text.slice(0, 300);
  }
  if (res.status === 401) for (const l of signedOutListeners) l();
  return new ApiError(res.status, message, body);
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal; contentType?: string } = {},
): Promise<T> {
  const method = init.method ?? 'GET';
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    signal: init.signal,
    headers: requestHeaders(
      method,
      init.body !== undefined ? { 'Content-Type': init.contentType ?? 'application/json' } : {},
    ),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Reads a streamed response line by line (watch events, followed logs) until it ends or aborts. */
export async function streamLines(
  path: string,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(path, { credentials: 'same-origin', signal, headers: requestHeaders('GET') });
  if (!res.ok) throw await errorOf(res);
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) onLine(pending);
}

// ---- shapes of the answers the pages read -------------------------------------------------------

export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}
export interface NonResourceRule {
  verbs: string[];
  nonResourceURLs: string[];
}
export interface NamespaceAccess {
  namespace: string;
  resourceRules?: ResourceRule[];
  nonResourceRules?: NonResourceRule[];
  incomplete?: boolean;
  error?: string;
}
export interface Me {
  user: {
    name: string;
    uid: string | null;
    groups: string[];
    method: string;
    issuer: string | null;
    tokenId: string | null;
    claims: Record<string, unknown>;
  };
  kubernetes: {
    username: string;
    uid: string | null;
    groups: string[];
    extra: Record<string, string[]>;
    serviceAccount: string | null;
  };
  admin: boolean;
  csrfToken: string | null;
  /** Browser sessions only: when the provider's tokens are due, when the session ends. */
  session: SessionTimes | null;
  access: NamespaceAccess[];
}

export interface SessionTimes {
  refreshAt: string;
  expiresAt: string;
  /** The gateway's clock when it answered: the page plans with the difference to its own. */
  serverTime: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}
export interface KubeList {
  metadata: { resourceVersion?: string };
  items: KubeObject[];
}

export interface AccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface AccessQuestion {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** SelfSubjectAccessReview under the caller's own identity: may I do this, and why (not)? */
export async function accessReview(q: AccessQuestion, signal?: AbortSignal): Promise<AccessReviewStatus> {
  const review = await api<{ status?: AccessReviewStatus }>(
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    {
      method: 'POST',
      signal,
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: q.verb,
            resource: q.resource,
            group: q.group ?? '',
            ...(q.subresource ? { subresource: q.subresource } : {}),
            ...(q.namespace ? { namespace: q.namespace } : {}),
            ...(q.name ? { name: q.name } : {}),
          },
        },
      },
    },
  );
  return review.status ?? { allowed: false, reason: 'the API server gave no answer' };
}

/** SelfSubjectRulesReview: the rules the caller has in one namespace. */
export async function rulesIn(namespace: string, signal?: AbortSignal): Promise<NamespaceAccess> {
  const review = await api<{ status?: { resourceRules?: ResourceRule[]; nonResourceRules?: NonResourceRule[]; incomplete?: boolean } }>(
    '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
    {
      method: 'POST',
      signal,
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
    },
  );
  return {
    namespace,
    resourceRules: review.status?.resourceRules ?? [],
    nonResourceRules: review.status?.nonResourceRules ?? [],
    incomplete: review.status?.incomplete ?? false,
  };
}

/** "delete pods" / "create pods/exec in apps" — how a missing permission is named on screen. */
export function describeAccess(q: AccessQuestion): string {
  const resource = q.subresource ? `${q.resource}/${q.subresource}` : q.resource;
  const group = q.group ? ` (API group ${q.group})` : '';
  const name = q.name ? ` "${q.name}"` : '';
  const where = q.namespace ? ` in namespace ${q.namespace}` : ' cluster-wide';
  return `${q.verb} ${resource}${name}${group}${where}`;
}

export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '';
  const s = Math.max(0, Math.round((now - new Date(timestamp).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
