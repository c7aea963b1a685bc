// The bench's optional tools, installed at start when missing: wrk (the HTTP load generator; else
// autocannon in-process), h2load (the HTTP/2 and fixed-rate load generator, package
// nghttp2-client; else those loads are skipped), nginx (an anchor; else skipped) and iperf3 (the
// tunnels module's traffic source and sink; else its throughput lines are skipped). Only as root with apt-get (Debian,
// Ubuntu), never with `--no-install`; a failure is logged and the bench goes on without the tool.
// apt's output goes to stderr, so stdout stays JSON lines.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findIperf3 } from './iperf3';
import { findH2load, findWrk } from './load';
import { findNginx } from './nginx';

const APT_TIMEOUT_MS = 5 * 60_000;

/** Debian's hook that invoke-rc.d (and deb-systemd-invoke) ask before starting a service; 101 = no. */
const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const POLICY_MARKER = '# written by kgw bench/support/prerequisites.ts';

export interface WantedTools {
  wrk: boolean;
  nginx: boolean;
  h2load: boolean;
  iperf3: boolean;
}

/** The packages of the missing tools: wrk (unless autocannon was asked for), nghttp2-client, nginx-light, iperf3. */
export function missingPackages(options: WantedTools): string[] {
  const packages: string[] = [];
  if (options.wrk && !findWrk()) packages.push('wrk');
  if (options.h2load && !findH2load()) packages.push('nghttp2-client');
  if (options.nginx && !findNginx()) packages.push('nginx-light');
  if (options.iperf3 && !findIperf3()) packages.push('iperf3');
  return packages;
}

function onPath(command: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(':')
    .filter(Boolean)
    .concat(['/usr/bin', '/usr/sbin', '/bin', '/sbin'])
    .map((dir) => join(dir, command))
    .find((path) => existsSync(path));
}

/** Runs a command with its output on our stderr (prefixed); resolves with exit code and output tail. */
function run(
  log: (message: string) => void,
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    let partial = '';
    const onData = (chunk: string): void => {
      tail = (tail + chunk).slice(-4000);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) process.stderr.write(`bench:   ${line}\n`);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    const timer = setTimeout(() => {
      log(`${command} ${args.join(' ')}: no result within ${timeoutMs / 1000} s, stopping it`);
      child.kill('SIGTERM');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, tail: err.message });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (partial.trim()) process.stderr.write(`bench:   ${partial}\n`);
      resolve({ code, tail });
    });
  });
}

/** The pid in nginx's system pid file if that process is alive (a system nginx service). */
function systemNginxPid(): number | undefined {
  try {
    const pid = Number(readFileSync('/run/nginx.pid', 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('nginx') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Installs the missing tools with apt-get when we may (root, apt-get present). Never throws:
 * whatever fails is logged, and the bench continues with what it has.
 */
export async function installPrerequisites(
  options: WantedTools,
  log: (message: string) => void,
): Promise<void> {
  const packages = missingPackages(options);
  if (packages.length === 0) return;
  const without: string[] = [];
  if (packages.includes('wrk')) without.push('without wrk the load generator is autocannon');
  if (packages.includes('nghttp2-client'))
    without.push('without h2load the HTTP/2 client and fixed-rate loads are skipped');
  if (packages.includes('nginx-light')) without.push('without nginx its anchor is skipped');
  if (packages.includes('iperf3')) without.push("without iperf3 the tunnels module's throughput is skipped");
  const what = `${packages.join(' ')} (${without.join('; ')})`;
  const aptGet = onPath('apt-get');
  if (process.getuid?.() !== 0 || !aptGet) {
    log(
      `missing ${what}; not installing (${!aptGet ? 'no apt-get' : 'not root'}): run apt-get install -y ${packages.join(' ')}`,
    );
    return;
  }
  log(`installing ${what} with apt-get (skip with --no-install)`);
  // No system nginx service should be started by the install: the bench runs its own nginx, on
  // a free port, and a service would listen on :80 and stay. Docker images ship a policy-rc.d
  // that refuses every start; elsewhere one is put in place for the install and removed after.
  let ownPolicy = false;
  if (packages.includes('nginx-light') && !existsSync(POLICY_RC_D)) {
    try {
      writeFileSync(
        POLICY_RC_D,
        `#!/bin/sh\n${POLICY_MARKER}: no service starts during the install\nexit 101\n`,
        {
          mode: 0o755,
        },
      );
      ownPolicy = true;
    } catch (err) {
      log(
        `could not write ${POLICY_RC_D} (${(err as Error).message}); the install may start an nginx service`,
      );
    }
  }
  const nginxBefore = systemNginxPid();
  const started = Date.now();
  try {
    const install = (): Promise<{ code: number | null; tail: string }> =>
      run(log, aptGet, ['install', '-y', '-q', '-o', 'DPkg::Lock::Timeout=120', ...packages], APT_TIMEOUT_MS);
    let result = await install();
    if (result.code !== 0 && /Unable to locate package|has no installation candidate/.test(result.tail)) {
      log('apt-get does not know the packages: apt-get update, then once more');
      const update = await run(log, aptGet, ['update', '-q'], APT_TIMEOUT_MS);
      if (update.code === 0) result = await install();
    }
    if (result.code === 0)
      log(`installed ${packages.join(' ')} in ${Math.round((Date.now() - started) / 1000)} s`);
    else log(`apt-get install ${packages.join(' ')} failed (exit ${result.code}); going on without them`);
  } finally {
    if (ownPolicy) {
      try {
        if (readFileSync(POLICY_RC_D, 'utf8').includes(POLICY_MARKER)) rmSync(POLICY_RC_D);
      } catch {
        // already gone
      }
    }
  }
  if (packages.includes('nginx-light')) {
    const pid = systemNginxPid();
    if (pid !== undefined && pid !== nginxBefore) {
      // Started by the package's postinst despite the above: it is ours, stop it.
      log(`the install started an nginx service (pid ${pid}); stopping it`);
      const nginx = findNginx();
      if (nginx) await run(log, nginx, ['-s', 'quit'], 30_000);
    }
  }
  const finders: Record<string, () => string | undefined> = {
    wrk: findWrk,
    'nghttp2-client': findH2load,
    'nginx-light': findNginx,
    iperf3: findIperf3,
  };
  for (const pkg of packages) {
    const found = finders[pkg]?.();
    if (!found) log(`${pkg} is still not installed`);
  }
}
