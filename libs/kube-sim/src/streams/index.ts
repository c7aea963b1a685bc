// The streams half of the Kubernetes API simulator: pod backends, logs, exec/attach,
// port-forward and pod/service proxy. The core hands requests here through PodStreamsHandler.
export { PodStreams } from './pod-streams';
export type { StreamOpened, StreamWire } from './pod-streams';
export { backendKindFor, NGINX_WELCOME_PAGE } from './pod-backends';
export type { BackendKind, PortBackend, PodRuntime, PodRuntimeRegistry } from './pod-backends';
