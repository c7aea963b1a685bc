// Assembles and runs one gateway: config → logger → database → upstream → Nest (routes under
// /kgw/) → one HTTP server that sends every other path to the Kubernetes proxy chain.
import 'reflect-metadata';
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Http2ServerResponse } from 'node:http2';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import express from 'express';
import { Logger as NestPinoLogger } from 'nestjs-pino';
import type { DestinationStream, Logger } from 'pino';
import { ConfigError, redactedConfig, type GatewayConfig } from '@kgw/config';
import { Database } from '@kgw/db';
import { serviceUnavailable, writeStatus } from '@kgw/kube';
import { AppModule } from './http/app.module';
import { GatewayExceptionFilter } from './http/gateway-exception.filter';
import type { AuditSink } from './audit/audit-sink';
import type { ReadinessCheckFn } from './health/readiness';
import { ConnectionTracker, drainServer, type RequestServer } from './lifecycle/graceful-shutdown';
import { ensurePortFree, explainListenError } from './lifecycle/listen-port';
import { dualProtocolListener } from './lifecycle/dual-protocol-listener';
import { ReloadingTlsFiles } from './lifecycle/tls-files';
import { expressForHttp2 } from './lifecycle/express-over-http2';
import {
  createHttp2Clients,
  isHttp2Request,
  type ClientRequest,
  type ClientResponse,
} from './lifecycle/http2-clients';
import { bodyDeadline, closeWhenBodyUnread } from './lifecycle/slow-clients';
import { openGatewayDatabase } from './lifecycle/gateway-database';
import { isBrowserAtRoot, UI_PATH } from './ui/web-ui-files';
import { createLogger } from './logging/logger';
import { startMetricsListener } from './metrics/metrics-listener';
import { gatewayServicesFromConfig, type GatewayServices } from './gateway-services';
import { chooseUpstream, loginMethods, NO_LOGIN_METHOD } from './lifecycle/gateway-mode';

export interface GatewayOptions {
  logDestination?: DestinationStream;
  /** Builds auth, audit and the Kubernetes side once the database is open (default: from config). */
  services?: (ctx: { config: GatewayConfig; db: Database; logger: Logger }) => Promise<GatewayServices>;
}

export interface RunningGateway {
  url: string;
  port: number;
  logger: Logger;
  db: Database;
  startupMs: number;
  /** Graceful: stop accepting, drain up to the grace period, close the database. */
  close(): Promise<void>;
}

