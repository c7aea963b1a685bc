// The gateway's Prometheus metrics, named after kube-apiserver's own (apiserver_request_total →
// kgw_requests_total, apiserver_request_duration_seconds → kgw_request_duration_seconds,
// apiserver_longrunning_requests → kgw_longrunning_requests), so dashboards and intuition carry
// over. Labels are bounded (request-labels.ts): no user, token, namespace or object name.
//
// The request path pays for one counter increment and one histogram observation per exchange,
// at its end; everything else (SAR cache, audit queue, spool) is read when Prometheus scrapes.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import { metricsReader } from './cluster-metrics';
import { REQUEST_LABELS, RequestLabeller, type FinishedRequest, type RequestLabel } from './request-labels';

/** What the audit trail reports about itself (read at scrape time). */
export interface AuditTrailStats {
  /** Records in memory, not yet in Postgres or the spool. */
  queueDepth: number;
  /** Bytes of spooled records waiting for replay into Postgres. */
  spoolBytes: number;
  /** Age in seconds of the oldest spooled record not yet replayed (0 when the spool is empty). */
  replayLagSeconds: number;
}

/** Long-running requests, as the kind label of kgw_longrunning_requests names them. */
export const LONG_RUNNING_KINDS = [
  'watch',
  'logs',
  'exec',
  'attach',
  'portforward',
  'proxy',
  'tunnel',
] as const;
export type LongRunningKind = (typeof LONG_RUNNING_KINDS)[number];

/** Outcomes of an authentication attempt (kgw_authentication_attempts_total{result}). */
export type AuthenticationResultLabel =
  | 'success'
  | 'no-credential'
  | 'rejected'
  | 'throttled'
  | 'unmapped'
  | 'plain-http';

/** Seconds, like apiserver_request_duration_seconds' buckets (up to a minute). */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
];

