// The objects the proxy bench asks for: one pod (`default/nginx`, the small GET) and a list of 50
// pods in namespace `bench` (the larger answer). The fixed-response upstream serves exactly these;
// the simulator is given the same pods so both upstreams answer with bodies of the same shape.

export const BENCH_NAMESPACE = 'bench';
export const LIST_POD_COUNT = 50;
/** The caller the gateway authenticates in the bench (static token), cluster-admin in the sim. */
export const BENCH_USER = 'bench';
export const BENCH_TOKEN = 'kgw-bench-token-0123456789abcdef';
/** The simulator pod with `sink` (9), `echo` (7) and `iperf3` ports, for the tunnels module. */
export const PORT_FORWARD_POD = 'pf';
/** bench/pf's iperf3 port: the sim hands it to the bench's iperf3 server (iperf3's default port). */
export const IPERF3_PORT = 5201;

/** The paths each proxy scenario requests. */
export const PROXY_PATHS = {
  'get-pod': '/api/v1/namespaces/default/pods/nginx',
  'list-50-pods': `/api/v1/namespaces/${BENCH_NAMESPACE}/pods`,
} as const;

export type ProxyScenarioName = keyof typeof PROXY_PATHS;

/** The fixed upstream's own controls for the watch-scale module (asked directly, never proxied). */
export const WATCH_CONTROL_PATHS = {
  /** GET: `{"watches": open watches, "sessions": open HTTP/2 connections}`. */
  watches: '/bench/watches',
  /** POST ?count=N: N MODIFIED events (resourceVersion 1…N) to every open watch. */
  events: '/bench/events',
} as const;

type Json = Record<string, unknown>;

/** A pod as a real API server returns it (metadata, spec and status, managedFields left out). */
export function benchPod(namespace: string, name: string, index: number): Json {
  const uid = `0b7c1e5a-${String(index).padStart(4, '0')}-4c1e-9a4e-5f0d3b2a1c${String(index % 100).padStart(2, '0')}`;
  const created = '2025-01-01T00:00:00Z';
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion: String(1000 + index),
      creationTimestamp: created,
      labels: { app: name.replace(/-\d+$/, ''), 'pod-template-hash': '5d8f7c9b6d' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': created },
    },
    spec: {
      containers: [
        {
          name: 'nginx',
          image: 'nginx:1.27',
          ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: 'kube-sim-node',
      securityContext: {},
      schedulerName: 'default-scheduler',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: [
        'PodReadyToStartContainers',
        'Initialized',
        'Ready',
        'ContainersReady',
        'PodScheduled',
      ].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: created })),
      hostIP: '10.0.0.10',
      podIP: `10.244.0.${(index % 250) + 2}`,
      podIPs: [{ ip: `10.244.0.${(index % 250) + 2}` }],
      startTime: created,
      containerStatuses: [
        {
          name: 'nginx',
          state: { running: { startedAt: created } },
          lastState: {},
          ready: true,
          restartCount: 0,
          image: 'docker.io/library/nginx:1.27',
          imageID:
            'docker.io/library/nginx@sha256:0a399eb16751829e1af26fea27b20c3ec28d7ab1fb72182879dcae1cca21206a',
          containerID: `containerd://${'c'.repeat(56)}${String(index).padStart(8, '0')}`,
          started: true,
        },
      ],
      qosClass: 'Burstable',
    },
  };
}

export function benchPodList(): Json {
  return {
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '2000' },
    items: Array.from({ length: LIST_POD_COUNT }, (_, i) =>
      benchPod(BENCH_NAMESPACE, `web-${String(i).padStart(2, '0')}`, i),
    ),
  };
}
