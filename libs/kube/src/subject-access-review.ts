// The gateway's pre-forward authorization: a SubjectAccessReview for the mapped identity, and a short
// cache in front of it. The review is posted with the gateway's own credential and never with
// impersonation headers (impersonating the subject would ask whether the subject may create reviews).
import type { AccessAttributes } from './access-attributes';
import type { Identity } from './impersonation';
import type { Upstream } from './upstream';
import { exchangeWithUpstream, withGatewayCredential } from './upstream-client';

export interface ReviewHttpRequest {
  readonly method: 'POST';
  /** Path on the API server, without the upstream's base path. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ReviewHttpResponse {
  readonly statusCode: number;
  readonly body: string;
}

/** Sends one request to the API server with the gateway's credential. Injectable for tests. */
export type ReviewTransport = (request: ReviewHttpRequest) => Promise<ReviewHttpResponse>;

export interface AccessDecision {
  readonly allowed: boolean;
  /** An authorizer explicitly denied (as opposed to no opinion). */
  readonly denied: boolean;
  readonly reason: string;
  readonly evaluationError: string;
}

export class AccessReviewError extends Error {
  override readonly name = 'AccessReviewError';
  constructor(
    message: string,
    /** The API server's HTTP status, or 0 when none was received. */
    readonly statusCode: number,
    /**
     * No answer at all: the API server could not be reached, or did not answer in time. The
     * proxy answers those with 503/504 like any request it cannot forward; others are errors.
     */
    readonly noAnswer?: 'unreachable' | 'timeout',
  ) {
    super(message);
  }
}

export const SUBJECT_ACCESS_REVIEW_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

const MAX_REVIEW_RESPONSE_BYTES = 1 << 20;

/** A ReviewTransport over the upstream's TLS pool with its Authorization header and nothing else. */
export function upstreamReviewTransport(upstream: Upstream, timeoutMs = 5000): ReviewTransport {
  return (request) =>
    exchangeWithUpstream(upstream, {
      method: request.method,
      path: request.path,
      headers: withGatewayCredential(upstream, { ...request.headers }),
      body: request.body,
      timeoutMs,
      timeoutError: () =>
        new AccessReviewError(`SubjectAccessReview timed out after ${timeoutMs} ms`, 0, 'timeout'),
      maxResponseBytes: MAX_REVIEW_RESPONSE_BYTES,
      tooLargeError: (statusCode) =>
        new AccessReviewError('SubjectAccessReview response too large', statusCode),
    });
}

/** Asks the API server whether an identity may do something (authorization.k8s.io/v1). */
export class SubjectAccessReviewClient {
  constructor(private readonly transport: ReviewTransport) {}

  async review(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision> {
    const body = JSON.stringify(subjectAccessReviewFor(identity, attributes));
    let response: ReviewHttpResponse;
    try {
      response = await this.transport({
        method: 'POST',
        path: SUBJECT_ACCESS_REVIEW_PATH,
        // Deliberately no Impersonate-* here: the gateway itself is the reviewer.
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body,
      });
    } catch (error) {
      if (error instanceof AccessReviewError) throw error;
      throw new AccessReviewError(
        `SubjectAccessReview failed: ${(error as Error).message}`,
        0,
        'unreachable',
      );
    }
    if (response.statusCode !== 201 && response.statusCode !== 200) {
      throw new AccessReviewError(
        `SubjectAccessReview answered ${response.statusCode}${statusMessageOf(response.body)}`,
        response.statusCode,
      );
    }
    return decisionFrom(response.body);
  }
}

/** The SubjectAccessReview object for an identity and attributes. */
export function subjectAccessReviewFor(
  identity: Identity,
  attributes: AccessAttributes,
): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (attributes.kind === 'resource') {
    spec.resourceAttributes = {
      namespace: attributes.namespace,
      verb: attributes.verb,
      group: attributes.group,
      version: attributes.version,
      resource: attributes.resource,
      subresource: attributes.subresource,
      name: attributes.name,
    };
  } else {
    spec.nonResourceAttributes = { path: attributes.path, verb: attributes.verb };
  }
  spec.user = identity.username;
  spec.groups = [...identity.groups];
  if (identity.extra !== undefined && Object.keys(identity.extra).length > 0) {
    spec.extra = Object.fromEntries(
      Object.entries(identity.extra).map(([key, values]) => [key, [...values]]),
    );
  }
  if (identity.uid !== undefined && identity.uid !== '') spec.uid = identity.uid;
  return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec };
}

