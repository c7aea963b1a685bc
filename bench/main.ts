// `npm run bench`: kgw against its anchors (kubectl proxy, kubectl port-forward, nginx, raw TCP, iperf3)
// in one run, on this machine, printing JSON lines on stdout (progress for humans on stderr).
// Everything it starts listens on 127.0.0.1 and is stopped at the end, on error and on Ctrl-C.
// Not part of `npm test`: numbers depend on the machine, so no test asserts on them.
//
//   npm run bench                         every default module (proxy … watch-scale, then targets)
//   npm run bench -- --only proxy         one module (comma-separated names; `profile` is opt-in)
//   npm run bench -- --quick              short runs, small transfers (a smoke test of the bench)
//   npm run bench -- --connections 64 --duration 10
//   npm run bench -- --only audit-overhead --rounds 7   (interleaved rounds per target)
//   npm run bench -- --only proxy --filter 'fixed/get-pod/(kubectl|kgw-http$)'
//   npm run bench -- --load-generator autocannon   (default: wrk when installed)
//   npm run bench -- --kgw-workers 1       kgw-http/kgw-https as one process (default 0 = per CPU)
//   npm run bench -- --no-install         do not apt-get install missing wrk / nginx / h2load
//   npm run bench -- --only watch-scale --watches 2000 --watch-events 3
//   npm run bench -- --only tunnels --tunnels 500 --filter 'kgw-'
//
// See docs/bench.md for what each line means and how to add a module.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SCENARIOS } from './scenarios';
import type { BenchContext, BenchLine, BenchOptions, Resource } from './support/context';
import { abortLoads, findWrk, loadGenerator, machineTicks, setLoadGenerator } from './support/load';
import { installPrerequisites } from './support/prerequisites';
import { ProcessGroup } from './support/processes';

