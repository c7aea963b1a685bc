// The seam between the simulator's API server core (store, REST, auth, RBAC) and its pod
// streams (logs, exec/attach, port-forward, pod/service proxy, and the real listeners that
// back running pods). The core authenticates and authorizes every request, then hands the
// subresources below to the streams module; the streams module reads the store and follows
// its changes to start and stop pod backends.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** A Kubernetes object as JSON (metadata, spec, status...). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: StoreEventType;
  /** Plural resource name, e.g. `pods`, `services`, `endpoints`, `deployments`. */
  resource: string;
  object: KubeObject;
}

/** What the streams module may read from the store (resource = plural name, core or any group). */
export interface SimObjectStore {
  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  /** Called synchronously after every committed change; returns an unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void;
}

/** The authenticated caller, after impersonation. */
export interface SimUserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** A request the core has authenticated and authorized, addressed to a pod or service subresource. */
export interface StreamTarget {
  namespace: string;
  resource: 'pods' | 'services';
  /** The name segment as sent, which for proxy may carry `scheme:` and `:port`. */
  name: string;
  subresource: 'log' | 'exec' | 'attach' | 'portforward' | 'proxy';
  /** For proxy: everything after `/proxy` (may be '' or start with '/'), without the query. */
  proxyPath: string;
  user: SimUserInfo;
}

/** Implemented by libs/kube-sim/src/streams, used by the core's HTTP server. */
export interface PodStreamsHandler {
  start(): Promise<void>;
  stop(): Promise<void>;
  handleRequest(req: IncomingMessage, res: ServerResponse, target: StreamTarget): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: StreamTarget): void;
}

export interface PodStreamsOptions {
  store: SimObjectStore;
  /** Where in-pod clients would reach the API server (KUBERNETES_SERVICE_HOST/PORT). */
  apiServerHost: string;
  apiServerPort: number;
  /** PEM of the simulator's CA, shown at /var/run/secrets/kubernetes.io/serviceaccount/ca.crt. */
  caCertPem: string;
  /** Mints a service-account token for a pod's service account (for the token file). */
  serviceAccountToken(namespace: string, serviceAccount: string): string;
}