const DURATION_LABELS = REQUEST_LABELS.filter((label) => label !== 'code');

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly labeller = new RequestLabeller();
  private readonly requests: Counter<RequestLabel>;
  private readonly duration: Histogram<Exclude<RequestLabel, 'code'>>;
  private readonly longRunning: Gauge<'kind'>;
  private readonly authAttempts: Counter<'method' | 'result'>;
  private readonly upstreamErrors: Counter<'kind'>;
  private readonly limited: Counter<'limit'>;
  /** The text a scrape gets: this process's metrics, or with workers their sum (cluster-metrics.ts). */
  readonly read: () => Promise<string>;
  private accessReviews: (() => { hits: number; misses: number }) | undefined;
  private auditStats: (() => AuditTrailStats | undefined) | undefined;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'kgw_requests_total',
      help: 'Kubernetes API requests through the gateway, by verb, API group/version/resource/subresource, scope, HTTP code and the gateway decision (allow, deny, error, unauthenticated).',
      labelNames: REQUEST_LABELS,
      registers,
    });
    this.duration = new Histogram({
      name: 'kgw_request_duration_seconds',
      help: 'Response latency of Kubernetes API requests through the gateway (long-running requests — watch, logs -f, exec, attach, port-forward, proxy upgrades — are not included: see kgw_longrunning_requests).',
      labelNames: DURATION_LABELS,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.longRunning = new Gauge({
      name: 'kgw_longrunning_requests',
      help: 'Long-running requests open now, by kind: watch, logs (logs -f), exec, attach, portforward, proxy (upgraded), tunnel (kgw forward).',
      labelNames: ['kind'],
      registers,
    });
    this.authAttempts = new Counter({
      name: 'kgw_authentication_attempts_total',
      help: 'Authentication attempts by credential kind (session, pat, jwt, static-token, bearer for an unknown bearer, none) and result.',
      labelNames: ['method', 'result'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'kgw_upstream_errors_total',
      help: 'Requests the API server could not be reached for (unreachable: before an answer; timeout: no answer within the response timeout; broken: after the answer started).',
      labelNames: ['kind'],
      registers,
    });
    this.limited = new Counter({
      name: 'kgw_limited_requests_total',
      help: 'Requests refused by a gateway limit (rate per user, rate per token, concurrent long-running per user).',
      labelNames: ['limit'],
      registers,
    });
    // Every known series starts at 0, so a rate() or an alert sees the first event as a change.
    for (const kind of LONG_RUNNING_KINDS) this.longRunning.set({ kind }, 0);
    for (const kind of ['unreachable', 'timeout', 'broken']) this.upstreamErrors.inc({ kind }, 0);
    for (const limit of ['user-rate', 'token-rate', 'user-longrunning']) this.limited.inc({ limit }, 0);
    // prom-client calls collect() with the metric as `this`: read our sources through closures.
    const accessReviews = (): { hits: number; misses: number } | undefined => this.accessReviews?.();
    const auditStats = (): AuditTrailStats | undefined => this.auditStats?.();
    new Counter({
      name: 'kgw_authorization_cache_requests_total',
      help: 'SubjectAccessReview cache lookups: hit (answered from the cache or an identical review in flight), miss (a review was sent).',
      labelNames: ['result'],
      registers,
      collect() {
        const stats = accessReviews();
        if (!stats) return;
        this.reset();
        this.inc({ result: 'hit' }, stats.hits);
        this.inc({ result: 'miss' }, stats.misses);
      },
    });
    const auditGauge = (name: string, help: string, pick: (stats: AuditTrailStats) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const stats = auditStats();
          if (stats) this.set(pick(stats));
        },
      });
    };
    auditGauge(
      'kgw_audit_queue_depth',
      'Audit records in memory, not yet written to Postgres or the spool.',
      (s) => s.queueDepth,
    );
    auditGauge(
      'kgw_audit_spool_bytes',
      'Bytes of audit records in the local spool, waiting for Postgres.',
      (s) => s.spoolBytes,
    );
    auditGauge(
      'kgw_audit_replay_lag_seconds',
      'Age of the oldest spooled audit record not yet replayed into Postgres (0 when none).',
      (s) => s.replayLagSeconds,
    );
    // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds...
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.read = metricsReader(this.registry);
  }

  /** Step 7 of the proxy chain: one exchange ended (long-running ones are not timed). */
  requestFinished(event: FinishedRequest, longRunning: boolean): void {
    const labels = this.labeller.labels(event);
    this.requests.inc(labels);
    if (longRunning) return;
    const { code: _code, ...timed } = labels;
    this.duration.observe(timed, event.latencyMs / 1000);
  }

  /** A long-running request started; call the returned function exactly once when it ends. */
  longRunningStarted(kind: LongRunningKind): () => void {
    const labels: LabelValues<'kind'> = { kind };
    this.longRunning.inc(labels);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.longRunning.dec(labels);
    };
  }

  authenticationAttempt(method: string, result: AuthenticationResultLabel): void {
    this.authAttempts.inc({ method, result });
  }

  upstreamError(kind: 'unreachable' | 'timeout' | 'broken'): void {
    this.upstreamErrors.inc({ kind });
  }

  requestLimited(limit: 'user-rate' | 'token-rate' | 'user-longrunning'): void {
    this.limited.inc({ limit });
  }

  /**
   * kgw_instance_info: which gateway this is (the audit instance) and, in a cluster, its pod
   * (Downward API). One series per process; labels are not `instance`/`namespace`/`pod`, which
   * Prometheus's own target labels already use.
   */
  describeInstance(info: { name: string; namespace?: string; ip?: string; node?: string }): void {
    const gauge = new Gauge({
      name: 'kgw_instance_info',
      help: 'Always 1: the gateway instance (audit instance name) and the pod it runs as (namespace, IP, node; empty outside a cluster).',
      labelNames: ['gateway_instance', 'pod_namespace', 'pod_ip', 'node'],
      registers: [this.registry],
    });
    gauge.set(
      {
        gateway_instance: info.name,
        pod_namespace: info.namespace ?? '',
        pod_ip: info.ip ?? '',
        node: info.node ?? '',
      },
      1,
    );
  }

  /** Where the SAR cache counts come from (read at scrape time). */
  observeAccessReviews(stats: () => { hits: number; misses: number }): void {
    this.accessReviews = stats;
  }

  /** Where the audit trail's queue and spool figures come from (read at scrape time). */
  observeAuditTrail(stats: () => AuditTrailStats | undefined): void {
    this.auditStats = stats;
  }
}
