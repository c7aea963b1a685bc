// Resolves a tunnel target (`pod/`, `service/`, `deployment/`, `statefulset/` NAME and a port)
// to a ready pod and the pod port to dial, as kubectl port-forward does — plus what it does not:
// a service, deployment or statefulset target picks a ready pod per new connection (round
// robin), so new connections spread over the pods and move to a live pod when one goes away.
// A service's ready endpoints come from a watch on its EndpointSlices (service-endpoints.ts);
// when the caller may not read those, and for deployments and statefulsets, from a list of the
// selected pods re-read when older than a second.
//
// Guards: the pod network. Every read is made as the caller (impersonated), so a target the
// caller may not see is not found or forbidden for them; the address dialled is always the pod
// IP from the pod's status, never anything the client names.
import { ResetCode, type TargetRequest } from '@kgw/tunnel';
import { TargetError, type KubeRead, type PodEndpoint } from './pod-endpoint';
import { ServiceEndpoints, type KubeWatch } from './service-endpoints';

export { TargetError, type KubeRead, type PodEndpoint } from './pod-endpoint';

interface PodInfo {
  name: string;
  ip: string;
  ready: boolean;
  containerPorts: Array<{ name?: string; containerPort: number; protocol?: string }>;
}

const LIST_MAX_AGE_MS = 1000;

export class ForwardTarget {
  private turn = 0;
  private listed: { at: number; pods: PodInfo[] } | undefined;
  /** Service targets: the service port's targetPort (number or name). */
  private targetPort: number | string | undefined;
  private selector: string | undefined;
  /** Service targets: the service port's name ('' when unnamed), which names its slice port. */
  private servicePortName = '';
  /** Service targets: the watched endpoints; null when the caller may not read EndpointSlices. */
  private endpoints: Promise<ServiceEndpoints | null> | undefined;

  constructor(
    readonly request: TargetRequest,
    private readonly read: KubeRead,
    private readonly watch?: KubeWatch,
  ) {}

  get describe(): string {
    const short = { pod: 'pod', service: 'svc', deployment: 'deploy', statefulset: 'sts' }[this.request.kind];
    return `${short}/${this.request.name} port ${this.request.port}${this.request.protocol === 'udp' ? '/udp' : ''}`;
  }

  /** Checks the target exists and has a ready pod; the first call also learns its selector. */
  async prepare(): Promise<void> {
    await this.next();
  }

  /** The pod and port the next connection goes to. */
  async next(): Promise<PodEndpoint> {
    const watched = await this.watchedEndpoints();
    if (watched) {
      const ready = watched.ready();
      if (ready.length === 0)
        throw new TargetError(ResetCode.NoReadyPod, `no ready pod behind ${this.describe}`);
      return ready[this.turn++ % ready.length];
    }
    const pods = (await this.pods()).filter((p) => p.ready);
    if (pods.length === 0)
      throw new TargetError(ResetCode.NoReadyPod, `no ready pod behind ${this.describe}`);
    const pod = pods[this.turn++ % pods.length];
    return { pod: pod.name, ip: pod.ip, port: this.podPort(pod) };
  }

  /** Drops the cached pod list (a pod in it refused a connection). */
  forgetPods(): void {
    this.listed = undefined;
  }

  /** Names of the pods currently behind the target (for re-authorization). */
  async podNames(): Promise<string[]> {
    const watched = await this.watchedEndpoints();
    if (watched) return watched.ready().map((e) => e.pod);
    return (await this.pods()).map((p) => p.name);
  }

  /** Stops the watch (the tunnel ended). */
  close(): void {
    void this.endpoints?.then((e) => e?.close());
  }

  /** A service's watched endpoints, started on first use; null when it falls back to pods. */
  private watchedEndpoints(): Promise<ServiceEndpoints | null> {
    if (this.request.kind !== 'service' || !this.watch) return Promise.resolve(null);
    this.endpoints ??= this.startWatch(this.watch).catch((err: unknown) => {
      // Not learned yet (the service is missing...): the next call tries again.
      this.endpoints = undefined;
      throw err;
    });
    return this.endpoints;
  }

  private async startWatch(watch: KubeWatch): Promise<ServiceEndpoints | null> {
    const ns = encodeURIComponent(this.request.namespace);
    if (this.selector === undefined) await this.learnSelector(ns, encodeURIComponent(this.request.name));
    const endpoints = new ServiceEndpoints(
      this.read,
      watch,
      this.request.namespace,
      this.request.name,
      this.servicePortName,
      this.request.protocol.toUpperCase(),
    );
    try {
      await endpoints.start();
      return endpoints;
    } catch (err) {
      // A caller who may read the service and its pods but not its EndpointSlices: list pods.
      if (err instanceof TargetError && err.code === ResetCode.Forbidden) return null;
      throw err;
    }
  }

