// The cluster simulator for the bench, in its own process (`node dist/bench/servers/sim.js <dir>`):
// the demo scenario with pod streams, plus what the bench needs on top:
//   - namespace `bench` with 50 running pods (the list scenario),
//   - pod `bench/pf` with a `sink` port (9), an `echo` port (7) and an `iperf3` port (5201) that
//     the sim hands over to the bench's iperf3 server (the tunnels module starts it there),
//   - user `bench` (the gateway's caller in the bench) bound to cluster-admin, so every request
//     the bench makes is allowed and the SubjectAccessReview answers `allowed`.
// Prints one JSON line when ready: the URL, the kubeconfigs it wrote, and the loopback addresses
// behind bench/pf's ports (the "raw" anchors talk to those same listeners directly).
import { join } from 'node:path';
import { PodStreams, startSimulator, type KubeObject } from '@kgw/kube-sim';
import {
  BENCH_NAMESPACE,
  BENCH_USER,
  benchPod,
  IPERF3_PORT,
  LIST_POD_COUNT,
  PORT_FORWARD_POD,
} from '../support/fixtures';

/** Only what a client would send: metadata name/namespace/labels and the spec. */
function asCreated(pod: Record<string, unknown>): KubeObject {
  const metadata = pod.metadata as Record<string, unknown>;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels },
    spec: pod.spec,
  } as KubeObject;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: sim.js <dir>');
  let streams: PodStreams | undefined;
  const sim = await startSimulator({
    scenario: 'demo',
    streams: (options) => (streams = new PodStreams(options)),
  });
  try {
    sim.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: BENCH_NAMESPACE } });
    for (let i = 0; i < LIST_POD_COUNT; i++) {
      const pod = benchPod(BENCH_NAMESPACE, `web-${String(i).padStart(2, '0')}`, i);
      // 50 pods, not 50 listeners: the list is about the object bytes, not about the backends.
      ((pod.spec as { containers: Array<{ ports?: unknown }> }).containers[0] ?? {}).ports = undefined;
      sim.apply(asCreated(pod));
    }
    sim.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: PORT_FORWARD_POD, namespace: BENCH_NAMESPACE, labels: { app: 'pf' } },
      spec: {
        containers: [
          {
            name: 'pf',
            image: 'busybox:1.36',
            ports: [
              { name: 'sink', containerPort: 9, protocol: 'TCP' },
              { name: 'echo', containerPort: 7, protocol: 'TCP' },
              { name: 'iperf3', containerPort: IPERF3_PORT, protocol: 'TCP' },
            ],
          },
        ],
      },
    });
    sim.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'bench:cluster-admin' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: BENCH_USER }],
    });
    await sim.settled();
    if (!streams) throw new Error('the simulator did not build its pod streams');
    let runtime = await streams.runtimes.get(BENCH_NAMESPACE, PORT_FORWARD_POD);
    for (let tries = 0; !runtime && tries < 50; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      await sim.settled();
      runtime = await streams.runtimes.get(BENCH_NAMESPACE, PORT_FORWARD_POD);
    }
    const sink = runtime?.backendFor(9);
    const echo = runtime?.backendFor(7);
    // The pod's iperf3 port is served by the bench's iperf3 server (a sidecar, in effect).
    const iperf3 = await runtime?.handOver(IPERF3_PORT);
    if (!sink || !echo || !iperf3)
      throw new Error(`pod ${BENCH_NAMESPACE}/${PORT_FORWARD_POD} is missing a listener`);

    const kubeconfigs = await sim.writeKubeconfigs(join(dir, 'sim'));
    process.stdout.write(
      `${JSON.stringify({
        url: sim.url,
        caPem: sim.caPem,
        adminKubeconfig: kubeconfigs.admin,
        gatewayKubeconfig: kubeconfigs.kgw,
        sinkHost: sink.host,
        sinkPort: sink.port,
        echoHost: echo.host,
        echoPort: echo.port,
        iperf3Host: iperf3.host,
        iperf3Port: iperf3.port,
      })}\n`,
    );
  } catch (err) {
    await sim.stop();
    throw err;
  }
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.resume();
  process.stdin.on('end', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
