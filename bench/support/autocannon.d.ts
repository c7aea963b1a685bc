// The part of autocannon's programmatic API the bench uses (the package ships no types and
// @types/autocannon is not a dependency). See node_modules/autocannon/README.md.
declare module 'autocannon' {
  import type { ConnectionOptions } from 'node:tls';

  function autocannon(
    options: autocannon.AutocannonOptions,
    done: (err: Error | null, result: autocannon.AutocannonResult) => void,
  ): autocannon.Instance;

  namespace autocannon {
    interface AutocannonOptions {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      pipelining?: number;
      /** Seconds before a request counts as timed out. */
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      tlsOptions?: ConnectionOptions;
      servername?: string;
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      p50: number;
      p90: number;
      p99: number;
      p99_9?: number;
      total?: number;
    }

    interface AutocannonResult {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      resets: number;
      '2xx': number;
      statusCodeStats: Record<string, { count: number }>;
      latency: Histogram;
      requests: Histogram & { sent: number };
      throughput: Histogram;
    }

    interface Instance extends NodeJS.EventEmitter {
      stop(): void;
    }
  }

  export = autocannon;
}
