// The ceiling for any tunnel through two Node.js processes with TLS between them, which is what
// `kgw forward` is (the CLI and the gateway): a `near` process accepts local TCP connections and
// pipes each over its own TLS connection to a `far` process, which pipes it on to the target.
// No WebSocket, no framing, no multiplexing, no flow control, no authentication, no audit:
// `kgw-direct` divided by this is how much of what Node's sockets and TLS allow kgw's tunnel
// gets on the machine it runs on.
//
// `node tls-pipe.js far <cert file> <key file> <target host> <target port>...` prints
//   {"ports":[…]} (one TLS port per target, in order) when listening;
// `node tls-pipe.js near <ca file> <far port>...` prints {"ports":[…]} (one local port each).
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

function join(a: net.Socket, b: net.Socket): void {
  // Half-close passes through (iperf3's end of test), an error on either side ends both.
  a.pipe(b);
  b.pipe(a);
  const destroy = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', destroy);
  b.on('error', destroy);
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function main(): Promise<void> {
  const [role, ...args] = process.argv.slice(2);
  let ports: number[];
  if (role === 'far') {
    const [certFile, keyFile, host, ...targets] = args;
    if (!certFile || !keyFile || !host || targets.length === 0)
      throw new Error('usage: tls-pipe.js far <cert> <key> <host> <port>...');
    const options = { cert: readFileSync(certFile), key: readFileSync(keyFile), allowHalfOpen: true };
    ports = await Promise.all(
      targets.map((port) =>
        listen(
          tls.createServer(options, (socket) =>
            join(socket, net.connect({ host, port: Number(port), allowHalfOpen: true })),
          ),
        ),
      ),
    );
  } else if (role === 'near') {
    const [caFile, ...farPorts] = args;
    if (!caFile || farPorts.length === 0) throw new Error('usage: tls-pipe.js near <ca> <far port>...');
    const ca = readFileSync(caFile);
    ports = await Promise.all(
      farPorts.map((port) =>
        listen(
          net.createServer({ allowHalfOpen: true }, (socket) =>
            join(socket, tls.connect({ host: '127.0.0.1', port: Number(port), ca })),
          ),
        ),
      ),
    );
  } else {
    throw new Error('usage: tls-pipe.js far|near ...');
  }
  process.stdout.write(`${JSON.stringify({ ports })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`tls-pipe: ${(err as Error).message}\n`);
  process.exit(1);
});
