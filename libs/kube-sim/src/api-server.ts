// The HTTP front of the simulator: authenticates, applies impersonation, resolves RequestInfo,
// authorizes with RBAC, then serves discovery, OpenAPI, CRUD, watch, reviews and hands pod/service
// stream subresources to the streams module. Every reply that fails is a Kubernetes Status.
// Reads and watch (api-reads.ts), writes and patch (api-writes.ts), deletes, scale and eviction
// (api-deletes.ts) and reviews and TokenRequest (api-reviews.ts) are served by the files named.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { forbiddenError } from './authorization-messages';
import type { PodStreamsHandler, SimUserInfo, StreamTarget } from './contract';
import {
  AGGREGATED_DISCOVERY_CONTENT_TYPE,
  AGGREGATED_DISCOVERY_V2BETA1_CONTENT_TYPE,
  aggregatedDiscovery,
  apiGroupDocument,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiV3Document,
  openApiV3Index,
} from './discovery';
import {
  impersonate,
  readImpersonationHeaders,
  stripImpersonationHeaders,
  type ImpersonationHeaders,
} from './impersonation';
import { type AuthorizationAttributes } from './rbac';
import { MalformedPathError, resolveRequestInfo, type RequestInfo } from './request-info';
import type { RequestLogEntry } from './request-log';
import { findResourceType } from './resources';
import {
  badRequest,
  internalError,
  methodNotSupported,
  notFound,
  pathNotFound,
  StatusError,
  success,
  unauthorized,
  type StatusBody,
} from './status';
import {
  readObjectBody,
  sendJson,
  sendStatus,
  mustGet,
  sendObject,
  statusOf,
  type ApiServerDeps,
  type RequestContext,
} from './api-exchange';
import { listObjects, watchObjects } from './api-reads';
import { createObject, updateObject, patchObject } from './api-writes';
import { deleteObject, deleteCollection, evictPod, scaleOf } from './api-deletes';
import { review, tokenRequest } from './api-reviews';

export type { ApiServerDeps } from './api-exchange';

const STREAM_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward', 'proxy']);
export class ApiServer {
  private readonly watches = new Set<() => void>();

  constructor(private readonly deps: ApiServerDeps) {}

  /** Ends every open watch (used on stop). */
  closeWatches(): void {
    for (const close of [...this.watches]) close();
  }