function decisionFrom(body: string): AccessDecision {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AccessReviewError('SubjectAccessReview answer is not JSON', 0);
  }
  const status = (parsed as { status?: unknown } | null)?.status;
  if (typeof status !== 'object' || status === null) {
    throw new AccessReviewError('SubjectAccessReview answer has no status', 0);
  }
  const fields = status as Record<string, unknown>;
  if (fields.allowed !== undefined && typeof fields.allowed !== 'boolean') {
    throw new AccessReviewError('SubjectAccessReview status.allowed is not a boolean', 0);
  }
  const denied = fields.denied === true;
  return {
    // An explicit deny wins even over a confused allowed: true.
    allowed: fields.allowed === true && !denied,
    denied,
    reason: typeof fields.reason === 'string' ? fields.reason : '',
    evaluationError: typeof fields.evaluationError === 'string' ? fields.evaluationError : '',
  };
}

function statusMessageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; message?: unknown };
    if (parsed.kind === 'Status' && typeof parsed.message === 'string') return `: ${parsed.message}`;
  } catch {
    // Not a Status; the status code says enough.
  }
  return '';
}

// ---- cache -----------------------------------------------------------------------------------

export interface AccessReviewer {
  review(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision>;
}

export interface AccessReviewCacheOptions {
  /** How long an allowed decision is reused. Default 10 s. */
  readonly allowedTtlMs?: number;
  /** How long a denial is reused. Default 5 s. */
  readonly deniedTtlMs?: number;
  /** Most entries kept; the least recently used go first. Default 10 000. */
  readonly maxEntries?: number;
  /** Milliseconds; injectable for tests. */
  readonly now?: () => number;
}

interface CacheEntry {
  readonly decision: AccessDecision;
  readonly expiresAt: number;
}

/**
 * Caches decisions per (full identity, attributes) with separate TTLs for allowed and denied, a size
 * bound, and one review in flight per key. Failed reviews are never cached, and neither are denials
 * that carry an evaluation error (the authorizer could not decide; asking again may succeed).
 */
export class AccessReviewCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<AccessDecision>>();
  private readonly allowedTtlMs: number;
  private readonly deniedTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Lookups answered without a new review (cached, or joined one in flight), and reviews sent. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    private readonly reviewer: AccessReviewer,
    options: AccessReviewCacheOptions = {},
  ) {
    this.allowedTtlMs = options.allowedTtlMs ?? 10_000;
    this.deniedTtlMs = options.deniedTtlMs ?? 5_000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  check(identity: Identity, attributes: AccessAttributes): Promise<AccessDecision> {
    const key = accessReviewCacheKey(identity, attributes);
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > this.now()) {
        // Re-insert to mark as most recently used (Map keeps insertion order).
        this.entries.delete(key);
        this.entries.set(key, cached);
        this.stats.hits++;
        return Promise.resolve(cached.decision);
      }
      this.entries.delete(key);
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) {
      this.stats.hits++;
      return pending;
    }
    this.stats.misses++;

    const review = this.reviewer.review(identity, attributes).then(
      (decision) => {
        this.inFlight.delete(key);
        this.store(key, decision);
        return decision;
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, review);
    return review;
  }

  private store(key: string, decision: AccessDecision): void {
    if (!decision.allowed && decision.evaluationError !== '') return;
    const ttl = decision.allowed ? this.allowedTtlMs : this.deniedTtlMs;
    if (ttl <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { decision, expiresAt: this.now() + ttl });
  }
}

/**
 * The cache key: every part of the identity (username, uid, groups, extra) and every attribute, in an
 * injective encoding (JSON of a fixed-shape array), so two identities that differ in anything —
 * one group, one extra value — never share an entry. Group order and extra key order do not matter
 * to the decision and are sorted; extra value order is kept.
 */
export function accessReviewCacheKey(identity: Identity, attributes: AccessAttributes): string {
  // JSON.stringify reads the arrays as they are: no copies but the sorted ones (the key is made
  // on every proxied request).
  const extra = Object.entries(identity.extra ?? {}).sort(([left], [right]) =>
    left < right ? -1 : left > right ? 1 : 0,
  );
  const attributeParts =
    attributes.kind === 'resource'
      ? [
          'resource',
          attributes.verb,
          attributes.group,
          attributes.version,
          attributes.resource,
          attributes.subresource,
          attributes.namespace,
          attributes.name,
        ]
      : ['nonResource', attributes.verb, attributes.path];
  return JSON.stringify([
    identity.username,
    identity.uid ?? '',
    identity.groups.length < 2 ? identity.groups : [...identity.groups].sort(),
    extra,
    attributeParts,
  ]);
}
