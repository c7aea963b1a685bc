// The gateway's port is checked before anything with a side effect starts (embedded Postgres, the
// demo simulator, the OpenID provider, demo files): a second gateway on a busy port must fail at
// once, naming the setting that moves it, not after it has started half a demo.
import { createServer } from 'node:net';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(host: string, port: number, demo = false) {
    const next = port === 65535 ? 8081 : port + 1;
    super(
      `port ${port} on ${host} is already in use (another kgw gateway or demo?). ` +
        `Stop that process, or set KGW_HTTP_PORT to a free port (0 picks one)` +
        (demo
          ? `; a second demo beside a running one also needs its own database and demo files: ` +
            `KGW_HTTP_PORT=${next} KGW_DB_DATA_DIR=.kgw/pg-2 KGW_DEMO_DIR=.kgw/demo-2 npm start`
          : `, e.g. KGW_HTTP_PORT=${next}`),
    );
  }
}

/** A listen error, with "address in use" turned into a PortInUseError that names the setting. */
export function explainListenError(err: Error, host: string, port: number, demo = false): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EADDRINUSE' ? new PortInUseError(host, port, demo) : err;
}

/**
 * Fails with a PortInUseError when `host:port` cannot be listened on right now. Port 0 always
 * passes (the kernel picks a free one). The probe is closed before returning, so a race with
 * another process remains possible; the real listen reports that case the same way.
 */
export async function ensurePortFree(host: string, port: number, demo = false): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((ok, fail) => {
    const probe = createServer();
    probe.once('error', (err) => fail(explainListenError(err, host, port, demo)));
    // exclusive: in a cluster worker a shared handle would always "succeed"; the probe must not.
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => ok()));
  });
}
