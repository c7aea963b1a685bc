// Metrics of a multi-process gateway (KGW_HTTP_WORKERS > 1): a scrape reaches one worker, yet
// must count every worker's requests. The worker asks the primary, the primary gathers each
// worker's registry (prom-client's AggregatorRegistry: counters and histograms summed, gauges
// summed, process metrics as prom-client aggregates them) and answers with the text.
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

type MetricsRequest = { kgw: 'metrics-request'; id: number };
type MetricsAnswer = { kgw: 'metrics-answer'; id: number; text?: string; error?: string };

/** How long a worker waits for the primary's sum (prom-client's own per-worker wait is 5 s). */
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * This process's metrics as a scrape should see them: its own registry, or in a worker the sum
 * over all workers, which the primary gathers (servePrimaryMetrics must run there).
 */
export function metricsReader(registry: Registry): () => Promise<string> {
  if (!cluster.isWorker) return () => registry.metrics();
  // Lets the primary's AggregatorRegistry read this registry (its listener is installed by
  // constructing one, in a worker as in the primary).
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  let next = 0;
  const waiting = new Map<number, (answer: MetricsAnswer) => void>();
  process.on('message', (message: MetricsAnswer) => {
    if (message?.kgw !== 'metrics-answer') return;
    waiting.get(message.id)?.(message);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error("the primary process did not answer with the workers' metrics"));
      }, ANSWER_TIMEOUT_MS);
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        waiting.delete(id);
        if (answer.text !== undefined) resolve(answer.text);
        else reject(new Error(answer.error ?? 'no metrics'));
      });
      const request: MetricsRequest = { kgw: 'metrics-request', id };
      process.send?.(request);
    });
}

/** In the primary: answers workers' requests; returns the reader for the primary's own listener. */
export function servePrimaryMetrics(): () => Promise<string> {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: MetricsRequest) => {
    if (message?.kgw !== 'metrics-request') return;
    const reply = (answer: MetricsAnswer): void => {
      if (worker.isConnected()) worker.send(answer);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ kgw: 'metrics-answer', id: message.id, text }),
      (err: unknown) =>
        reply({
          kgw: 'metrics-answer',
          id: message.id,
          error: err instanceof Error ? err.message : String(err),
        }),
    );
  });
  return () => aggregator.clusterMetrics();
}
