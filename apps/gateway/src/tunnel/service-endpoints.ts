// A service's ready endpoints for `svc/` forwards, kept current by a watch on its EndpointSlices
// (label kubernetes.io/service-name) — never polled: a pod that goes away leaves the list when
// the endpoint controller says so, and the next connection goes to a live one.
//
// Guards: the pod network. Every list and watch is made as the caller (impersonated), so they
// see only what their RBAC lets them see; endpoints are only read here, and an address dialled
// is one the API server reported. Trusts: the EndpointSlices' addresses, conditions and ports
// (written by the endpoint controller). Refuses: nothing itself; a list the caller may not make
// is the caller's error (TargetError), and the tunnel then falls back to listing pods.
import { ResetCode } from '@kgw/tunnel';
import { TargetError, type KubeRead, type PodEndpoint } from './pod-endpoint';

/** One watch event as the API server streams it. */
export interface WatchEvent {
  type: string;
  object: unknown;
}

/**
 * Starts a watch (a GET with watch=true) as the caller: `onEvent` per event, then `onEnd` once
 * (error when it failed or was refused). Returns a function that stops it.
 */
export type KubeWatch = (
  path: string,
  onEvent: (event: WatchEvent) => void,
  onEnd: (error?: Error) => void,
) => () => void;

interface SliceObject {
  metadata?: { name?: string; resourceVersion?: string };
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean | null };
    targetRef?: { kind?: string; name?: string };
  }>;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string | null }>;
}

/** After a watch ends or fails, when to start the next one. */
const REWATCH_DELAY_MS = 1000;

export class ServiceEndpoints {
  private readonly slices = new Map<string, PodEndpoint[]>();
  private resourceVersion = '';
  private stopWatch: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly read: KubeRead,
    private readonly watch: KubeWatch,
    private readonly namespace: string,
    private readonly service: string,
    /** The service port's name ('' when unnamed) and protocol: the slice port to use. */
    private readonly portName: string,
    private readonly protocol: string,
  ) {}

  /** Lists the slices, then watches from there; rejects when the caller may not list them. */
  async start(): Promise<void> {
    await this.list();
    this.startWatch();
  }

  /** Ready endpoints (pod, IP, the service port's target port), in a stable order. */
  ready(): PodEndpoint[] {
    return [...this.slices.values()].flat().sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.stopWatch?.();
  }

  private get path(): string {
    const selector = encodeURIComponent(`kubernetes.io/service-name=${this.service}`);
    return `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/endpointslices?labelSelector=${selector}`;
  }

  private async list(): Promise<void> {
    const res = await this.read(this.path);
    if (res.status !== 200) {
      const message = (res.body as { message?: unknown } | undefined)?.message;
      throw new TargetError(
        res.status === 403 ? ResetCode.Forbidden : ResetCode.Internal,
        typeof message === 'string' ? message : `listing endpointslices answered ${res.status}`,
      );
    }
    const list = res.body as { metadata?: { resourceVersion?: string }; items?: SliceObject[] };
    this.slices.clear();
    for (const slice of list.items ?? []) this.remember(slice);
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
  }

  private startWatch(): void {
    if (this.closed) return;
    const path = `${this.path}&watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.resourceVersion)}`;
    let expired = false;
    this.stopWatch = this.watch(
      path,
      (event) => {
        const slice = event.object as SliceObject;
        if (event.type === 'ERROR') {
          // 410 Expired: our resourceVersion is too old; list again.
          expired = true;
          return;
        }
        if (slice.metadata?.resourceVersion) this.resourceVersion = slice.metadata.resourceVersion;
        if (event.type === 'ADDED' || event.type === 'MODIFIED') this.remember(slice);
        else if (event.type === 'DELETED') this.slices.delete(slice.metadata?.name ?? '');
      },
      (error) => {
        this.stopWatch = undefined;
        if (this.closed) return;
        // Ended (timeout, API server restart) or failed: watch again, listing first if needed.
        this.retry = setTimeout(() => void this.resync(expired || error !== undefined), REWATCH_DELAY_MS);
        this.retry.unref();
      },
    );
  }

  private async resync(relist: boolean): Promise<void> {
    if (this.closed) return;
    try {
      if (relist) await this.list();
      this.startWatch();
    } catch {
      // The list failed (permission lost, API server away): keep what we know, try again.
      this.retry = setTimeout(() => void this.resync(true), REWATCH_DELAY_MS * 5);
      this.retry.unref();
    }
  }

  private remember(slice: SliceObject): void {
    const name = slice.metadata?.name ?? '';
    const port = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === this.portName && (p.protocol ?? 'TCP') === this.protocol,
    )?.port;
    const endpoints: PodEndpoint[] = [];
    if (typeof port === 'number')
      for (const endpoint of slice.endpoints ?? []) {
        // ready unset means ready (EndpointConditions); terminating endpoints are not ready.
        if (endpoint.conditions?.ready === false) continue;
        const ip = endpoint.addresses?.[0];
        const pod = endpoint.targetRef?.kind === 'Pod' ? endpoint.targetRef.name : undefined;
        if (ip && pod) endpoints.push({ pod, ip, port });
      }
    this.slices.set(name, endpoints);
  }
}