export async function startGateway(
  config: GatewayConfig,
  options: GatewayOptions = {},
): Promise<RunningGateway> {
  const started = performance.now();
  const logger = createLogger(config.log, options.logDestination);
  logger.debug({ config: redactedConfig(config) }, 'configuration');
  // Before any side effect (Postgres, the demo cluster and its files). A worker of a multi-process
  // gateway shares the primary's port, which the primary has checked.
  if (loginMethods(config).length === 0) throw new ConfigError([NO_LOGIN_METHOD]);
  const demo = chooseUpstream(config) === 'demo';
  if (!cluster.isWorker) await ensurePortFree(config.http.host, config.http.port, demo);

  const db = await openGatewayDatabase(config, logger);

  let services: GatewayServices | undefined;
  let server: NetServer | undefined;
  let tlsFiles: ReloadingTlsFiles | undefined;
  try {
    services = await (options.services ?? gatewayServicesFromConfig)({ config, db, logger });
    const kube = services.kube;
    const expressApp = express();
    expressApp.disable('x-powered-by');
    const nest = await NestFactory.create(
      AppModule.forRoot({
        config,
        db,
        logger,
        services,
        readinessChecks: [auditReadiness(services.audit), ...(kube?.readiness ? [kube.readiness] : [])],
      }),
      new ExpressAdapter(expressApp),
      { bufferLogs: true, abortOnError: false },
    );
    nest.useLogger(nest.get(NestPinoLogger));
    nest.useGlobalFilters(new GatewayExceptionFilter(logger));
    await nest.init();

    const kubeHandler = kube;
    const bodyTimeoutMs = config.http.bodyTimeoutSeconds * 1000;
    const expressHttp2 = expressForHttp2(expressApp);
    // The request log: one debug line per request, with its protocol (2.0 or 1.1).
    const logRequests = logger.isLevelEnabled('debug');
    const logRequest = (req: IncomingMessage, upgrade: boolean): void =>
      logger.debug(
        { httpVersion: req.httpVersion, method: req.method, path: req.url?.split('?', 1)[0], upgrade },
        'request',
      );
    const contentOrigin = services.contentOrigin;
    const onRequest = (clientReq: ClientRequest, clientRes: ClientResponse): void => {
      // Node's HTTP/2 compatibility objects offer what the proxy chain and these helpers use
      // (headers, url, method, socket, stream events; writeHead, flushHeaders, end, destroy), so
      // the chain takes both kinds under the HTTP/1.1 types.
      const req = clientReq as IncomingMessage;
      const res = clientRes as ServerResponse;
      if (logRequests) logRequest(req, false);
      closeWhenBodyUnread(req, res);
      // The content origin serves proxied content and its handshake only; on the gateway's
      // origin a browser's proxied content goes there (proxy/content-origin.ts).
      if (contentOrigin?.isContentRequest(req)) contentOrigin.handleContentRequest(req, res);
      else if (contentOrigin?.takesGatewayRequest(req)) contentOrigin.handleGatewayRequest(req, res);
      else if (isGatewayRoute(req.url)) {
        bodyDeadline(req, bodyTimeoutMs);
        if (isHttp2Request(clientReq)) expressHttp2(clientReq, clientRes as Http2ServerResponse);
        else expressApp(req, res);
      } else if (isBrowserAtRoot(req)) sendToUi(res);
      else if (kubeHandler) kubeHandler.handleRequest(req, res);
      else writeStatus(res, serviceUnavailable('kgw has no Kubernetes upstream configured'));
    };
    const forward = services.forward;
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      tracker.trackUpgrade(socket);
      if (logRequests) logRequest(req, true);
      if (contentOrigin?.isContentRequest(req)) contentOrigin.handleContentUpgrade(req, socket, head);
      else if (kubeHandler && !isGatewayRoute(req.url)) kubeHandler.handleUpgrade(req, socket, head);
      else if (forward && isForwardRoute(req.url)) forward.handleUpgrade(req, socket, head);
      else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    // Certificate files are watched and reloaded (tls-files.ts); demo mode brings its own pair.
    tlsFiles =
      config.http.tlsCertFile && config.http.tlsKeyFile
        ? new ReloadingTlsFiles(config.http.tlsCertFile, config.http.tlsKeyFile, logger)
        : undefined;
    const tls = tlsFiles ? { ...tlsFiles.current, alsoPlainHttp: false } : kube?.tls;
    const httpServers: RequestServer[] = [];
    // Header timeouts are checked every second (Node's default: every 30 s).
    const timers = { connectionsCheckingInterval: 1000 };
    // KGW_HTTP_MAX_HEADER_BYTES for HTTP/1.1, on every port (HTTP/2 has its own header list limit).
    const http1Limits = { ...timers, maxHeaderSize: config.http.maxHeaderBytes };
    if (!tls || tls.alsoPlainHttp) httpServers.push(createServer(http1Limits, onRequest as RequestListener));
    // TLS: HTTP/2 and HTTP/1.1 by ALPN (http2-clients.ts), or HTTP/1.1 only when h2 is turned off.
    const http2 =
      tls && config.http2.enabled ? createHttp2Clients(tls, config.http2, onRequest, logger) : undefined;
    // The HTTP/1.1 side of the HTTP/2 server reads maxHeaderSize from the server object as
    // http.Server does (unset, Node's own 16 KiB would apply to HTTP/1.1 clients on the TLS port).
    if (http2) httpServers.push(Object.assign(http2.http1, http1Limits));
    else if (tls)
      httpServers.push(
        createHttpsServer({ ...http1Limits, cert: tls.cert, key: tls.key }, onRequest as RequestListener),
      );
    for (const s of httpServers) {
      s.on('upgrade', onUpgrade);
      // Long-lived watches and exec sessions must not be cut by Node's request timers.
      s.requestTimeout = 0;
      // A client gets this long for the request line and headers (slowloris).
      s.headersTimeout = config.http.headersTimeoutSeconds * 1000;
      s.keepAliveTimeout = config.http.idleTimeoutSeconds * 1000;
    }
    tlsFiles?.watch(httpServers.filter((s): s is RequestServer & TlsServer => 'setSecureContext' in s));
    server = tls?.alsoPlainHttp ? dualProtocolListener(httpServers[0], httpServers[1]) : httpServers[0];
    const tracker = new ConnectionTracker(server);
    for (const s of httpServers) tracker.countRequests(s);

    await new Promise<void>((ok, fail) => {
      server!.once('error', (err) => fail(explainListenError(err, config.http.host, config.http.port, demo)));
      server!.listen(config.http.port, config.http.host, () => ok());
    });
    const port = (server.address() as AddressInfo).port;
    const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
    const url =
      config.http.publicUrl ??
      `${tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    const startupMs = Math.round(performance.now() - started);
    logger.info(
      { url, startupMs, plainHttpToo: tls?.alsoPlainHttp ?? false },
      `kgw gateway ready in ${startupMs} ms at ${url}`,
    );
    services.listening?.(url);
    kube?.banner?.(url);

    // The scrape port; a worker leaves it to the primary, which sums the workers.
    const metricsListener =
      config.metrics.port !== undefined && !cluster.isWorker
        ? await startMetricsListener(config.metrics.host, config.metrics.port, services.metrics.read)
        : undefined;

    const listening = server;
    const runningServices = services;
    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      logger,
      db,
      startupMs,
      close() {
        closing ??= (async () => {
          const graceMs = config.http.shutdownGraceMs;
          logger.info({ graceMs }, 'shutting down: draining connections');
          tlsFiles?.stop();
          await drainServer(listening, httpServers, tracker, graceMs, http2, (busy) =>
            logger.info(
              { busy, graceMs },
              `waiting for ${busy} ${busy === 1 ? 'stream or request' : 'streams and requests'} to finish ` +
                `(cut after ${formatSeconds(graceMs)}) — Ctrl-C again to quit now`,
            ),
          );
          await metricsListener?.close();
          await runningServices.close();
          await nest.close();
          await db.close();
          logger.info('stopped');
          logger.flush();
        })();
        return closing;
      },
    };
  } catch (err) {
    tlsFiles?.stop();
    server?.close();
    await services?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Not ready while the audit trail cannot keep records: the proxy answers every Kubernetes
 * request 503 then, so a load balancer should send traffic to a replica that can.
 */
function auditReadiness(audit: AuditSink): ReadinessCheckFn {
  return async () => {
    const ok = audit.accepting();
    return [
      'audit',
      {
        ok,
        detail: ok
          ? `recording (instance ${audit.instance})`
          : 'cannot record: Postgres, the spool or the writer thread is failing, or the queue is full',
      },
    ];
  };
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function isForwardRoute(url: string | undefined): boolean {
  return url === '/kgw/v1/forward' || (url?.startsWith('/kgw/v1/forward?') ?? false);
}

function sendToUi(res: ServerResponse): void {
  res.writeHead(302, { Location: UI_PATH, 'Cache-Control': 'no-store', 'Content-Length': '0' });
  res.end();
}

function isGatewayRoute(url: string | undefined): boolean {
  return url === '/kgw' || (url?.startsWith('/kgw/') ?? false) || (url?.startsWith('/kgw?') ?? false);
}
