// The floor for a Node.js proxy: plain HTTP in, one keep-alive HTTPS pool out, headers copied,
// the bench's credential added, bodies piped. No authentication, authorization, impersonation
// or audit. kgw minus this is what kgw's own work costs; this minus kubectl proxy is what
// Node's HTTP stack costs against Go's on the same machine.
//
// `node dist/bench/servers/minimal-proxy.js <upstream url> <ca file> <token>`; prints one JSON
// line `{"url":…}` when listening.
import { readFileSync } from 'node:fs';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import type { AddressInfo } from 'node:net';

function main(): void {
  const [upstreamText, caFile, token] = process.argv.slice(2);
  if (!upstreamText || !caFile || !token)
    throw new Error('usage: minimal-proxy.js <upstream> <ca file> <token>');
  const upstream = new URL(upstreamText);
  const agent = new Agent({ keepAlive: true, maxSockets: 256, ca: readFileSync(caFile, 'utf8') });
  const authorization = `Bearer ${token}`;
  const server = createServer((req, res) => {
    const headers: OutgoingHttpHeaders = { ...req.headers, authorization };
    delete headers.host;
    delete headers.connection;
    const outgoing = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    outgoing.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(outgoing);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.resume();
  process.stdin.on('end', stop);
}

main();
