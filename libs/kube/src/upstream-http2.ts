// HTTP/2 to the API server: a small pool of sessions over the upstream's TLS material (its CA,
// client certificate, tls-server-name), used when the API server offers h2 by ALPN — as
// kube-apiserver does. Requests multiplex on the first session with a free stream slot (the
// server's SETTINGS_MAX_CONCURRENT_STREAMS, 250 on kube-apiserver by default); a new session is
// opened only when every open one is full, so 10,000 watches take 40 sessions and ordinary
// traffic one. A session that sends GOAWAY or fails leaves the pool at once (its open streams
// finish or fail on their own) and the next request connects afresh.
//
// When the server answers ALPN with http/1.1 (or nothing), the pool says so and the caller uses
// the HTTP/1.1 agent; it asks again after a while, so an API server that gains h2 is picked up.
import * as http2 from 'node:http2';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { installLeanAsyncResourceBind } from './async-resource-bind';

/**
 * Flow-control windows: Go's HTTP/2 transport (kubectl, client-go) uses 4 MiB per stream and
 * 1 GiB per connection. The stream window is credit, not memory: Node stops reading a paused
 * stream, so a slow client holds at most one window of its watch's data in the gateway.
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const SESSION_WINDOW_BYTES = 256 * 1024 * 1024;
/** Node refuses new streams when a session buffers more than this (default 10 MB). */
const MAX_SESSION_MEMORY_MB = 256;
/** How long an "h2 not offered" answer is believed before ALPN is tried again. */
const HTTP1_RECHECK_MS = 5 * 60_000;
/** An idle session (no open stream) is closed after this long; the next request reconnects. */
const IDLE_SESSION_MS = 5 * 60_000;
/** TCP keepalive on every session, so a dead peer under a quiet watch is found. */
const SOCKET_KEEPALIVE_MS = 30_000;
/**
 * A new session must be up (TLS, then the server's SETTINGS) within this long: an API server
 * that accepts connections and then says nothing must not hold every request waiting on it.
 */
const CONNECT_TIMEOUT_MS = 10_000;
/** A session suspected dead (a request got no answer in time) must answer a PING within this. */
const PING_TIMEOUT_MS = 5_000;

export interface Http2Destination {
  /** `https://host:port` — the :authority and :scheme of every request. */
  readonly origin: string;
  /** The TLS options of the upstream (CA, client certificate, servername, identity check). */
  readonly tls: tls.ConnectionOptions;
}

interface PooledSession {
  readonly session: http2.ClientHttp2Session;
  active: number;
  /** GOAWAY received, or the session failed: no new streams. */
  retired: boolean;
}

export class UpstreamHttp2Pool {
  private readonly sessions: PooledSession[] = [];
  private readonly probing = new WeakSet<http2.ClientHttp2Session>();
  private connecting: Promise<void> | undefined;
  private http1Until = 0;
  private closed = false;

  constructor(
    private readonly destination: Http2Destination,
    private readonly now: () => number = Date.now,
  ) {
    // session.request() binds an AsyncResource per request: without its DEP0172 wrapper.
    installLeanAsyncResourceBind();
  }