interface Args {
  only?: string[];
  options: BenchOptions;
  /** `--load-generator`; undefined = wrk when installed, else autocannon. */
  loadGenerator?: 'wrk' | 'autocannon';
  /** `--no-install`: do not apt-get install a missing wrk / nginx / h2load. */
  noInstall: boolean;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const options: BenchOptions = quick
    ? {
        connections: 16,
        durationSec: 1,
        warmupSec: 0.5,
        rounds: 2,
        kgwWorkers: 0,
        forwardParallelStreams: 16,
        idleTunnels: 200,
        firstByteConnections: 50,
        watches: 500,
        watchEvents: 2,
      }
    : {
        connections: 32,
        durationSec: 5,
        warmupSec: 1,
        rounds: 5,
        kgwWorkers: 0,
        forwardParallelStreams: 16,
        idleTunnels: 1000,
        firstByteConnections: 200,
        watches: 10_000,
        watchEvents: 5,
      };
  let only: string[] | undefined;
  let generator: Args['loadGenerator'];
  let noInstall = false;
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return next;
    };
    const positive = (name: string, text: string): number => {
      const n = Number(text);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${text}"`);
      return n;
    };
    switch (argv[i]) {
      case '--quick':
        break;
      case '--only':
        only = value().split(',').filter(Boolean);
        break;
      case '--connections':
        options.connections = Math.round(positive('--connections', value()));
        break;
      case '--duration':
        options.durationSec = positive('--duration', value());
        break;
      case '--rounds': {
        const text = value();
        const n = Number(text);
        if (!Number.isInteger(n) || n < 1)
          throw new Error(`--rounds must be a whole number >= 1, not "${text}"`);
        options.rounds = n;
        break;
      }
      case '--kgw-workers': {
        const text = value();
        const n = Number(text);
        if (!Number.isInteger(n) || n < 0)
          throw new Error(`--kgw-workers must be a whole number >= 0 (0 = one per CPU), not "${text}"`);
        options.kgwWorkers = n;
        break;
      }
      case '--watches':
        options.watches = Math.round(positive('--watches', value()));
        break;
      case '--tunnels':
        options.idleTunnels = Math.round(positive('--tunnels', value()));
        break;
      case '--watch-events':
        options.watchEvents = Math.round(positive('--watch-events', value()));
        break;
      case '--filter':
        options.filter = new RegExp(value());
        break;
      case '--warmup':
        options.warmupSec = Number(value());
        break;
      case '--load-generator': {
        const name = value();
        if (name !== 'wrk' && name !== 'autocannon')
          throw new Error(`--load-generator must be wrk or autocannon, not "${name}"`);
        generator = name;
        break;
      }
      case '--no-install':
        noInstall = true;
        break;
      default:
        throw new Error(`unknown argument ${argv[i]} (see bench/main.ts for the options)`);
    }
  }
  for (const name of only ?? []) {
    if (!SCENARIOS.some((s) => s.name === name))
      throw new Error(`no bench module "${name}" (have: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  }
  return { only, options, loadGenerator: generator, noInstall };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const log = (message: string): void => {
    process.stderr.write(`bench: ${message}\n`);
  };
  // Before anything is started or measured: wrk and nginx when missing (root + apt-get only).
  if (!args.noInstall)
    await installPrerequisites(
      { wrk: args.loadGenerator !== 'autocannon', nginx: true, h2load: true, iperf3: true },
      log,
    );
  // Throws for `--load-generator wrk` without wrk; the default falls back to autocannon.
  setLoadGenerator(args.loadGenerator ?? (findWrk() ? 'wrk' : 'autocannon'));
  args.options.loadGenerator = loadGenerator();
  const root = resolve(__dirname, '..', '..');
  const workDir = mkdtempSync(join(tmpdir(), 'kgw-bench-'));
  // mkdtemp makes a 0700 directory; embedded Postgres runs as another OS user when we are root.
  chmodSync(workDir, 0o755);
  const processes = new ProcessGroup();
  const resources: Array<Resource<unknown>> = [];
  const results: BenchLine[] = [];
  const started = new Map<string, Promise<unknown>>();
  const ctx: BenchContext = {
    root,
    workDir,
    options: args.options,
    processes,
    log,
    results,
    shared<T>(key: string, start: () => Promise<Resource<T>>): Promise<T> {
      let value = started.get(key) as Promise<T> | undefined;
      if (!value) {
        value = start().then((resource) => {
          resources.push(resource);
          return resource.value;
        });
        started.set(key, value);
      }
      return value;
    },
  };

  // One cleanup, however many ask (a signal, then the run's own `finally`): each waits for it to end.
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      log('stopping everything');
      abortLoads();
      for (const resource of resources.reverse()) await resource.stop().catch(() => undefined);
      await processes.stopAll();
      rmSync(workDir, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => processes.killNow());

  const emit = (line: BenchLine): void => {
    results.push(line);
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  // Other work on the machine skews every number: say how busy it was before we started.
  const idleBefore = machineTicks();
  await new Promise((r) => setTimeout(r, 1000));
  const idleAfter = machineTicks();
  const background =
    idleBefore && idleAfter
      ? Math.round(
          ((idleAfter.busy - idleBefore.busy) / Math.max(1, idleAfter.total - idleBefore.total)) *
            100 *
            cpus().length,
        )
      : null;
  if (background !== null && background > 20)
    log(
      `warning: the machine was ${background}% busy (of ${cpus().length * 100}%) before the bench started; numbers will be low`,
    );
  const selected = SCENARIOS.filter((s) => (args.only ? args.only.includes(s.name) : !s.optIn));
  emit({
    bench: 'run',
    started: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? null,
    background_cpu_pct: background,
    modules: selected.map((s) => s.name).join(','),
    load_generator: loadGenerator(),
    connections: args.options.connections,
    duration_s: args.options.durationSec,
    warmup_s: args.options.warmupSec,
    rounds: args.options.rounds,
    kgw_workers: args.options.kgwWorkers,
    filter: args.options.filter?.source,
  });
  const t0 = Date.now();
  let failed = 0;
  try {
    for (const scenario of selected) {
      log(`— ${scenario.name}: ${scenario.description}`);
      try {
        for await (const line of scenario.run(ctx)) emit(line);
      } catch (err) {
        failed++;
        log(`${scenario.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        emit({ bench: scenario.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await cleanup();
  }
  emit({
    bench: 'run',
    finished: new Date().toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
    failed,
  });
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
