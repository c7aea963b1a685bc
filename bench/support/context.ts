// What a bench scenario module gets: options, a scratch directory, the process group, a logger
// for humans (stderr), and shared resources (the simulator, Postgres, gateways, kubectl proxies)
// that are started on first use by whichever scenario needs them and stopped once at the end.
import type { ProcessGroup } from './processes';

/** One JSON line on stdout. `bench` names the module that produced it. */
export interface BenchLine {
  bench: string;
  [field: string]: string | number | boolean | null | undefined;
}

export interface BenchOptions {
  /** Concurrent connections of the HTTP load (wrk or autocannon). */
  connections: number;
  /** Measured seconds per HTTP load run. */
  durationSec: number;
  /** Unmeasured seconds before each run (JIT, connection pools, SAR cache). */
  warmupSec: number;
  /**
   * `--kgw-workers`: KGW_HTTP_WORKERS of the kgw-http and kgw-https targets (0 = one per CPU, as
   * an operator would deploy it on this machine). kgw-http-single always runs one process.
   */
  kgwWorkers: number;
  /** `--rounds`: interleaved runs per target in modules that repeat to measure noise (audit-overhead). */
  rounds: number;
  /** Parallel connections of the tunnels module's second throughput shape (the first is 1). */
  forwardParallelStreams: number;
  /** `--tunnels`: idle tunnels the tunnels module holds open to measure gateway memory per tunnel. */
  idleTunnels: number;
  /** New connections, one after another, whose time to first byte the tunnels module measures per path. */
  firstByteConnections: number;
  /** `--watches`: concurrent watches in the watch-scale module (per transport). */
  watches: number;
  /** `--watch-events`: events the upstream writes to every watch once all are open. */
  watchEvents: number;
  /** `--load-generator`: wrk (default when installed) or autocannon; `runLoad` uses it already (h2load is per load). */
  loadGenerator?: 'wrk' | 'autocannon';
  /**
   * `--filter <regex>`: modules run only the measurements whose id matches (the proxy bench's id
   * is `<upstream>/<scenario>/<target>`, e.g. `fixed/get-pod/kgw-http`). For quick iterations.
   */
  filter?: RegExp;
}

export interface Resource<T> {
  value: T;
  stop(): Promise<void>;
}

export interface BenchContext {
  /** The repository root (where package.json is). */
  readonly root: string;
  /** A temporary directory for this run, removed at the end. */
  readonly workDir: string;
  readonly options: BenchOptions;
  readonly processes: ProcessGroup;
  /** Progress for humans, on stderr (stdout is only JSON lines). */
  log(message: string): void;
  /** Every line emitted so far in this run (later modules read earlier ones: fixed-rate, targets). */
  readonly results: readonly BenchLine[];
  /** Starts a resource on first use (keyed), returns the same one afterwards; stopped at the end. */
  shared<T>(key: string, start: () => Promise<Resource<T>>): Promise<T>;
}

/** A bench module: a name and an async sequence of JSON lines. See docs/bench.md to add one. */
export interface BenchScenario {
  readonly name: string;
  readonly description: string;
  /** Off unless asked for by name (`npm run bench -- --only <name>`), e.g. the profiler run. */
  readonly optIn?: boolean;
  run(ctx: BenchContext): AsyncIterable<BenchLine>;
}