  /**
   * A session with room for one more stream (the hot path: one is open), `'http/1.1'` when the
   * API server does not offer h2, or — when every open session is full or none is open — a
   * promise that settles once a new session is up (or failed to come up): ask again then. The
   * stream must be opened and tracked in the same tick as a session is returned, so a burst of
   * requests cannot all pick one session past its limit.
   */
  acquire(): http2.ClientHttp2Session | 'http/1.1' | Promise<void> {
    if (this.http1Until > this.now()) return 'http/1.1';
    for (const pooled of this.sessions) {
      if (!pooled.retired && pooled.active < this.streamLimit(pooled)) return pooled.session;
    }
    if (this.closed) return Promise.reject(new Error('the upstream client is closed'));
    // One connection attempt at a time, shared by the requests that arrive meanwhile; a request
    // that still finds no room when it asks again connects again.
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Counts a stream on its session until it closes (the pool's notion of "full"). */
  track(session: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream): void {
    const pooled = this.sessions.find((candidate) => candidate.session === session);
    if (pooled === undefined) return;
    pooled.active++;
    stream.once('close', () => {
      pooled.active--;
      // After a burst (thousands of watches) the extra sessions go as they empty; the first stays.
      if (pooled.active === 0 && this.sessions.indexOf(pooled) > 0) {
        this.retire(pooled);
        session.close();
      }
    });
  }

  /**
   * A request on `session` got no answer in time: the API server may be slow, or the connection
   * half-open (the peer gone without a FIN, a network that drops everything). A PING tells them
   * apart, as client-go's HTTP/2 health check does: no PING ack within PING_TIMEOUT_MS and the
   * session is retired and destroyed (its streams, watches included, fail; their clients retry
   * on a fresh connection); an ack keeps it.
   */
  probe(session: http2.ClientHttp2Session): void {
    if (this.probing.has(session) || session.destroyed) return;
    const pooled = this.sessions.find((candidate) => candidate.session === session);
    this.probing.add(session);
    const dead = (): void => {
      if (pooled) this.retire(pooled);
      session.destroy(new Error('the API server did not answer a PING'));
    };
    const timer = setTimeout(dead, PING_TIMEOUT_MS);
    timer.unref();
    try {
      session.ping((error) => {
        clearTimeout(timer);
        this.probing.delete(session);
        if (error) dead();
      });
    } catch {
      // Too many PINGs in flight, or the session closed meanwhile.
      clearTimeout(timer);
      this.probing.delete(session);
    }
  }

  /** Open sessions and their streams (for tests, metrics and the watch bench). */
  stats(): { sessions: number; streams: number } {
    let streams = 0;
    for (const pooled of this.sessions) streams += pooled.active;
    return { sessions: this.sessions.length, streams };
  }

  close(): void {
    this.closed = true;
    for (const pooled of [...this.sessions]) pooled.session.destroy();
    this.sessions.length = 0;
  }

  private streamLimit(pooled: PooledSession): number {
    return pooled.session.remoteSettings.maxConcurrentStreams ?? 100;
  }

  private connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const url = new URL(this.destination.origin);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const socket = tls.connect({
        ...this.destination.tls,
        host,
        port: Number(url.port || 443),
        // As the HTTP/1.1 agent does: SNI is the host unless that is an IP (RFC 6066).
        servername: this.destination.tls.servername ?? (isIP(host) === 0 ? host : undefined),
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(
        () => fail(new Error(`the API server did not complete a connection within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
      timer.unref();
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        socket.off('error', fail);
        if (socket.alpnProtocol !== 'h2') {
          // An API server without HTTP/2 (--disable-http2-serving, or a proxy in front of it).
          clearTimeout(timer);
          socket.destroy();
          this.http1Until = this.now() + HTTP1_RECHECK_MS;
          resolve();
          return;
        }
        socket.setKeepAlive(true, SOCKET_KEEPALIVE_MS);
        socket.setNoDelay(true);
        const session = http2.connect(this.destination.origin, {
          createConnection: () => socket,
          settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES },
          maxSessionMemory: MAX_SESSION_MEMORY_MB,
        });
        this.adopt(session);
        session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW_BYTES));
        // Ready once the server's SETTINGS are in: before, its stream limit is not known.
        session.once('remoteSettings', () => {
          clearTimeout(timer);
          resolve();
        });
        session.once('error', fail);
        session.once('close', () => fail(new Error('the API server closed the HTTP/2 connection')));
      });
    });
  }

  private adopt(session: http2.ClientHttp2Session): void {
    const pooled: PooledSession = { session, active: 0, retired: false };
    if (this.closed) {
      session.destroy();
      return;
    }
    this.sessions.push(pooled);
    const retire = (): void => this.retire(pooled);
    // GOAWAY: streams the server already accepted go on; new ones go to a fresh session.
    session.on('goaway', retire);
    session.on('close', retire);
    // An error ends the session's streams with it (each stream sees its own error); the pool
    // only has to forget the session. The listener also keeps the error from being unhandled.
    session.on('error', retire);
    session.setTimeout(IDLE_SESSION_MS, () => {
      if (pooled.active === 0) {
        retire();
        session.close();
      }
    });
    // A session must not keep the process alive by itself (shutdown closes it anyway).
    session.unref();
  }

  private retire(pooled: PooledSession): void {
    pooled.retired = true;
    const index = this.sessions.indexOf(pooled);
    if (index >= 0) this.sessions.splice(index, 1);
  }
}