  // ---- entry points ----

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://kube-sim');
    const auditId = auditIdOf(req);
    const entry = this.deps.requestLog.record({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      authorizationHeader: req.headers.authorization !== undefined,
      userAgent: req.headers['user-agent'],
      auditId,
      httpVersion: req.httpVersion,
    });
    // The real server's audit filter echoes the ID on every response it writes itself.
    res.setHeader('Audit-Id', auditId);
    res.on('finish', () => {
      entry.status = res.statusCode;
      this.deps.requestLog.completed(entry);
    });
    res.on('close', () => {
      if (entry.status === undefined) {
        entry.status = res.statusCode;
        this.deps.requestLog.completed(entry);
      }
    });
    let ctx: RequestContext;
    try {
      ctx = this.prepare(req, url, entry);
    } catch (err) {
      sendStatus(res, statusOf(err));
      return;
    }
    this.serve(req, res, ctx).catch((err: unknown) => {
      if (!res.headersSent) sendStatus(res, statusOf(err));
      else res.destroy();
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://kube-sim');
    const entry = this.deps.requestLog.record({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      authorizationHeader: req.headers.authorization !== undefined,
      userAgent: req.headers['user-agent'],
      auditId: auditIdOf(req),
      httpVersion: req.httpVersion,
    });
    const fail = (body: StatusBody): void => {
      entry.status = body.code;
      this.deps.requestLog.completed(entry);
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${body.code} ${body.reason ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nAudit-Id: ${entry.auditId}\r\nConnection: close\r\n\r\n${text}`,
      );
    };
    try {
      const ctx = this.prepare(req, url, entry);
      const target = this.streamTarget(ctx);
      if (!target) throw badRequest('the requested resource does not support connection upgrades');
      this.checkStreamTargetExists(target);
      const streams = this.requireStreams();
      entry.status = 101;
      this.deps.requestLog.completed(entry);
      streams.handleUpgrade(req, socket, head, target);
    } catch (err) {
      fail(statusOf(err));
    }
  }

  // ---- pipeline ----

  private prepare(req: IncomingMessage, url: URL, entry: RequestLogEntry): RequestContext {
    const authn = this.deps.authenticator.authenticate(req);
    const impersonation: ImpersonationHeaders | undefined = readImpersonationHeaders(req);
    if (impersonation) entry.impersonation = impersonation;
    if (!authn.ok) throw unauthorized();
    entry.authMethod = authn.method;
    entry.authenticatedUser = authn.user;
    let user = authn.user;
    if (impersonation) {
      user = impersonate(authn.user, impersonation, this.deps.authorizer);
      stripImpersonationHeaders(req);
    }
    entry.user = user;
    let info: RequestInfo;
    try {
      info = resolveRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
    } catch (err) {
      if (err instanceof MalformedPathError) throw badRequest(err.message);
      throw internalError(err instanceof Error ? err.message : String(err));
    }
    entry.verb = info.verb;
    const attrs = this.attributesFor(user, info);
    const decision = this.deps.authorizer.authorize(attrs);
    if (!decision.allowed) throw forbiddenError(attrs, decision.reason);
    return { user, info, url, entry };
  }

  private attributesFor(user: SimUserInfo, info: RequestInfo): AuthorizationAttributes {
    let verb = info.verb;
    // Pod exec/attach/portforward over WebSocket arrive as GET; the API server (1.31+) checks
    // `create` for them as for SPDY's POST, so read-only users cannot open a shell.
    if (
      info.isResourceRequest &&
      info.resource === 'pods' &&
      ['exec', 'attach', 'portforward'].includes(info.subresource) &&
      verb === 'get'
    )
      verb = 'create';
    return {
      user,
      verb,
      isResourceRequest: info.isResourceRequest,
      path: info.path,
      namespace: info.namespace,
      apiGroup: info.apiGroup,
      apiVersion: info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
      name: info.name,
    };
  }

  private async serve(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const { info } = ctx;
    if (!info.isResourceRequest) {
      this.serveNonResource(req, res, ctx);
      return;
    }
    const type = findResourceType(info.apiGroup, info.apiVersion, info.resource);
    if (!type || (info.apiPrefix === 'api' && info.apiGroup !== '') || info.verb === 'proxy')
      throw pathNotFound();
    const pathNamespaced =
      info.parts.length > 0 && ctx.url.pathname.includes('/namespaces/') && info.resource !== 'namespaces';
    if (!type.namespaced && pathNamespaced) throw pathNotFound();
    if (type.namespaced && info.name && !info.namespace && !(info.verb === 'list' || info.verb === 'watch'))
      throw pathNotFound();

    const target = this.streamTarget(ctx);
    if (target) {
      this.checkStreamTargetExists(target);
      this.requireStreams().handleRequest(req, res, target);
      return;
    }
    if (type.virtual) {
      if (req.method !== 'POST' || info.name)
        throw methodNotSupported({ group: type.group, resource: type.plural }, info.verb);
      const body = await readObjectBody(req, type, true);
      sendJson(res, 201, review(this.deps, type, body, ctx));
      return;
    }
    const sub = info.subresource;
    switch (info.verb) {
      case 'get':
        if (sub === 'scale')
          return sendJson(res, 200, scaleOf(type, mustGet(this.deps, type, info.namespace, info.name)));
        if (sub && sub !== 'status') throw pathNotFound();
        return sendObject(req, res, type, 200, mustGet(this.deps, type, info.namespace, info.name));
      case 'list':
        return listObjects(this.deps, req, res, type, ctx);
      case 'watch':
        return watchObjects(this.deps, this.watches, req, res, type, ctx);
      case 'create':
        if (sub === 'token' && type.plural === 'serviceaccounts')
          return sendJson(res, 201, tokenRequest(this.deps, await readObjectBody(req, undefined, true), ctx));
        if (sub === 'eviction' && type.plural === 'pods') return evictPod(this.deps, req, res, ctx);
        if (sub === 'binding' && type.plural === 'pods') return sendJson(res, 201, success());
        if (info.name && !sub)
          throw methodNotSupported({ group: type.group, resource: type.plural }, 'create');
        if (sub) throw pathNotFound();
        return createObject(this.deps, req, res, type, ctx);
      case 'update':
        return updateObject(this.deps, req, res, type, ctx);
      case 'patch':
        return patchObject(this.deps, req, res, type, ctx);
      case 'delete':
        if (sub) throw methodNotSupported({ group: type.group, resource: `${type.plural}/${sub}` }, 'delete');
        return deleteObject(this.deps, req, res, type, ctx);
      case 'deletecollection':
        return deleteCollection(this.deps, req, res, type, ctx);
      default:
        throw methodNotSupported(
          { group: type.group, resource: type.plural },
          info.verb || (req.method ?? ''),
        );
    }
  }

  /** The pod streams module, or the 503 a simulator started without one answers. */
  private requireStreams(): PodStreamsHandler {
    if (this.deps.streams) return this.deps.streams;
    throw new StatusError({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pod streams are not available in this simulator',
      reason: 'ServiceUnavailable',
      code: 503,
    });
  }

  private streamTarget(ctx: RequestContext): StreamTarget | undefined {
    const { info } = ctx;
    if (!info.isResourceRequest || info.apiGroup !== '' || !info.namespace) return undefined;
    if (!STREAM_SUBRESOURCES.has(info.subresource)) return undefined;
    const resource = info.resource;
    if (resource === 'services' && info.subresource !== 'proxy') return undefined;
    if (resource !== 'pods' && resource !== 'services') return undefined;
    let proxyPath = '';
    if (info.subresource === 'proxy') {
      const marker = `/${resource}/${info.name}/proxy`;
      const idx = ctx.url.pathname.indexOf(marker);
      proxyPath = idx >= 0 ? ctx.url.pathname.slice(idx + marker.length) : '';
    }
    return {
      namespace: info.namespace,
      resource,
      name: info.name,
      subresource: info.subresource as StreamTarget['subresource'],
      proxyPath,
      user: ctx.user,
    };
  }

  private checkStreamTargetExists(target: StreamTarget): void {
    // Proxy names may carry `scheme:` and `:port`; the object name is the middle part.
    const parts = target.name.split(':');
    const name =
      parts.length === 3 ? parts[1] : parts.length === 2 && /^https?$/.test(parts[0]) ? parts[1] : parts[0];
    if (!this.deps.store.peek(target.resource, target.namespace, name))
      throw notFound({ group: '', resource: target.resource }, name);
  }

  // ---- non-resource ----

  private serveNonResource(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    const path = ctx.url.pathname.replace(/\/+$/, '') || '/';
    const accept = req.headers.accept ?? '';
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw methodNotSupported({ group: '', resource: '' }, req.method ?? '');
    const aggregated = (legacy: boolean): boolean => {
      if (accept.includes('as=APIGroupDiscoveryList')) {
        const v2 = accept.includes('v=v2;') || /v=v2(,|;|$)/.test(accept);
        const doc = aggregatedDiscovery(
          legacy,
          v2 ? 'apidiscovery.k8s.io/v2' : 'apidiscovery.k8s.io/v2beta1',
        );
        sendJson(
          res,
          200,
          doc,
          v2 ? AGGREGATED_DISCOVERY_CONTENT_TYPE : AGGREGATED_DISCOVERY_V2BETA1_CONTENT_TYPE,
        );
        return true;
      }
      return false;
    };
    if (path === '/version') {
      return sendJson(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.4-kube-sim',
        gitCommit: '59526cd4867447956156ae3a602fcbac10a2c335',
        gitTreeState: 'clean',
        buildDate: '2025-04-22T16:02:27Z',
        goVersion: 'go1.23.6',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    }
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end('ok');
      return;
    }
    if (path === '/api') {
      if (aggregated(true)) return;
      return sendJson(res, 200, apiVersions(this.deps.serverAddress()));
    }
    if (path === '/apis') {
      if (aggregated(false)) return;
      return sendJson(res, 200, apiGroupList());
    }
    if (path === '/api/v1') return sendJson(res, 200, apiResourceList('', 'v1'));
    const apis = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (apis) {
      const doc = apis[2] ? apiResourceList(apis[1], apis[2]) : apiGroupDocument(apis[1]);
      if (doc) return sendJson(res, 200, doc);
      throw pathNotFound();
    }
    if (path === '/openapi/v3') return sendJson(res, 200, openApiV3Index());
    const oa = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (oa) {
      const doc = oa[1] ? openApiV3Document('', oa[1]) : openApiV3Document(oa[2], oa[3]);
      if (doc) {
        res.setHeader('Cache-Control', 'public, immutable');
        return sendJson(res, 200, doc);
      }
    }
    // Like a server with no OpenAPI v2 handler: a plain 404 page.
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('404 page not found\n');
  }

  // ---- helpers ----

  // ---- list & watch ----

  // ---- writes ----

  // ---- scale ----

  // ---- delete ----

  // ---- reviews ----
}

/**
 * The ID of this request's audit event: kube-apiserver's audit filter (WithAuditInit) takes a
 * caller's `Audit-ID` header as it is, and makes up a UUID when there is none.
 */
function auditIdOf(req: IncomingMessage): string {
  const sent = req.headers['audit-id'];
  return typeof sent === 'string' && sent !== '' ? sent : randomUUID();
}
