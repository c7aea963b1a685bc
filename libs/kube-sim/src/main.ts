// `npm run sim`: the simulator on its own, with kubeconfigs for the admin and each demo user in .kgw/sim/.
// Pods are backed like the demo's (streams/): logs, exec, attach, port-forward and pod proxy work.
import 'reflect-metadata';
import { join } from 'node:path';
import { startSimulator } from './simulator';
import { PodStreams } from './streams';

async function main(): Promise<void> {
  const port = Number(process.env.KUBE_SIM_PORT ?? '6443');
  const host = process.env.KUBE_SIM_HOST ?? '127.0.0.1';
  const dir = process.env.KUBE_SIM_DIR ?? join(process.cwd(), '.kgw', 'sim');
  const sim = await startSimulator({
    port,
    host,
    scenario: 'demo',
    streams: (options) => new PodStreams(options),
  });
  const files = await sim.writeKubeconfigs(dir);
  process.stdout.write(`kube-sim listening on ${sim.url}\n`);
  for (const [user, path] of Object.entries(files))
    process.stdout.write(`  ${user.padEnd(6)} KUBECONFIG=${path}\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`kube-sim: ${signal}, stopping\n`);
    sim.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`kube-sim: stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`kube-sim: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