  private podPort(pod: PodInfo): number {
    const wanted = this.request.kind === 'service' ? this.targetPort : this.request.port;
    if (typeof wanted === 'number') return wanted;
    const protocol = this.request.protocol.toUpperCase();
    const named = pod.containerPorts.find((p) => p.name === wanted && (p.protocol ?? 'TCP') === protocol);
    if (!named)
      throw new TargetError(ResetCode.NotFound, `Pod '${pod.name}' does not have a named port '${wanted}'`);
    return named.containerPort;
  }

  private async pods(): Promise<PodInfo[]> {
    if (this.listed && Date.now() - this.listed.at < LIST_MAX_AGE_MS) return this.listed.pods;
    const ns = encodeURIComponent(this.request.namespace);
    const name = encodeURIComponent(this.request.name);
    let pods: PodInfo[];
    if (this.request.kind === 'pod') {
      pods = [podInfo(await this.get(`/api/v1/namespaces/${ns}/pods/${name}`, 'pods'))];
    } else {
      if (this.selector === undefined) await this.learnSelector(ns, name);
      const list = (await this.get(
        `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(this.selector!)}`,
        'pods',
      )) as { items?: unknown[] };
      pods = (list.items ?? []).map(podInfo);
    }
    this.listed = { at: Date.now(), pods };
    return pods;
  }

  private async learnSelector(ns: string, name: string): Promise<void> {
    const { kind } = this.request;
    const path =
      kind === 'service'
        ? `/api/v1/namespaces/${ns}/services/${name}`
        : `/apis/apps/v1/namespaces/${ns}/${kind === 'deployment' ? 'deployments' : 'statefulsets'}/${name}`;
    const object = (await this.get(path, kind === 'service' ? 'services' : `${kind}s.apps`)) as {
      spec?: {
        selector?: Record<string, string> & { matchLabels?: Record<string, string> };
        ports?: Array<{ name?: string; port: number; targetPort?: number | string; protocol?: string }>;
      };
    };
    const labels = kind === 'service' ? object.spec?.selector : object.spec?.selector?.matchLabels;
    if (!labels || Object.keys(labels).length === 0)
      throw new TargetError(ResetCode.NoReadyPod, `${this.describe} has no pod selector`);
    this.selector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    if (kind === 'service') {
      const wanted = this.request.port;
      // A service may offer one number over TCP and UDP (DNS): the protocol picks the port.
      const protocol = this.request.protocol.toUpperCase();
      const port = (object.spec?.ports ?? []).find(
        (p) =>
          (typeof wanted === 'number' ? p.port === wanted : p.name === wanted) &&
          (p.protocol ?? 'TCP') === protocol,
      );
      if (!port)
        throw new TargetError(
          ResetCode.NotFound,
          `Service ${this.request.name} does not have a service port ${wanted}${protocol === 'UDP' ? '/UDP' : ''}`,
        );
      this.targetPort = port.targetPort ?? port.port;
      this.servicePortName = port.name ?? '';
    }
  }

  private async get(path: string, resource: string): Promise<unknown> {
    const res = await this.read(path);
    if (res.status === 200) return res.body;
    const message = (res.body as { message?: unknown } | undefined)?.message;
    const text = typeof message === 'string' ? message : `${resource} "${this.request.name}": ${res.status}`;
    if (res.status === 404) throw new TargetError(ResetCode.NotFound, text);
    if (res.status === 403) throw new TargetError(ResetCode.Forbidden, text);
    if (res.status === 401) throw new TargetError(ResetCode.Unauthorized, text);
    throw new TargetError(ResetCode.Internal, `the API server answered ${res.status}: ${text}`);
  }
}

function podInfo(value: unknown): PodInfo {
  const pod = (value ?? {}) as {
    metadata?: { name?: string; deletionTimestamp?: string };
    spec?: {
      containers?: Array<{ ports?: Array<{ name?: string; containerPort: number; protocol?: string }> }>;
    };
    status?: { phase?: string; podIP?: string; conditions?: Array<{ type: string; status: string }> };
  };
  const ready =
    pod.status?.phase === 'Running' &&
    !pod.metadata?.deletionTimestamp &&
    Boolean(pod.status.podIP) &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return {
    name: pod.metadata?.name ?? '',
    ip: pod.status?.podIP ?? '',
    ready,
    containerPorts: (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []),
  };
}
