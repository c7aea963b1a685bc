// Typed, defensive reads of the pod/service/endpoints fields the streams module needs. Store
// objects are plain JSON written by users, so every field is optional until checked.
import type { KubeObject } from '../contract';

export interface ContainerPortSpec {
  containerPort: number;
  name?: string;
  protocol: string;
}

export interface EnvVarSpec {
  name: string;
  value?: string;
  fieldPath?: string;
}

export interface ContainerSpec {
  name: string;
  image: string;
  ports: ContainerPortSpec[];
  env: EnvVarSpec[];
  tty: boolean;
  stdin: boolean;
}

export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  phase: string;
  podIP: string;
  nodeName: string;
  serviceAccountName: string;
  labels: Record<string, string>;
  containers: ContainerSpec[];
  restartCounts: Record<string, number>;
  object: KubeObject;
}

export interface ServicePortSpec {
  name: string;
  port: number;
  protocol: string;
  targetPort: number | string | undefined;
}

export interface ServiceView {
  namespace: string;
  name: string;
  type: string;
  selector: Record<string, string> | undefined;
  ports: ServicePortSpec[];
}

export interface EndpointAddress {
  ip: string;
  podName?: string;
}

export interface EndpointSubset {
  addresses: EndpointAddress[];
  ports: Array<{ name: string; port: number }>;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, entry] of Object.entries(record(value))) if (typeof entry === 'string') out[key] = entry;
  return out;
}

export function readPod(object: KubeObject): PodView {
  const spec = record(object.spec);
  const status = record(object.status);
  const containers = array(spec.containers).map((raw): ContainerSpec => {
    const container = record(raw);
    return {
      name: text(container.name),
      image: text(container.image),
      tty: container.tty === true,
      stdin: container.stdin === true,
      ports: array(container.ports)
        .map((port) => record(port))
        .filter((port) => typeof port.containerPort === 'number')
        .map((port) => ({
          containerPort: port.containerPort as number,
          name: typeof port.name === 'string' ? port.name : undefined,
          protocol: text(port.protocol, 'TCP'),
        })),
      env: array(container.env).map((entry) => {
        const env = record(entry);
        const fieldRef = record(record(env.valueFrom).fieldRef);
        return {
          name: text(env.name),
          value: typeof env.value === 'string' ? env.value : undefined,
          fieldPath: typeof fieldRef.fieldPath === 'string' ? fieldRef.fieldPath : undefined,
        };
      }),
    };
  });
  const restartCounts: Record<string, number> = {};
  for (const raw of array(status.containerStatuses)) {
    const containerStatus = record(raw);
    if (typeof containerStatus.name === 'string') {
      restartCounts[containerStatus.name] =
        typeof containerStatus.restartCount === 'number' ? containerStatus.restartCount : 0;
    }
  }
  return {
    namespace: object.metadata.namespace ?? 'default',
    name: object.metadata.name,
    uid: object.metadata.uid ?? `${object.metadata.namespace ?? 'default'}/${object.metadata.name}`,
    phase: text(status.phase, 'Pending'),
    podIP: text(status.podIP),
    nodeName: text(spec.nodeName),
    serviceAccountName: text(spec.serviceAccountName, 'default'),
    labels: object.metadata.labels ?? {},
    containers,
    restartCounts,
    object,
  };
}

export function readService(object: KubeObject): ServiceView {
  const spec = record(object.spec);
  return {
    namespace: object.metadata.namespace ?? 'default',
    name: object.metadata.name,
    type: text(spec.type, 'ClusterIP'),
    selector: spec.selector === undefined ? undefined : stringMap(spec.selector),
    ports: array(spec.ports).map((raw) => {
      const port = record(raw);
      const target = port.targetPort;
      return {
        name: text(port.name),
        port: typeof port.port === 'number' ? port.port : 0,
        protocol: text(port.protocol, 'TCP'),
        targetPort: typeof target === 'number' || typeof target === 'string' ? target : undefined,
      };
    }),
  };
}

export function readEndpointSubsets(object: KubeObject): EndpointSubset[] {
  return array(object.subsets).map((raw) => {
    const subset = record(raw);
    return {
      addresses: array(subset.addresses).map((entry) => {
        const address = record(entry);
        const targetRef = record(address.targetRef);
        return {
          ip: text(address.ip),
          podName:
            targetRef.kind === 'Pod' && typeof targetRef.name === 'string' ? targetRef.name : undefined,
        };
      }),
      ports: array(subset.ports).map((entry) => {
        const port = record(entry);
        return { name: text(port.name), port: typeof port.port === 'number' ? port.port : 0 };
      }),
    };
  });
}

export function selectorMatches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((key) => labels[key] === selector[key]);
}

/** The container a request names, with the API server's wording when it cannot pick one. */
export function pickContainer(pod: PodView, requested: string | null | undefined): ContainerSpec {
  if (requested) {
    const found = pod.containers.find((container) => container.name === requested);
    if (!found) throw new ContainerChoiceError(`container ${requested} is not valid for pod ${pod.name}`);
    return found;
  }
  if (pod.containers.length === 1) return pod.containers[0];
  if (pod.containers.length === 0)
    throw new ContainerChoiceError(`pod ${pod.name} does not have any containers`);
  const names = pod.containers.map((container) => container.name).join(' ');
  throw new ContainerChoiceError(
    `a container name must be specified for pod ${pod.name}, choose one of: [${names}]`,
  );
}

export class ContainerChoiceError extends Error {}
