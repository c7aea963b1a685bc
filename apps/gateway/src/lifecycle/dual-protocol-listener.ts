// One port, two protocols: a TLS handshake (first byte 0x16) goes to the HTTPS server, anything
// else to the plain HTTP server. kubectl sends credentials only over HTTPS, while `curl
// http://127.0.0.1:8080/kgw/healthz` and browsers in the demo expect plain HTTP on the same URL.
import { createServer, type Server, type Socket } from 'node:net';

const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing is dropped: the sniffing step must not be a slowloris hold. */
const FIRST_BYTE_TIMEOUT_MS = 30_000;

/** `secure`: the TLS server (HTTP/2 and HTTP/1.1, or HTTPS only); `plain`: the HTTP/1.1 server. */
export function dualProtocolListener(plain: Server, secure: Server): Server {
  const listener = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('readable', () => {
      socket.setTimeout(0);
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        // Closed before sending anything.
        socket.destroy();
        return;
      }
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) secure.emit('connection', socket);
      else plain.emit('connection', socket);
    });
  });
  // An HTTP server only starts its connection bookkeeping (idle tracking for a graceful close,
  // the headers/request timeout sweeps) when it hears 'listening'. These two never listen
  // themselves, so they are told when the shared listener does.
  listener.once('listening', () => {
    plain.emit('listening');
    secure.emit('listening');
  });
  return listener;
}
