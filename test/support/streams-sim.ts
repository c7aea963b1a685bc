// The real simulator (demo scenario) with its pod streams, for the streams e2e tests: kubeconfigs
// for every demo user, and the PodStreams instance so tests can see which wire a stream used.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodStreams, startSimulator, type KubeconfigFiles, type RunningSimulator } from '@kgw/kube-sim';

export interface StreamsSim {
  sim: RunningSimulator;
  streams: PodStreams;
  /** admin, alice, bob, carol, dave, kgw → kubeconfig path. */
  kubeconfigs: KubeconfigFiles;
  dir: string;
  close(): Promise<void>;
}

export async function startStreamsSim(): Promise<StreamsSim> {
  let streams: PodStreams | undefined;
  const sim = await startSimulator({
    scenario: 'demo',
    streams: (options) => (streams = new PodStreams(options)),
  });
  const dir = mkdtempSync(join(tmpdir(), 'kgw-streams-sim-'));
  const kubeconfigs = await sim.writeKubeconfigs(dir);
  return {
    sim,
    streams: streams!,
    kubeconfigs,
    dir,
    async close(): Promise<void> {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The demo deployment's pods (behind svc/my-nginx). */
export function myNginxPods(sim: RunningSimulator): string[] {
  return sim.store
    .list('pods', 'default')
    .filter((pod) => pod.metadata.labels?.app === 'my-nginx')
    .map((pod) => pod.metadata.name);
}
