// @kgw/kube-sim: an in-process Kubernetes API server simulator (see libs/kube-sim/README.md).
export { startSimulator, ADMIN_USERNAME, SIM_MAX_CONCURRENT_STREAMS } from './simulator';
export type { SimulatorOptions, RunningSimulator, KubeconfigFiles } from './simulator';
export type { RequestLog, RequestLogEntry } from './request-log';
export type { ObjectStore, CommittedEvent } from './store';
export type { ImpersonationHeaders } from './impersonation';
export type { ScenarioUser } from './scenario';
export type {
  KubeObject,
  StoreEvent,
  StoreEventType,
  SimObjectStore,
  SimUserInfo,
  StreamTarget,
  PodStreamsHandler,
  PodStreamsOptions,
} from './contract';
export { resolveRequestInfo } from './request-info';
export type { RequestInfo } from './request-info';
export { createPki, type SimulatorPki, type KeyAndCert } from './certs';
export { PodStreams } from './streams';
