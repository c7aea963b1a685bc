// A tiny control plane: deployment → replicaset → pod controllers, a scheduler + kubelet that
// binds pods to the one node and marks them Running/Ready, the endpoints and endpointslice
// controllers, service-account token secrets, namespace setup and deletion, and the garbage
// collector. It reacts to store commits but works on a queue, so every write it makes is its own
// commit after the one that triggered it (watchers see events in a real order).
import { createHash, randomInt } from 'node:crypto';
import type { KubeObject } from './contract';
import { randomSuffix, stableSuffix } from './admission';
import type { ServiceAccountTokens } from './authentication';
import { matchesObjectSelector } from './selectors';
import { nowTimestamp, type CommittedEvent, type ObjectStore } from './store';
import { StatusError } from './status';

export const NODE_NAME = 'kube-sim-node';
export const NODE_IP = '172.18.0.2';

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
const asList = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

function ownerRef(apiVersion: string, kind: string, owner: KubeObject): OwnerReference {
  return {
    apiVersion,
    kind,
    name: owner.metadata.name,
    uid: String(owner.metadata.uid),
    controller: true,
    blockOwnerDeletion: true,
  };
}

function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return (obj.metadata.ownerReferences as OwnerReference[] | undefined)?.find((r) => r.controller);
}

export class ClusterController {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;
  private running = false;
  private idleWaiters: (() => void)[] = [];
  private unsubscribe?: () => void;
  private podIpCounter = 10;
  // Pod IPs are loopback addresses, 127.B.x.y, so each pod's listeners sit at its own IP and
  // container port as in a cluster (a gateway in `direct` mode dials status.podIP:port). B is
  // random per simulator so that simulators running side by side (parallel tests) rarely share
  // an address; a pod whose address:port is taken falls back to an ephemeral port (PodRuntime).
  private readonly podIpBase = 16 + randomInt(230);
  private stopped = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly tokens: ServiceAccountTokens,
    private readonly caPem: string,
  ) {}

  start(): void {
    this.unsubscribe = this.store.onCommit((e) => this.onCommit(e));
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.queue.length = 0;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when the queue is empty (everything the last commits triggered is done). */
  idle(): Promise<void> {
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(work: () => void): void {
    if (this.stopped) return;
    this.queue.push(work);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    this.running = true;
    let budget = 2000;
    while (this.queue.length > 0 && budget-- > 0) {
      const work = this.queue.shift()!;
      try {
        work();
      } catch (err) {
        // A lost race with a client write (409/404) is retried by the next event, as controllers do.
        if (!(err instanceof StatusError)) throw err;
      }
    }
    this.running = false;
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    } else {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private onCommit(e: CommittedEvent): void {
    const obj = e.object;
    const ns = obj.metadata.namespace;
    switch (e.resource) {
      case 'namespaces':
        if (e.type === 'ADDED') this.enqueue(() => this.setUpNamespace(obj.metadata.name));
        if (e.type !== 'DELETED' && obj.metadata.deletionTimestamp)
          this.enqueue(() => this.finishNamespaceDeletion(obj.metadata.name));
        break;
      case 'deployments':
        if (e.type !== 'DELETED') this.enqueue(() => this.syncDeployment(ns!, obj.metadata.name));
        break;
      case 'replicasets':
        if (e.type !== 'DELETED') this.enqueue(() => this.syncReplicaSet(ns!, obj.metadata.name));
        this.enqueueOwner(obj, 'deployments');
        break;
      case 'pods':
        if (e.type !== 'DELETED' && !asObj(obj.spec).nodeName)
          this.enqueue(() => this.runPod(ns!, obj.metadata.name));
        this.enqueueOwner(obj, 'replicasets');
        this.enqueue(() => this.syncServicesInNamespace(ns!));
        break;
      case 'services':
        this.enqueue(() => this.syncEndpoints(ns!, obj.metadata.name));
        break;
      case 'serviceaccounts':
        break;
      case 'secrets':
        if (
          e.type !== 'DELETED' &&
          obj.type === 'kubernetes.io/service-account-token' &&
          !asObj(obj.data).token
        ) {
          this.enqueue(() => this.fillTokenSecret(ns!, obj.metadata.name));
        }
        break;
      default:
        break;
    }
    if (e.type === 'DELETED' && obj.metadata.uid)
      this.enqueue(() => this.collectGarbage(String(obj.metadata.uid), ns));
  }

  private enqueueOwner(obj: KubeObject, ownerResource: string): void {
    const ref = controllerOf(obj);
    if (ref)
      this.enqueue(() =>
        ownerResource === 'deployments'
          ? this.syncDeployment(obj.metadata.namespace!, ref.name)
          : this.syncReplicaSet(obj.metadata.namespace!, ref.name),
      );
  }

  // ---- namespaces ----

  private setUpNamespace(name: string): void {
    const ns = this.store.peek('namespaces', undefined, name);
    if (!ns || ns.metadata.deletionTimestamp) return;
    if (!this.store.peek('serviceaccounts', name, 'default')) {
      this.store.create('serviceaccounts', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default', namespace: name },
      });
    }
    if (!this.store.peek('configmaps', name, 'kube-root-ca.crt')) {
      this.store.create('configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'kube-root-ca.crt',
          namespace: name,
          annotations: {
            'kubernetes.io/description':
              'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
          },
        },
        data: { 'ca.crt': this.caPem },
      });
    }
  }

  private finishNamespaceDeletion(name: string): void {
    // The namespace controller empties the namespace, then the finalizer is removed and it goes.
    for (const resource of this.store.resources()) {
      if (resource === 'namespaces') continue;
      for (const obj of this.store.peekList(resource, name)) {
        if (obj.metadata.namespace === name) this.store.delete(resource, name, obj.metadata.name);
      }
    }
    if (this.store.peek('namespaces', undefined, name)) this.store.delete('namespaces', undefined, name);
  }

  // ---- garbage collector ----

  private collectGarbage(ownerUid: string, namespace: string | undefined): void {
    for (const resource of this.store.resources()) {
      for (const obj of this.store.peekList(resource, namespace)) {
        const refs = (obj.metadata.ownerReferences as OwnerReference[] | undefined) ?? [];
        if (!refs.some((r) => r.uid === ownerUid)) continue;
        const remaining = refs.filter(
          (r) => r.uid !== ownerUid && this.ownerExists(r, obj.metadata.namespace),
        );
        if (remaining.length === 0) this.store.delete(resource, obj.metadata.namespace, obj.metadata.name);
      }
    }
  }

  private ownerExists(ref: OwnerReference, namespace: string | undefined): boolean {
    const resource = `${ref.kind.toLowerCase()}s`;
    return Boolean(
      this.store.peek(resource, namespace, ref.name) ?? this.store.peek(resource, undefined, ref.name),
    );
  }

  // ---- deployments ----

  private syncDeployment(namespace: string, name: string): void {
    const d = this.store.peek('deployments', namespace, name);
    if (!d || d.metadata.deletionTimestamp) return;
    const spec = asObj(d.spec);
    const template = asObj(spec.template);
    const hash = stableSuffix(JSON.stringify(template), 10);
    const owned = this.store
      .peekList('replicasets', namespace)
      .filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
    const rsName = `${name}-${hash}`;
    let current = owned.find((rs) => rs.metadata.name === rsName);
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const revision = String(d.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '1');
    if (!current) {
      const maxRevision = owned.reduce(
        (m, rs) => Math.max(m, Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)),
        0,
      );
      const newRevision = String(maxRevision + 1);
      const templateMeta = asObj(template.metadata);
      const labels = {
        ...(templateMeta.labels as Record<string, string> | undefined),
        'pod-template-hash': hash,
      };
      const selector = asObj(spec.selector);
      current = this.store.create('replicasets', {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: rsName,
          namespace,
          labels,
          annotations: {
            'deployment.kubernetes.io/desired-replicas': String(replicas),
            'deployment.kubernetes.io/max-replicas': String(replicas + Math.ceil(replicas / 4)),
            'deployment.kubernetes.io/revision': newRevision,
          },
          ownerReferences: [ownerRef('apps/v1', 'Deployment', d)],
        },
        spec: {
          replicas,
          selector: {
            ...selector,
            matchLabels: {
              ...(asObj(selector.matchLabels) as Record<string, string>),
              'pod-template-hash': hash,
            },
          },
          template: { ...template, metadata: { ...templateMeta, labels } },
        },
      });
      if (revision !== newRevision) {
        const fresh = this.store.get('deployments', namespace, name);
        if (fresh) {
          fresh.metadata.annotations = {
            ...(fresh.metadata.annotations ?? {}),
            'deployment.kubernetes.io/revision': newRevision,
          };
          this.store.update('deployments', fresh);
        }
      }
    } else if (asObj(current.spec).replicas !== replicas) {
      const rs = structuredClone(current);
      asObj(rs.spec).replicas = replicas;
      rs.metadata.annotations = {
        ...(rs.metadata.annotations ?? {}),
        'deployment.kubernetes.io/desired-replicas': String(replicas),
      };
      this.store.update('replicasets', rs);
    }
    // Rollouts are instant: every older ReplicaSet scales to zero at once.
    for (const old of owned) {
      if (old.metadata.name !== rsName && asObj(old.spec).replicas !== 0) {
        const rs = structuredClone(old);
        asObj(rs.spec).replicas = 0;
        this.store.update('replicasets', rs);
      }
    }
    this.updateDeploymentStatus(namespace, name);
  }

  private updateDeploymentStatus(namespace: string, name: string): void {
    const d = this.store.get('deployments', namespace, name);
    if (!d) return;
    const spec = asObj(d.spec);
    const replicasWanted = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const owned = this.store
      .peekList('replicasets', namespace)
      .filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
    const hash = stableSuffix(JSON.stringify(asObj(spec.template)), 10);
    let replicas = 0;
    let ready = 0;
    let updated = 0;
    for (const rs of owned) {
      const st = asObj(rs.status);
      replicas += Number(st.replicas ?? 0);
      ready += Number(st.readyReplicas ?? 0);
      if (rs.metadata.name === `${name}-${hash}`) updated += Number(st.replicas ?? 0);
    }
    const old = asObj(d.status);
    const now = nowTimestamp();
    const prevConditions = asList(old.conditions);
    const condition = (type: string, status: string, reason: string, message: string): Obj => {
      const prev = prevConditions.find((c) => c.type === type);
      const same = prev && prev.status === status && prev.reason === reason;
      return {
        type,
        status,
        lastUpdateTime: same ? prev.lastUpdateTime : now,
        lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now,
        reason,
        message,
      };
    };
    const available = ready >= replicasWanted - Math.floor(replicasWanted / 4);
    const status: Obj = {
      observedGeneration: d.metadata.generation,
      replicas,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      conditions: [
        condition(
          'Available',
          available ? 'True' : 'False',
          available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
          available
            ? 'Deployment has minimum availability.'
            : 'Deployment does not have minimum availability.',
        ),
        condition(
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          `ReplicaSet "${name}-${hash}" has successfully progressed.`,
        ),
      ],
    };
    if (ready === 0) delete status.readyReplicas;
    if (ready === 0) delete status.availableReplicas;
    if (replicas - ready > 0) status.unavailableReplicas = replicas - ready;
    if (JSON.stringify(status) === JSON.stringify(old)) return;
    d.status = status;
    this.store.update('deployments', d);
  }

  // ---- replicasets ----

  private syncReplicaSet(namespace: string, name: string): void {
    const rs = this.store.peek('replicasets', namespace, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const spec = asObj(rs.spec);
    const wanted = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const pods = this.store
      .peekList('pods', namespace)
      .filter((p) => controllerOf(p)?.uid === rs.metadata.uid && !p.metadata.deletionTimestamp);
    const template = asObj(spec.template);
    const templateMeta = asObj(template.metadata);
    for (let i = pods.length; i < wanted; i++) {
      let podName = `${name}-${randomSuffix(5)}`;
      while (this.store.peek('pods', namespace, podName)) podName = `${name}-${randomSuffix(5)}`;
      const podSpec = structuredClone(asObj(template.spec));
      const pod: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: podName,
          generateName: `${name}-`,
          namespace,
          labels: structuredClone(templateMeta.labels as Record<string, string> | undefined) ?? {},
          ownerReferences: [ownerRef('apps/v1', 'ReplicaSet', rs)],
        },
        spec: podSpec,
      };
      if (templateMeta.annotations)
        pod.metadata.annotations = structuredClone(templateMeta.annotations as Record<string, string>);
      this.createPod(pod);
    }
    if (pods.length > wanted) {
      // Newest first, like the real controller's ranking of equally ready pods.
      const extra = [...pods].sort(
        (a, b) =>
          String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)) ||
          (a.metadata.name < b.metadata.name ? 1 : -1),
      );
      for (const p of extra.slice(0, pods.length - wanted))
        this.store.delete('pods', namespace, p.metadata.name);
    }
    this.updateReplicaSetStatus(namespace, name);
  }

  /** Set by the simulator: creates a pod through the same admission path as the API. */
  createPod: (pod: KubeObject) => void = (pod) => {
    this.store.create('pods', pod);
  };

  private updateReplicaSetStatus(namespace: string, name: string): void {
    const rs = this.store.get('replicasets', namespace, name);
    if (!rs) return;
    const pods = this.store
      .peekList('pods', namespace)
      .filter((p) => controllerOf(p)?.uid === rs.metadata.uid);
    const ready = pods.filter((p) => asObj(p.status).phase === 'Running').length;
    const status: Obj = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation,
    };
    if (pods.length === 0) {
      delete status.fullyLabeledReplicas;
    }
    if (ready === 0) {
      delete status.readyReplicas;
      delete status.availableReplicas;
    }
    if (JSON.stringify(status) === JSON.stringify(rs.status)) return;
    rs.status = status;
    this.store.update('replicasets', rs);
  }

  // ---- scheduler + kubelet ----

  private nextPodIp(): string {
    const n = this.podIpCounter++;
    return `127.${this.podIpBase}.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`;
  }

  private runPod(namespace: string, name: string): void {
    const pod = this.store.get('pods', namespace, name);
    if (!pod || asObj(pod.spec).nodeName || pod.metadata.deletionTimestamp) return;
    const spec = asObj(pod.spec);
    spec.nodeName = NODE_NAME;
    const now = nowTimestamp();
    const podIP = this.nextPodIp();
    const containerStatus = (c: Obj): Obj => {
      const image = typeof c.image === 'string' ? c.image : '';
      const fullImage = image.includes('/')
        ? image.split('/')[0].includes('.')
          ? image
          : `docker.io/${image}`
        : `docker.io/library/${image}`;
      return {
        name: c.name,
        ready: true,
        restartCount: 0,
        started: true,
        state: { running: { startedAt: now } },
        lastState: {},
        image: fullImage.includes(':') || fullImage.includes('@') ? fullImage : `${fullImage}:latest`,
        imageID: `${fullImage.split(':')[0]}@sha256:${createHash('sha256').update(image).digest('hex')}`,
        containerID: `containerd://${createHash('sha256')
          .update(`${namespace}/${name}/${String(c.name)}/${String(pod.metadata.uid)}`)
          .digest('hex')}`,
        volumeMounts: asList(c.volumeMounts).map((m) => ({
          name: m.name,
          mountPath: m.mountPath,
          readOnly: m.readOnly,
          recursiveReadOnly: m.readOnly ? 'Disabled' : undefined,
        })),
      };
    };
    pod.status = {
      phase: 'Running',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: now },
        { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: now },
        { type: 'ContainersReady', status: 'True', lastProbeTime: null, lastTransitionTime: now },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      ],
      hostIP: NODE_IP,
      hostIPs: [{ ip: NODE_IP }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: now,
      containerStatuses: asList(spec.containers).map(containerStatus),
      qosClass: asObj(pod.status).qosClass ?? 'BestEffort',
    };
    this.store.update('pods', pod);
    this.recordEvent(
      pod,
      'Normal',
      'Scheduled',
      `Successfully assigned ${namespace}/${name} to ${NODE_NAME}`,
      { component: 'default-scheduler' },
      '',
    );
    for (const c of asList(spec.containers)) {
      const fieldPath = `spec.containers{${String(c.name)}}`;
      const source = { component: 'kubelet', host: NODE_NAME };
      this.recordEvent(
        pod,
        'Normal',
        'Pulled',
        `Container image "${String(c.image)}" already present on machine`,
        source,
        fieldPath,
      );
      this.recordEvent(pod, 'Normal', 'Created', `Created container ${String(c.name)}`, source, fieldPath);
      this.recordEvent(pod, 'Normal', 'Started', `Started container ${String(c.name)}`, source, fieldPath);
    }
  }

  private recordEvent(
    obj: KubeObject,
    type: string,
    reason: string,
    message: string,
    source: { component: string; host?: string },
    fieldPath: string,
  ): void {
    const now = nowTimestamp();
    const involvedObject: Obj = {
      kind: obj.kind ?? 'Pod',
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      uid: obj.metadata.uid,
      apiVersion: obj.apiVersion ?? 'v1',
      resourceVersion: obj.metadata.resourceVersion,
    };
    if (fieldPath) involvedObject.fieldPath = fieldPath;
    const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomSuffix(4)}`;
    this.store.create('events', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: obj.metadata.namespace },
      involvedObject,
      reason,
      message,
      source,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: source.component,
      reportingInstance: source.host ?? '',
    });
  }

  // ---- endpoints + endpointslices ----

  private syncServicesInNamespace(namespace: string): void {
    for (const svc of this.store.peekList('services', namespace))
      this.syncEndpoints(namespace, svc.metadata.name);
  }

  private syncEndpoints(namespace: string, name: string): void {
    const svc = this.store.peek('services', namespace, name);
    const existingEp = this.store.peek('endpoints', namespace, name);
    const sliceOwned = this.store
      .peekList('endpointslices', namespace)
      .filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === name);
    const selector = asObj(svc?.spec).selector as Record<string, string> | undefined;
    if (!svc || !selector || Object.keys(selector).length === 0) {
      // Services without a selector keep user-managed endpoints; a deleted service's go via GC.
      return;
    }
    const pods = this.store
      .peekList('pods', namespace)
      .filter(
        (p) =>
          matchesObjectSelector({ matchLabels: selector }, p.metadata.labels) &&
          asObj(p.status).podIP &&
          !p.metadata.deletionTimestamp,
      );
    const ready = pods.filter((p) =>
      asList(asObj(p.status).conditions).some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    const resolvePort = (sp: Obj, pod: KubeObject): number | undefined => {
      const target = sp.targetPort ?? sp.port;
      if (typeof target === 'number') return target;
      for (const c of asList(asObj(pod.spec).containers))
        for (const cp of asList(c.ports)) if (cp.name === target) return Number(cp.containerPort);
      return undefined;
    };
    const svcPorts = asList(asObj(svc.spec).ports);
    const addressFor = (p: KubeObject): Obj => ({
      ip: asObj(p.status).podIP,
      nodeName: asObj(p.spec).nodeName,
      targetRef: { kind: 'Pod', namespace, name: p.metadata.name, uid: p.metadata.uid },
    });
    const subsets: Obj[] = [];
    if (pods.length) {
      const epPorts = svcPorts.map((sp) => {
        const port: Obj = {
          port: pods[0] ? resolvePort(sp, pods[0]) : sp.port,
          protocol: sp.protocol ?? 'TCP',
        };
        if (sp.name) port.name = sp.name;
        return port;
      });
      const subset: Obj = {};
      if (ready.length) subset.addresses = ready.map(addressFor);
      const notReady = pods.filter((p) => !ready.includes(p));
      if (notReady.length) subset.notReadyAddresses = notReady.map(addressFor);
      subset.ports = epPorts;
      subsets.push(subset);
    }
    const labels = { ...(svc.metadata.labels ?? {}) };
    const endpoints: KubeObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace, labels, annotations: existingEp?.metadata.annotations ?? {} },
    };
    if (subsets.length) endpoints.subsets = subsets;
    if (!existingEp) {
      if (!endpoints.metadata.annotations || Object.keys(endpoints.metadata.annotations).length === 0)
        delete endpoints.metadata.annotations;
      this.store.create('endpoints', endpoints);
    } else if (
      JSON.stringify(existingEp.subsets) !== JSON.stringify(endpoints.subsets) ||
      JSON.stringify(existingEp.metadata.labels) !== JSON.stringify(labels)
    ) {
      const updated = structuredClone(existingEp);
      updated.metadata.labels = labels;
      if (subsets.length) updated.subsets = subsets;
      else delete updated.subsets;
      this.store.update('endpoints', updated);
    }
    const sliceEndpoints = pods.map((p) => {
      const isReady = ready.includes(p);
      return {
        addresses: [asObj(p.status).podIP],
        conditions: { ready: isReady, serving: isReady, terminating: false },
        nodeName: asObj(p.spec).nodeName,
        targetRef: { kind: 'Pod', namespace, name: p.metadata.name, uid: p.metadata.uid },
      };
    });
    const slicePorts = svcPorts.map((sp) => ({
      name: sp.name ?? '',
      port: pods[0] ? resolvePort(sp, pods[0]) : undefined,
      protocol: sp.protocol ?? 'TCP',
    }));
    const slice = sliceOwned[0];
    const sliceLabels = {
      ...labels,
      'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      'kubernetes.io/service-name': name,
    };
    if (!slice) {
      this.store.create('endpointslices', {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${name}-${randomSuffix(5)}`,
          generateName: `${name}-`,
          namespace,
          labels: sliceLabels,
          annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': nowTimestamp() },
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'Service',
              name,
              uid: String(svc.metadata.uid),
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        addressType: 'IPv4',
        endpoints: sliceEndpoints,
        ports: slicePorts,
      });
    } else if (
      JSON.stringify(slice.endpoints) !== JSON.stringify(sliceEndpoints) ||
      JSON.stringify(slice.ports) !== JSON.stringify(slicePorts)
    ) {
      const updated = structuredClone(slice);
      updated.endpoints = sliceEndpoints;
      updated.ports = slicePorts;
      this.store.update('endpointslices', updated);
    }
  }

  // ---- service-account token secrets ----

  private fillTokenSecret(namespace: string, name: string): void {
    const secret = this.store.get('secrets', namespace, name);
    if (!secret) return;
    const saName = secret.metadata.annotations?.['kubernetes.io/service-account.name'];
    const sa = saName ? this.store.peek('serviceaccounts', namespace, saName) : undefined;
    if (!sa) return;
    const token = this.tokens.issueLegacy(namespace, sa.metadata.name, String(sa.metadata.uid), name);
    secret.metadata.annotations = {
      ...(secret.metadata.annotations ?? {}),
      'kubernetes.io/service-account.uid': String(sa.metadata.uid),
    };
    secret.data = {
      ...asObj(secret.data),
      'ca.crt': Buffer.from(this.caPem).toString('base64'),
      namespace: Buffer.from(namespace).toString('base64'),
      token: Buffer.from(token).toString('base64'),
    };
    this.store.update('secrets', secret);
  }
}
