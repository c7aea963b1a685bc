// The HTTP front of the simulator: authenticates, applies impersonation, resolves RequestInfo,
// authorizes with RBAC, then serves discovery, OpenAPI, CRUD, watch, reviews and hands pod/service
// stream subresources to the streams module. Every reply that fails is a Kubernetes Status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { randomUUID } from 'node:crypto';
import {
  applyDefaults,
  pruneUnknownFields,
  randomSuffix,
  validateObject,
  validateUpdate,
  type AdmissionContext,
} from './admission';
import { API_AUDIENCE, type Authenticator, type ServiceAccountTokens } from './authentication';
import { forbiddenError } from './authorization-messages';
import type { KubeObject, PodStreamsHandler, SimUserInfo, StreamTarget } from './contract';
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
import {
  applyConfiguration,
  applyJsonPatch,
  applyMergePatch,
  isObject,
  PatchError,
  strategicMerge,
  type Json,
} from './patch';
import {
  decodeKubernetesProtobuf,
  decodeKubernetesProtobufObject,
  ProtobufDecodeError,
  protobufObjectKinds,
} from './protobuf';
import {
  compactRule,
  type AuthorizationAttributes,
  type PolicyRule,
  type RbacAuthorizer,
  type RoleRef,
} from './rbac';
import { resolveRequestInfo, isTrueParam, type RequestInfo } from './request-info';
import type { RequestLog, RequestLogEntry } from './request-log';
import { apiVersionOf, findResourceType, qualifiedKind, type ResourceType } from './resources';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
  formatObjectSelector,
  type FieldRequirement,
  type LabelRequirement,
  type ObjectLabelSelector,
} from './selectors';
import {
  badRequest,
  conflict,
  expired,
  forbidden,
  genericInvalid,
  internalError,
  invalid,
  methodNotSupported,
  notFound,
  OBJECT_MODIFIED,
  pathNotFound,
  requestEntityTooLarge,
  StatusError,
  success,
  unauthorized,
  unsupportedMediaType,
  type FieldError,
  type StatusBody,
} from './status';
import { nowTimestamp, objectKey, type CommittedEvent, type ObjectStore } from './store';
import { buildTable, type IncludeObject } from './table';

const MAX_BODY = 3 * 1024 * 1024;
const STREAM_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward', 'proxy']);
/** Kinds whose delete answers with the object rather than a Status (graceful deletion or finalizers). */
const RETURNS_DELETED_OBJECT = new Set([
  'pods',
  'services',
  'namespaces',
  'persistentvolumes',
  'persistentvolumeclaims',
]);

export interface ApiServerDeps {
  store: ObjectStore;
  authenticator: Authenticator;
  authorizer: RbacAuthorizer;
  tokens: ServiceAccountTokens;
  admission: AdmissionContext;
  requestLog: RequestLog;
  serverAddress: () => string;
  streams?: PodStreamsHandler;
  bookmarkIntervalMs: number;
}

interface RequestContext {
  user: SimUserInfo;
  info: RequestInfo;
  url: URL;
  entry: RequestLogEntry;
}

type Obj = Record<string, unknown>;
/** A scalar as text; objects and absent values are ''. */
const text = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
const asObj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};

function statusOf(err: unknown): StatusBody {
  if (err instanceof StatusError) return err.status;
  const message = err instanceof Error ? err.message : String(err);
  return internalError(message).status;
}

/** Go's encoding/json wording for the errors JSON.parse reports. */
function goJsonError(err: unknown, text: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/end of (JSON )?input|Unterminated string/i.test(msg)) return 'unexpected end of JSON input';
  const pos = /position (\d+)/.exec(msg);
  const ch = pos ? text[Number(pos[1])] : /token '?(.)'?/.exec(msg)?.[1];
  return ch !== undefined ? `invalid character '${ch}' looking for beginning of value` : msg;
}

/** apiserver's summarizeData: what a decode error quotes of the body. */
function summarizeData(body: Buffer, max = 30): string {
  if (body.length === 0) return '<empty>';
  if (body[0] === 0x7b)
    return body.length > max ? `${body.subarray(0, max).toString('utf8')} ...` : body.toString('utf8');
  return body.length > max ? `${body.subarray(0, max).toString('hex')} ...` : body.toString('hex');
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

function wantsTable(accept: string | undefined): boolean {
  return Boolean(accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept));
}

function wantsPartialMetadata(accept: string | undefined): boolean {
  return Boolean(accept && /as=PartialObjectMetadata/.test(accept) && !wantsTable(accept));
}

function fieldValue(type: ResourceType, obj: KubeObject, field: string): string {
  switch (field) {
    case 'metadata.name':
      return obj.metadata.name;
    case 'metadata.namespace':
      return obj.metadata.namespace ?? '';
    case 'name':
      return obj.metadata.name;
    case 'source':
      return text(asObj(obj.source).component);
    case 'spec.unschedulable':
      return String(Boolean(asObj(obj.spec).unschedulable));
    case 'spec.hostNetwork':
      return String(Boolean(asObj(obj.spec).hostNetwork));
    case 'status.podIPs':
      return text(asObj(obj.status).podIP);
    default: {
      let cur: unknown = obj;
      for (const seg of field.split('.')) cur = asObj(cur)[seg];
      if (type.kind === 'Secret' && field === 'type') return text(obj.type);
      return text(cur);
    }
  }
}

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
    const entry = this.deps.requestLog.record({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      authorizationHeader: req.headers.authorization !== undefined,
      userAgent: req.headers['user-agent'],
    });
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
      this.sendStatus(res, statusOf(err));
      return;
    }
    this.serve(req, res, ctx).catch((err: unknown) => {
      if (!res.headersSent) this.sendStatus(res, statusOf(err));
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
    });
    const fail = (body: StatusBody): void => {
      entry.status = body.code;
      this.deps.requestLog.completed(entry);
      const text = JSON.stringify(body);
      socket.end(
        `HTTP/1.1 ${body.code} ${body.reason ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
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
      const body = await this.readObjectBody(req, type, true);
      this.sendJson(res, 201, this.review(type, body, ctx));
      return;
    }
    const sub = info.subresource;
    switch (info.verb) {
      case 'get':
        if (sub === 'scale')
          return this.sendJson(res, 200, this.scaleOf(type, this.mustGet(type, info.namespace, info.name)));
        if (sub && sub !== 'status') throw pathNotFound();
        return this.sendObject(req, res, type, 200, this.mustGet(type, info.namespace, info.name));
      case 'list':
        return this.list(req, res, type, ctx);
      case 'watch':
        return this.watch(req, res, type, ctx);
      case 'create':
        if (sub === 'token' && type.plural === 'serviceaccounts')
          return this.sendJson(
            res,
            201,
            this.tokenRequest(await this.readObjectBody(req, undefined, true), ctx),
          );
        if (sub === 'eviction' && type.plural === 'pods') return this.evict(req, res, ctx);
        if (sub === 'binding' && type.plural === 'pods') return this.sendJson(res, 201, success());
        if (info.name && !sub)
          throw methodNotSupported({ group: type.group, resource: type.plural }, 'create');
        if (sub) throw pathNotFound();
        return this.create(req, res, type, ctx);
      case 'update':
        return this.update(req, res, type, ctx);
      case 'patch':
        return this.patch(req, res, type, ctx);
      case 'delete':
        if (sub) throw methodNotSupported({ group: type.group, resource: `${type.plural}/${sub}` }, 'delete');
        return this.delete(req, res, type, ctx);
      case 'deletecollection':
        return this.deleteCollection(req, res, type, ctx);
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
        this.sendJson(
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
      return this.sendJson(res, 200, {
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
      return this.sendJson(res, 200, apiVersions(this.deps.serverAddress()));
    }
    if (path === '/apis') {
      if (aggregated(false)) return;
      return this.sendJson(res, 200, apiGroupList());
    }
    if (path === '/api/v1') return this.sendJson(res, 200, apiResourceList('', 'v1'));
    const apis = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (apis) {
      const doc = apis[2] ? apiResourceList(apis[1], apis[2]) : apiGroupDocument(apis[1]);
      if (doc) return this.sendJson(res, 200, doc);
      throw pathNotFound();
    }
    if (path === '/openapi/v3') return this.sendJson(res, 200, openApiV3Index());
    const oa = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (oa) {
      const doc = oa[1] ? openApiV3Document('', oa[1]) : openApiV3Document(oa[2], oa[3]);
      if (doc) {
        res.setHeader('Cache-Control', 'public, immutable');
        return this.sendJson(res, 200, doc);
      }
    }
    // Like a server with no OpenAPI v2 handler: a plain 404 page.
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('404 page not found\n');
  }

  // ---- helpers ----

  private sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': contentType,
      'Content-Length': Buffer.byteLength(text),
      'Audit-Id': randomUUID(),
      'Cache-Control': 'no-cache, private',
    });
    res.end(text);
  }

  private sendStatus(res: ServerResponse, body: StatusBody): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.sendJson(res, body.code, body);
  }

  private typed(type: ResourceType, obj: KubeObject): KubeObject {
    return { apiVersion: apiVersionOf(type), kind: type.kind, ...obj, metadata: obj.metadata };
  }

  private sendObject(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    code: number,
    obj: KubeObject,
    warnings: string[] = [],
  ): void {
    for (const w of warnings) res.appendHeader('Warning', `299 - ${JSON.stringify(w)}`);
    const accept = req.headers.accept;
    if (wantsTable(accept)) {
      const table = buildTable(
        type,
        [obj],
        { resourceVersion: obj.metadata.resourceVersion },
        { includeObject: this.includeObject(new URL(req.url ?? '/', 'https://x')) },
      );
      return this.sendJson(res, code, table, 'application/json;as=Table;v=v1;g=meta.k8s.io');
    }
    if (wantsPartialMetadata(accept)) {
      return this.sendJson(res, code, {
        kind: 'PartialObjectMetadata',
        apiVersion: 'meta.k8s.io/v1',
        metadata: obj.metadata,
      });
    }
    this.sendJson(res, code, this.typed(type, obj));
  }

  private includeObject(url: URL): IncludeObject {
    const v = url.searchParams.get('includeObject');
    return v === 'None' || v === 'Object' ? v : 'Metadata';
  }

  private mustGet(type: ResourceType, namespace: string, name: string): KubeObject {
    const obj = this.deps.store.get(type.plural, type.namespaced ? namespace : undefined, name);
    if (!obj) throw notFound({ group: type.group, resource: type.plural }, name);
    return obj;
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > MAX_BODY) throw requestEntityTooLarge('limit is 3145728');
      chunks.push(b);
    }
    return Buffer.concat(chunks);
  }

  /** Decodes a JSON, YAML or (for reviews) protobuf body into an object of the expected type. */
  private async readObjectBody(
    req: IncomingMessage,
    type: ResourceType | undefined,
    allowProtobuf = false,
  ): Promise<KubeObject> {
    const body = await this.readBody(req);
    const ct = mediaType(req.headers['content-type']);
    const kindName = type?.kind ?? 'TokenRequest';
    let parsed: unknown;
    if (ct === 'application/vnd.kubernetes.protobuf') {
      const decodable = allowProtobuf || (type !== undefined && protobufObjectKinds().includes(type.kind));
      if (!decodable) throw unsupportedMediaType(ct, ['application/json', 'application/yaml']);
      try {
        parsed = allowProtobuf ? decodeKubernetesProtobuf(body) : decodeKubernetesProtobufObject(body);
      } catch (err) {
        if (err instanceof ProtobufDecodeError)
          throw badRequest(
            `the object provided is unrecognized (must be of type ${kindName}): ${err.message} (${summarizeData(body)})`,
          );
        throw err;
      }
    } else if (ct === 'application/json' || ct === '') {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw badRequest(
          `the object provided is unrecognized (must be of type ${kindName}): couldn't get version/kind; json parse error: ${goJsonError(err, body.toString('utf8'))} (${summarizeData(body)})`,
        );
      }
    } else if (ct === 'application/yaml') {
      try {
        parsed = parseYaml(body.toString('utf8'));
      } catch (err) {
        throw badRequest(
          `the object provided is unrecognized (must be of type ${kindName}): couldn't get version/kind; json parse error: error converting YAML to JSON: yaml: ${err instanceof Error ? err.message.split('\n')[0] : String(err)} (${summarizeData(body)})`,
        );
      }
    } else {
      throw unsupportedMediaType(ct, [
        'application/json',
        'application/yaml',
        'application/vnd.kubernetes.protobuf',
      ]);
    }
    if (!isObject(parsed)) {
      throw badRequest(
        `the object provided is unrecognized (must be of type ${kindName}): couldn't get version/kind; json parse error: json: cannot unmarshal ${Array.isArray(parsed) ? 'array' : typeof parsed} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" } (${summarizeData(body)})`,
      );
    }
    const obj = parsed as unknown as KubeObject;
    if (type) this.checkKind(type, obj);
    if (!isObject(obj.metadata)) obj.metadata = { name: '' };
    return obj;
  }

  private checkKind(type: ResourceType, obj: { apiVersion?: unknown; kind?: unknown }): void {
    const kind = typeof obj.kind === 'string' && obj.kind ? obj.kind : type.kind;
    const apiVersion =
      typeof obj.apiVersion === 'string' && obj.apiVersion ? obj.apiVersion : apiVersionOf(type);
    const version = apiVersion.includes('/') ? apiVersion.split('/')[1] : apiVersion;
    if (kind !== type.kind) {
      const sameGroup = apiVersion === apiVersionOf(type);
      const known = sameGroup && findKind(type.group, kind);
      throw badRequest(
        known
          ? `${kind} in version "${version}" cannot be handled as a ${type.kind}: converting (${version}.${kind}) to (${type.group ? type.group : 'core'}.${type.kind}): unknown conversion`
          : `${kind} in version "${version}" cannot be handled as a ${type.kind}: no kind "${kind}" is registered for version "${apiVersion}" in scheme "pkg/api/legacyscheme/scheme.go:30"`,
      );
    }
    if (apiVersion !== apiVersionOf(type)) {
      throw badRequest(
        `the API version in the data (${apiVersion}) does not match the expected API version (${apiVersionOf(type)})`,
      );
    }
  }

  private fieldValidation(url: URL): 'Strict' | 'Warn' | 'Ignore' {
    const v = url.searchParams.get('fieldValidation');
    if (v === null || v === '') return 'Warn';
    if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
    throw badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got: ${v}`);
  }

  /** Prunes unknown fields; Strict turns them into a 400, Warn into Warning headers. */
  private checkFields(
    type: ResourceType,
    obj: KubeObject,
    mode: 'Strict' | 'Warn' | 'Ignore',
    strictPrefix = 'strict decoding error: ',
  ): string[] {
    const unknown = pruneUnknownFields(type.kind, obj);
    if (unknown.length === 0 || mode === 'Ignore') return [];
    if (mode === 'Strict')
      throw badRequest(`${strictPrefix}${unknown.map((f) => `unknown field "${f}"`).join(', ')}`);
    return unknown.map((f) => `unknown field "${f}"`);
  }

  private isDryRun(url: URL): boolean {
    const v = url.searchParams.getAll('dryRun');
    if (v.some((x) => x !== 'All'))
      throw badRequest(`dryRun: Unsupported value: "${v.find((x) => x !== 'All')}": supported values: "All"`);
    return v.length > 0;
  }

  // ---- list & watch ----

  private selectors(url: URL): { labels: LabelRequirement[]; fields: FieldRequirement[] } {
    try {
      return {
        labels: parseLabelSelector(url.searchParams.get('labelSelector') ?? ''),
        fields: parseFieldSelector(url.searchParams.get('fieldSelector') ?? ''),
      };
    } catch (err) {
      if (err instanceof SelectorParseError) throw badRequest(err.message);
      throw err;
    }
  }

  private checkFieldLabels(type: ResourceType, fields: FieldRequirement[]): void {
    for (const f of fields) {
      if (f.field === 'metadata.name' || f.field === 'metadata.namespace') continue;
      if (type.fieldLabels?.includes(f.field)) continue;
      // Types with their own conversion function word the error differently from the default one.
      if (type.fieldLabels) throw badRequest(`field label not supported: ${f.field}`);
      throw badRequest(
        `"${f.field}" is not a known field selector: only "metadata.name", "metadata.namespace"`,
      );
    }
  }

  private matcher(type: ResourceType, namespace: string, url: URL): (obj: KubeObject) => boolean {
    const { labels, fields } = this.selectors(url);
    this.checkFieldLabels(type, fields);
    return (obj) =>
      (!namespace || !type.namespaced || obj.metadata.namespace === namespace) &&
      matchesLabels(labels, obj.metadata.labels) &&
      matchesFields(fields, (f) => fieldValue(type, obj, f));
  }

  private list(req: IncomingMessage, res: ServerResponse, type: ResourceType, ctx: RequestContext): void {
    const { url, info } = ctx;
    const match = this.matcher(type, info.namespace, url);
    const store = this.deps.store;
    let items = store
      .peekList(type.plural, type.namespaced && info.namespace ? info.namespace : undefined)
      .filter(match);
    const rv = String(store.currentResourceVersion());
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const cont = url.searchParams.get('continue');
    const listMeta: Obj = { resourceVersion: rv };
    if (cont) {
      let start: string;
      try {
        const token = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as {
          start?: string;
          rv?: number;
        };
        if (typeof token.start !== 'string') throw new Error('bad');
        start = token.start;
        listMeta.resourceVersion = String(token.rv);
      } catch {
        throw badRequest(
          'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
        );
      }
      items = items.filter((o) => objectKey(o.metadata.namespace, o.metadata.name) > start);
    }
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1];
      listMeta.continue = Buffer.from(
        JSON.stringify({
          v: 'meta.k8s.io/v1',
          rv: Number(listMeta.resourceVersion),
          start: objectKey(last.metadata.namespace, last.metadata.name),
        }),
      ).toString('base64');
      listMeta.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    const accept = req.headers.accept;
    if (wantsTable(accept)) {
      return this.sendJson(
        res,
        200,
        buildTable(type, items, listMeta, { includeObject: this.includeObject(url) }),
        'application/json;as=Table;v=v1;g=meta.k8s.io',
      );
    }
    if (wantsPartialMetadata(accept)) {
      return this.sendJson(res, 200, {
        kind: 'PartialObjectMetadataList',
        apiVersion: 'meta.k8s.io/v1',
        metadata: listMeta,
        items: items.map((o) => ({
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: o.metadata,
        })),
      });
    }
    this.sendJson(res, 200, {
      kind: `${type.kind}List`,
      apiVersion: apiVersionOf(type),
      metadata: listMeta,
      items: items.map((o) => this.typed(type, o)),
    });
  }

  private watch(req: IncomingMessage, res: ServerResponse, type: ResourceType, ctx: RequestContext): void {
    const { url, info } = ctx;
    const match = this.matcher(type, info.namespace, url);
    if (info.name && !url.searchParams.get('fieldSelector')) {
      // Legacy /watch/namespaces/ns/pods/name form.
      const name = info.name;
      const base = match;
      const byName = (o: KubeObject): boolean => o.metadata.name === name && base(o);
      return this.startWatch(req, res, type, ctx, byName);
    }
    this.startWatch(req, res, type, ctx, match);
  }

  private startWatch(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    ctx: RequestContext,
    match: (o: KubeObject) => boolean,
  ): void {
    const { url } = ctx;
    const store = this.deps.store;
    const rvParam = url.searchParams.get('resourceVersion') ?? '';
    if (rvParam !== '' && !/^\d+$/.test(rvParam))
      throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a valid resource version`);
    const asTable = wantsTable(req.headers.accept);
    const includeObject = this.includeObject(url);
    const bookmarks = isTrueParam(url.searchParams.get('allowWatchBookmarks'));
    const timeoutParam = url.searchParams.get('timeoutSeconds');
    // Without timeoutSeconds the real server picks 30–60 minutes at random.
    const timeoutMs =
      timeoutParam !== null ? Number(timeoutParam) * 1000 : (1800 + Math.floor(Math.random() * 1800)) * 1000;

    res.writeHead(200, {
      'Content-Type': asTable ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
      'Audit-Id': randomUUID(),
    });
    res.flushHeaders();
    let first = true;
    let closed = false;
    const write = (line: string): void => {
      if (!closed) res.write(line);
    };
    const encode = (eventType: string, obj: KubeObject, event?: CommittedEvent): string => {
      if (asTable) {
        const table = buildTable(
          type,
          [obj],
          { resourceVersion: obj.metadata.resourceVersion },
          { includeObject, noHeaders: !first },
        );
        first = false;
        return `${JSON.stringify({ type: eventType, object: table })}\n`;
      }
      if (event) {
        event.json ??= `${JSON.stringify({ type: eventType, object: this.typed(type, event.object) })}\n`;
        return event.json;
      }
      return `${JSON.stringify({ type: eventType, object: this.typed(type, obj) })}\n`;
    };
    const deliver = (e: CommittedEvent): void => {
      if (e.resource !== type.plural || !match(e.object)) return;
      write(encode(e.type, e.object, e));
    };

    let lastRv = store.currentResourceVersion();
    let unsubscribe: (() => void) | undefined;
    if (rvParam === '' || rvParam === '0') {
      for (const obj of store.peekList(type.plural)) if (match(obj)) write(encode('ADDED', obj));
    } else {
      const replay = store.eventsSince(Number(rvParam));
      if ('tooOld' in replay) {
        const status = expired(`too old resource version: ${rvParam} (${replay.tooOld})`).status;
        res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
        return;
      }
      for (const e of replay.events) deliver(e);
    }
    unsubscribe = store.onCommit((e) => {
      lastRv = e.resourceVersion;
      deliver(e);
    });
    const bookmarkTimer = bookmarks
      ? setInterval(
          () =>
            write(
              `${JSON.stringify({ type: 'BOOKMARK', object: { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(Math.max(lastRv, store.currentResourceVersion())) } } })}\n`,
            ),
          this.deps.bookmarkIntervalMs,
        )
      : undefined;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      unsubscribe = undefined;
      if (bookmarkTimer) clearInterval(bookmarkTimer);
      clearTimeout(timer);
      this.watches.delete(close);
      if (!res.writableEnded) res.end();
    };
    const timer = setTimeout(close, Math.max(0, timeoutMs));
    this.watches.add(close);
    res.on('close', close);
    req.on('close', close);
  }

  // ---- writes ----

  private checkNamespaceFor(type: ResourceType, namespace: string, name: string): void {
    if (!type.namespaced) return;
    const ns = this.deps.store.peek('namespaces', undefined, namespace);
    if (!ns) throw notFound({ group: '', resource: 'namespaces' }, namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(
        { group: type.group, resource: type.plural },
        name,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  private prepareIncoming(type: ResourceType, obj: KubeObject, namespace: string): void {
    obj.apiVersion = apiVersionOf(type);
    obj.kind = type.kind;
    if (type.namespaced) {
      if (obj.metadata.namespace && obj.metadata.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      obj.metadata.namespace = namespace;
    } else {
      delete obj.metadata.namespace;
    }
  }

  /** RBAC escalation prevention for roles and bindings. */
  private checkEscalation(type: ResourceType, obj: KubeObject, user: SimUserInfo): void {
    const authz = this.deps.authorizer;
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name;
    const gr = { group: type.group, resource: type.plural };
    const refuse = (missing: PolicyRule[]): never => {
      throw forbidden(
        gr,
        name,
        `user "${user.username}" (groups=[${user.groups.map((g) => JSON.stringify(g)).join(' ')}]) is attempting to grant RBAC permissions not currently held:\n${missing.map(compactRule).join('\n')}`,
      );
    };
    if (type.plural === 'roles' || type.plural === 'clusterroles') {
      if (
        authz.authorize({
          user,
          verb: 'escalate',
          isResourceRequest: true,
          namespace: ns,
          apiGroup: type.group,
          resource: type.plural,
          name,
        }).allowed
      )
        return;
      const missing = authz.missingRules(user, ns, (obj.rules as PolicyRule[] | undefined) ?? []);
      if (missing.length) refuse(missing);
    } else if (type.plural === 'rolebindings' || type.plural === 'clusterrolebindings') {
      const ref = obj.roleRef as RoleRef;
      const refResource = ref.kind === 'Role' ? 'roles' : 'clusterroles';
      if (
        authz.authorize({
          user,
          verb: 'bind',
          isResourceRequest: true,
          namespace: ns,
          apiGroup: 'rbac.authorization.k8s.io',
          resource: refResource,
          name: ref.name,
        }).allowed
      )
        return;
      const role =
        ref.kind === 'Role'
          ? this.deps.store.peek('roles', ns, ref.name)
          : this.deps.store.peek('clusterroles', undefined, ref.name);
      if (!role) throw notFound({ group: 'rbac.authorization.k8s.io', resource: refResource }, ref.name);
      const missing = authz.missingRules(user, ns, (role.rules as PolicyRule[] | undefined) ?? []);
      if (missing.length) refuse(missing);
    }
  }

  private admit(type: ResourceType, obj: KubeObject, old: KubeObject | undefined, user: SimUserInfo): void {
    applyDefaults(type, obj, this.deps.admission, !old);
    const errs: FieldError[] = validateObject(type, obj);
    if (old) errs.push(...validateUpdate(type, obj, old));
    if (errs.length) throw invalid({ group: type.group, kind: type.kind }, obj.metadata.name, errs);
    if (['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'].includes(type.plural)) {
      if (
        !old ||
        JSON.stringify(old.rules) !== JSON.stringify(obj.rules) ||
        JSON.stringify(old.roleRef) !== JSON.stringify(obj.roleRef)
      )
        this.checkEscalation(type, obj, user);
    }
  }

  private async create(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    ctx: RequestContext,
  ): Promise<void> {
    const obj = await this.readObjectBody(req, type);
    const warnings = this.checkFields(type, obj, this.fieldValidation(ctx.url));
    const dryRun = this.isDryRun(ctx.url);
    this.prepareIncoming(type, obj, ctx.info.namespace);
    const meta = obj.metadata;
    if (!meta.name && typeof meta.generateName === 'string' && meta.generateName)
      meta.name = `${meta.generateName}${randomSuffix(5)}`;
    for (const k of [
      'uid',
      'resourceVersion',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'generation',
      'selfLink',
      'managedFields',
    ])
      delete meta[k];
    if (type.plural === 'pods') delete asObj(obj.spec).nodeName;
    const fieldManager = ctx.url.searchParams.get('fieldManager');
    if (fieldManager !== null && fieldManager.length > 128)
      throw invalid({ group: type.group, kind: type.kind }, meta.name, [
        {
          type: 'FieldValueTooLong' as never,
          field: 'fieldManager',
          detail: 'must have at most 128 characters',
        },
      ]);
    this.admit(type, obj, undefined, ctx.user);
    if (type.plural === 'pods' && obj.status)
      obj.status = { phase: 'Pending', qosClass: asObj(obj.status).qosClass ?? 'BestEffort' };
    if (this.deps.store.peek(type.plural, type.namespaced ? meta.namespace : undefined, meta.name))
      throw this.alreadyExists(type, meta.name);
    this.checkNamespaceFor(type, ctx.info.namespace, meta.name);
    this.recordManager(obj, fieldManager ?? this.defaultManager(req), 'Update');
    if (dryRun) {
      meta.uid = randomUUID();
      meta.creationTimestamp = nowTimestamp();
      return this.sendObject(req, res, type, 201, obj, warnings);
    }
    const created = this.deps.store.create(type.plural, obj);
    this.sendObject(req, res, type, 201, created, warnings);
  }

  private alreadyExists(type: ResourceType, name: string): StatusError {
    return new StatusError({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `${type.group ? `${type.plural}.${type.group}` : type.plural} "${name}" already exists`,
      reason: 'AlreadyExists',
      details: { name, ...(type.group ? { group: type.group } : {}), kind: type.plural },
      code: 409,
    });
  }

  private defaultManager(req: IncomingMessage): string {
    const ua = req.headers['user-agent'] ?? 'unknown';
    return ua.split('/')[0] || 'unknown';
  }

  private recordManager(
    obj: KubeObject,
    manager: string,
    operation: 'Update' | 'Apply',
    subresource?: string,
  ): void {
    const entries = ((obj.metadata.managedFields as Obj[] | undefined) ?? []).filter(
      (e) => !(e.manager === manager && e.operation === operation && e.subresource === subresource),
    );
    const entry: Obj = {
      manager,
      operation,
      apiVersion: obj.apiVersion,
      time: nowTimestamp(),
      fieldsType: 'FieldsV1',
      fieldsV1: {},
    };
    if (subresource) entry.subresource = subresource;
    entries.push(entry);
    obj.metadata.managedFields = entries;
  }

  private async update(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    ctx: RequestContext,
  ): Promise<void> {
    const { info, url } = ctx;
    const sub = info.subresource;
    if (sub === 'scale') {
      const body = await this.readObjectBody(req, undefined);
      return this.writeScale(res, type, info.namespace, info.name, body, ctx);
    }
    if (sub && sub !== 'status') throw pathNotFound();
    const obj = await this.readObjectBody(req, type);
    const warnings = this.checkFields(type, obj, this.fieldValidation(url));
    if (obj.metadata.name && obj.metadata.name !== info.name) {
      throw badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`,
      );
    }
    obj.metadata.name = info.name;
    this.prepareIncoming(type, obj, info.namespace);
    const current = this.mustGet(type, info.namespace, info.name);
    const updated = this.mergeForWrite(type, current, obj, sub);
    this.commitUpdate(
      req,
      res,
      type,
      current,
      updated,
      ctx,
      warnings,
      url.searchParams.get('fieldManager') ?? this.defaultManager(req),
      'Update',
    );
  }

  /** What a write keeps of the stored object: status for main-resource writes, everything but status for /status. */
  private mergeForWrite(
    type: ResourceType,
    current: KubeObject,
    incoming: KubeObject,
    sub: string,
  ): KubeObject {
    const hasStatus = type.subresources.some((s) => s.name === 'status');
    if (sub === 'status') {
      const merged = structuredClone(current);
      merged.status = incoming.status;
      merged.metadata.resourceVersion = incoming.metadata.resourceVersion;
      return merged;
    }
    const out = structuredClone(incoming);
    if (hasStatus) {
      if (current.status !== undefined) out.status = structuredClone(current.status);
      else delete out.status;
    }
    // Server-owned metadata survives client writes.
    out.metadata.uid = current.metadata.uid;
    out.metadata.creationTimestamp = current.metadata.creationTimestamp;
    if (current.metadata.deletionTimestamp)
      out.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    out.metadata.managedFields ??= current.metadata.managedFields;
    if (type.plural === 'services') {
      const s = asObj(out.spec);
      const old = asObj(current.spec);
      if (!s.clusterIP && old.clusterIP) s.clusterIP = old.clusterIP;
      if (!s.clusterIPs && old.clusterIPs) s.clusterIPs = old.clusterIPs;
    }
    if (type.plural === 'pods') {
      const s = asObj(out.spec);
      const old = asObj(current.spec);
      if (old.nodeName && !s.nodeName) s.nodeName = old.nodeName;
    }
    return out;
  }

  private commitUpdate(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    current: KubeObject,
    updated: KubeObject,
    ctx: RequestContext,
    warnings: string[],
    manager: string,
    operation: 'Update' | 'Apply',
  ): void {
    this.admit(type, updated, current, ctx.user);
    this.recordManager(updated, manager, operation, ctx.info.subresource || undefined);
    if (this.isDryRun(ctx.url)) return this.sendObject(req, res, type, 200, updated, warnings);
    const stored = this.deps.store.update(type.plural, updated);
    this.sendObject(req, res, type, 200, stored, warnings);
  }

  private async patch(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    ctx: RequestContext,
  ): Promise<void> {
    const { info, url } = ctx;
    const ct = mediaType(req.headers['content-type']);
    const patchTypes = [
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
      'application/apply-patch+cbor',
    ];
    if (!patchTypes.includes(ct)) throw unsupportedMediaType(ct, patchTypes.slice(0, 4));
    const raw = (await this.readBody(req)).toString('utf8');
    let patch: unknown;
    try {
      patch = ct === 'application/apply-patch+yaml' ? parseYaml(raw) : JSON.parse(raw);
    } catch (err) {
      if (ct === 'application/apply-patch+yaml')
        throw badRequest(
          `error decoding YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        );
      throw badRequest(`error decoding patch: ${goJsonError(err, raw)}`);
    }
    const sub = info.subresource;
    const isApply = ct === 'application/apply-patch+yaml';
    const fieldManager = url.searchParams.get('fieldManager');
    if (isApply && !fieldManager) {
      throw genericInvalid(
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      );
    }
    if (sub === 'scale') {
      const current = this.mustGet(type, info.namespace, info.name);
      const scale = this.scaleOf(type, current) as unknown as Json;
      const patched = this.applyPatchBody(ct, scale, patch);
      return this.writeScale(res, type, info.namespace, info.name, patched as unknown as KubeObject, ctx);
    }
    if (sub && sub !== 'status') throw pathNotFound();
    const current = this.deps.store.get(type.plural, type.namespaced ? info.namespace : undefined, info.name);
    if (!current) {
      if (!isApply) throw notFound({ group: type.group, resource: type.plural }, info.name);
      if (!isObject(patch))
        throw badRequest('error decoding YAML: the applied configuration must be an object');
      const obj = patch as unknown as KubeObject;
      this.checkKind(type, obj);
      if (!isObject(obj.metadata)) obj.metadata = { name: info.name };
      if (obj.metadata.name && obj.metadata.name !== info.name)
        throw badRequest(
          `the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`,
        );
      obj.metadata.name = info.name;
      const warnings = this.checkFields(type, obj, this.fieldValidation(url), '');
      this.prepareIncoming(type, obj, info.namespace);
      this.admit(type, obj, undefined, ctx.user);
      this.checkNamespaceFor(type, info.namespace, info.name);
      this.recordManager(obj, fieldManager ?? 'kubectl', 'Apply');
      if (this.isDryRun(url)) return this.sendObject(req, res, type, 201, obj, warnings);
      return this.sendObject(req, res, type, 201, this.deps.store.create(type.plural, obj), warnings);
    }
    if (isApply && isObject(patch)) this.checkKind(type, patch);
    const base = structuredClone(current) as unknown as Json;
    const patched = this.applyPatchBody(ct, base, patch) as unknown;
    if (!isObject(patched)) throw badRequest('the patched object is not an object');
    const obj = patched as unknown as KubeObject;
    if (!isObject(obj.metadata)) obj.metadata = { name: info.name };
    if (obj.metadata.name !== info.name)
      throw badRequest(
        `the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${info.name})`,
      );
    const warnings = this.checkFields(
      type,
      obj,
      this.fieldValidation(url),
      isApply ? '' : 'strict decoding error: ',
    );
    this.prepareIncoming(type, obj, info.namespace);
    // A patch that names a resourceVersion is a precondition; otherwise it applies to the current one.
    const patchRv = isObject(patch) ? asObj((patch as Obj).metadata).resourceVersion : undefined;
    obj.metadata.resourceVersion = typeof patchRv === 'string' ? patchRv : current.metadata.resourceVersion;
    const updated = this.mergeForWrite(type, current, obj, sub);
    if (sub === 'status') updated.metadata.resourceVersion = obj.metadata.resourceVersion;
    this.commitUpdate(
      req,
      res,
      type,
      current,
      updated,
      ctx,
      warnings,
      fieldManager ?? this.defaultManager(req),
      isApply ? 'Apply' : 'Update',
    );
  }

  private applyPatchBody(ct: string, base: Json, patch: unknown): Json {
    try {
      switch (ct) {
        case 'application/json-patch+json':
          return applyJsonPatch(base, patch);
        case 'application/merge-patch+json':
          if (!isObject(patch))
            throw new PatchError(
              'json: cannot unmarshal into Go value of type map[string]interface {}',
              'bad',
            );
          return applyMergePatch(base, patch);
        case 'application/strategic-merge-patch+json':
          if (!isObject(patch))
            throw new PatchError(
              'json: cannot unmarshal into Go value of type map[string]interface {}',
              'bad',
            );
          return strategicMerge(base, patch);
        default:
          if (!isObject(patch))
            throw new PatchError('error decoding YAML: the applied configuration must be an object', 'bad');
          return applyConfiguration(base, patch);
      }
    } catch (err) {
      if (err instanceof PatchError) {
        if (err.kind === 'bad') throw badRequest(err.message);
        throw new StatusError({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: err.message,
          reason: 'Invalid',
          code: 422,
        });
      }
      throw err;
    }
  }

  // ---- scale ----

  private scaleOf(type: ResourceType, obj: KubeObject): Obj {
    if (type.plural !== 'deployments' && type.plural !== 'replicasets') throw pathNotFound();
    const spec = asObj(obj.spec);
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
        creationTimestamp: obj.metadata.creationTimestamp,
      },
      spec: { replicas: spec.replicas ?? 1 },
      status: {
        replicas: asObj(obj.status).replicas ?? 0,
        selector: formatObjectSelector(spec.selector as ObjectLabelSelector).replace(/^<none>$/, ''),
      },
    };
  }

  private writeScale(
    res: ServerResponse,
    type: ResourceType,
    namespace: string,
    name: string,
    scale: KubeObject,
    ctx: RequestContext,
  ): void {
    const current = this.mustGet(type, namespace, name);
    if (scale.kind !== undefined && scale.kind !== 'Scale')
      throw badRequest(
        `${String(scale.kind)} in version "v1" cannot be handled as a Scale: no kind "${String(scale.kind)}" is registered for version "autoscaling/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"`,
      );
    const replicas = asObj(scale.spec).replicas;
    if (typeof replicas !== 'number' || replicas < 0 || !Number.isInteger(replicas)) {
      throw invalid({ group: 'autoscaling', kind: 'Scale' }, name, [
        {
          type: 'FieldValueInvalid',
          field: 'spec.replicas',
          value: replicas ?? null,
          detail: 'must be greater than or equal to 0',
        },
      ]);
    }
    const rv = asObj(scale.metadata).resourceVersion;
    if (typeof rv === 'string' && rv && rv !== current.metadata.resourceVersion)
      throw conflict({ group: type.group, resource: type.plural }, name, OBJECT_MODIFIED);
    const updated = structuredClone(current);
    asObj(updated.spec).replicas = replicas;
    if (this.isDryRun(ctx.url)) return this.sendJson(res, 200, this.scaleOf(type, updated));
    const stored = this.deps.store.update(type.plural, updated);
    this.sendJson(res, 200, this.scaleOf(type, stored));
  }

  // ---- delete ----

  private async deleteOptions(req: IncomingMessage): Promise<Obj> {
    const body = await this.readBody(req);
    if (body.length === 0) return {};
    try {
      const parsed = JSON.parse(body.toString('utf8')) as unknown;
      return asObj(parsed);
    } catch (err) {
      throw badRequest(
        `the object provided is unrecognized (must be of type DeleteOptions): couldn't get version/kind; json parse error: ${goJsonError(err, body.toString('utf8'))} (${summarizeData(body)})`,
      );
    }
  }

  private async delete(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    ctx: RequestContext,
  ): Promise<void> {
    const { info, url } = ctx;
    const options = await this.deleteOptions(req);
    const dryRun = this.isDryRun(url) || (Array.isArray(options.dryRun) && options.dryRun.includes('All'));
    const current = this.mustGet(type, info.namespace, info.name);
    const deleted = this.deleteOne(type, current, options, dryRun);
    if (RETURNS_DELETED_OBJECT.has(type.plural)) return this.sendObject(req, res, type, 200, deleted);
    this.sendJson(
      res,
      200,
      success({
        name: current.metadata.name,
        ...(type.group ? { group: type.group } : {}),
        kind: type.plural,
        uid: String(current.metadata.uid),
      } as never),
    );
  }

  private deleteOne(type: ResourceType, current: KubeObject, options: Obj, dryRun: boolean): KubeObject {
    const store = this.deps.store;
    const pre = asObj(options.preconditions);
    const gr = { group: type.group, resource: type.plural };
    if (typeof pre.uid === 'string' && pre.uid !== current.metadata.uid) {
      throw conflict(
        gr,
        current.metadata.name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(current.metadata.uid)}`,
      );
    }
    if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(
        gr,
        current.metadata.name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(current.metadata.resourceVersion)}`,
      );
    }
    if (type.plural === 'namespaces') {
      if (['default', 'kube-system', 'kube-public'].includes(current.metadata.name)) {
        throw forbidden(gr, current.metadata.name, 'this namespace may not be deleted');
      }
      if (dryRun || current.metadata.deletionTimestamp) return current;
      // Namespace deletion is two-phase: Terminating now, gone once the controller has emptied it.
      const terminating = structuredClone(current);
      terminating.metadata.deletionTimestamp = nowTimestamp();
      terminating.status = { ...asObj(terminating.status), phase: 'Terminating' };
      return store.update('namespaces', terminating);
    }
    if (dryRun) return current;
    const policy = options.propagationPolicy ?? (options.orphanDependents === true ? 'Orphan' : undefined);
    if (policy === 'Orphan') {
      for (const resource of store.resources()) {
        for (const dep of store.peekList(resource, current.metadata.namespace)) {
          const refs = (dep.metadata.ownerReferences as { uid: string }[] | undefined) ?? [];
          if (!refs.some((r) => r.uid === current.metadata.uid)) continue;
          const copy = structuredClone(dep);
          copy.metadata.ownerReferences = refs.filter((r) => r.uid !== current.metadata.uid);
          if ((copy.metadata.ownerReferences as unknown[]).length === 0) delete copy.metadata.ownerReferences;
          store.update(resource, copy);
        }
      }
    }
    return store.delete(
      type.plural,
      type.namespaced ? current.metadata.namespace : undefined,
      current.metadata.name,
    );
  }

  private async deleteCollection(
    req: IncomingMessage,
    res: ServerResponse,
    type: ResourceType,
    ctx: RequestContext,
  ): Promise<void> {
    const { info, url } = ctx;
    if (!type.verbs.includes('deletecollection'))
      throw methodNotSupported({ group: type.group, resource: type.plural }, 'deletecollection');
    const options = await this.deleteOptions(req);
    const match = this.matcher(type, info.namespace, url);
    const dryRun = this.isDryRun(url);
    const items = this.deps.store
      .peekList(type.plural, type.namespaced && info.namespace ? info.namespace : undefined)
      .filter(match)
      .map((o) => structuredClone(o));
    const deleted = items.map((o) => this.deleteOne(type, o, options, dryRun));
    this.sendJson(res, 200, {
      kind: `${type.kind}List`,
      apiVersion: apiVersionOf(type),
      metadata: { resourceVersion: String(this.deps.store.currentResourceVersion()) },
      items: deleted.map((o) => this.typed(type, o)),
    });
  }

  private async evict(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    await this.readBody(req);
    const { info } = ctx;
    const pod = this.deps.store.get('pods', info.namespace, info.name);
    if (!pod) throw notFound({ group: '', resource: 'pods' }, info.name);
    this.deps.store.delete('pods', info.namespace, info.name);
    this.sendJson(res, 201, success());
  }

  // ---- reviews ----

  private review(type: ResourceType, body: KubeObject, ctx: RequestContext): Obj {
    const authz = this.deps.authorizer;
    const spec = asObj(body.spec);
    const out: Obj = {
      kind: type.kind,
      apiVersion: apiVersionOf(type),
      metadata: { ...body.metadata, creationTimestamp: null },
      spec,
    };
    const gk = { group: type.group, kind: type.kind };
    const accessStatus = (user: SimUserInfo, namespaceOverride?: string): Obj => {
      const ra = spec.resourceAttributes !== undefined ? asObj(spec.resourceAttributes) : undefined;
      const nra = spec.nonResourceAttributes !== undefined ? asObj(spec.nonResourceAttributes) : undefined;
      if (ra && nra)
        throw invalid(gk, '', [
          {
            type: 'FieldValueInvalid',
            field: 'spec.nonResourceAttributes',
            value: nra,
            detail: 'cannot be specified in combination with resourceAttributes',
          },
        ]);
      if (!ra && !nra)
        throw invalid(gk, '', [
          {
            type: 'FieldValueRequired',
            field: 'spec.resourceAttributes',
            detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified',
          },
        ]);
      const attrs: AuthorizationAttributes = ra
        ? {
            user,
            verb: text(ra.verb),
            isResourceRequest: true,
            namespace: namespaceOverride ?? text(ra.namespace),
            apiGroup: text(ra.group),
            apiVersion: text(ra.version),
            resource: text(ra.resource),
            subresource: text(ra.subresource),
            name: text(ra.name),
          }
        : { user, verb: text(nra?.verb), isResourceRequest: false, path: text(nra?.path) };
      const d = authz.authorize(attrs);
      const status: Obj = { allowed: d.allowed };
      if (d.reason) status.reason = d.reason;
      return status;
    };
    switch (type.kind) {
      case 'SelfSubjectAccessReview':
        out.status = accessStatus(ctx.user);
        return out;
      case 'SubjectAccessReview': {
        const user = typeof spec.user === 'string' ? spec.user : '';
        const groups = Array.isArray(spec.groups) ? (spec.groups as string[]) : [];
        if (!user && groups.length === 0)
          throw invalid(gk, '', [
            {
              type: 'FieldValueInvalid',
              field: 'spec.user',
              value: '',
              detail: 'at least one of user or group must be specified',
            },
          ]);
        const subject: SimUserInfo = {
          username: user,
          groups,
          extra: spec.extra as Record<string, string[]> | undefined,
          uid: typeof spec.uid === 'string' ? spec.uid : undefined,
        };
        out.status = accessStatus(subject);
        return out;
      }
      case 'LocalSubjectAccessReview': {
        const ns = ctx.info.namespace;
        const ra = asObj(spec.resourceAttributes);
        const bodyNs = String(body.metadata.namespace ?? '');
        if (bodyNs && bodyNs !== ns)
          throw badRequest(
            'the namespace of the provided object does not match the namespace sent on the request',
          );
        if (spec.nonResourceAttributes !== undefined)
          throw invalid(gk, '', [
            {
              type: 'FieldValueInvalid',
              field: 'spec.nonResourceAttributes',
              value: spec.nonResourceAttributes,
              detail: 'disallowed on this kind of request',
            },
          ]);
        if (ra.namespace && ra.namespace !== ns)
          throw invalid(gk, '', [
            {
              type: 'FieldValueInvalid',
              field: 'spec.resourceAttributes.namespace',
              value: ra.namespace,
              detail: 'must match metadata.namespace',
            },
          ]);
        const user = typeof spec.user === 'string' ? spec.user : '';
        const groups = Array.isArray(spec.groups) ? (spec.groups as string[]) : [];
        if (!user && groups.length === 0)
          throw invalid(gk, '', [
            {
              type: 'FieldValueInvalid',
              field: 'spec.user',
              value: '',
              detail: 'at least one of user or group must be specified',
            },
          ]);
        out.metadata = { ...asObj(out.metadata), namespace: ns };
        out.status = accessStatus(
          { username: user, groups, extra: spec.extra as Record<string, string[]> | undefined },
          ns,
        );
        return out;
      }
      case 'SelfSubjectRulesReview': {
        const ns = text(spec.namespace);
        const rules = authz.rulesFor(ctx.user, ns);
        const status: Obj = {
          resourceRules: rules.resourceRules,
          nonResourceRules: rules.nonResourceRules,
          incomplete: false,
        };
        if (ctx.user.groups.includes('system:masters')) {
          // The superuser short-circuit grants everything, whatever the bindings say.
          status.resourceRules = [
            { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
            ...rules.resourceRules,
          ];
          status.nonResourceRules = [{ verbs: ['*'], nonResourceURLs: ['*'] }, ...rules.nonResourceRules];
        }
        if (rules.errors.length) status.evaluationError = rules.errors.join(', ');
        out.status = status;
        return out;
      }
      case 'SelfSubjectReview': {
        const userInfo: Obj = { username: ctx.user.username, groups: ctx.user.groups };
        if (ctx.user.uid) userInfo.uid = ctx.user.uid;
        if (ctx.user.extra && Object.keys(ctx.user.extra).length) userInfo.extra = ctx.user.extra;
        out.status = { userInfo };
        delete out.spec;
        return out;
      }
      case 'TokenReview': {
        const token = typeof spec.token === 'string' ? spec.token : '';
        const audiences =
          Array.isArray(spec.audiences) && spec.audiences.length ? (spec.audiences as string[]) : undefined;
        const result = token
          ? this.deps.authenticator.authenticateToken(token, audiences ?? [API_AUDIENCE])
          : undefined;
        if (!result) {
          out.status = { user: {}, error: token ? '[invalid bearer token, token lookup failed]' : '' };
          return out;
        }
        const user: Obj = { username: result.user.username, groups: result.user.groups };
        if (result.user.uid) user.uid = result.user.uid;
        if (result.user.extra && Object.keys(result.user.extra).length) user.extra = result.user.extra;
        out.status = { authenticated: true, user, audiences: result.audiences };
        return out;
      }
      default:
        throw pathNotFound();
    }
  }

  private tokenRequest(body: KubeObject, ctx: RequestContext): Obj {
    const { info } = ctx;
    if (body.kind !== undefined && body.kind !== 'TokenRequest') {
      throw badRequest(
        `${String(body.kind)} in version "v1" cannot be handled as a TokenRequest: no kind "${String(body.kind)}" is registered for version "authentication.k8s.io/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"`,
      );
    }
    const sa = this.deps.store.peek('serviceaccounts', info.namespace, info.name);
    if (!sa) throw notFound({ group: '', resource: 'serviceaccounts' }, info.name);
    const spec = asObj(body.spec);
    const gk = { group: 'authentication.k8s.io', kind: 'TokenRequest' };
    const expirationSeconds =
      spec.expirationSeconds === undefined || spec.expirationSeconds === null
        ? 3600
        : Number(spec.expirationSeconds);
    if (!Number.isFinite(expirationSeconds) || expirationSeconds < 600) {
      throw invalid(gk, info.name, [
        {
          type: 'FieldValueInvalid',
          field: 'spec.expirationSeconds',
          value: expirationSeconds,
          detail: 'may not specify a duration less than 10 minutes',
        },
      ]);
    }
    if (expirationSeconds > 2 ** 32) {
      throw invalid(gk, info.name, [
        {
          type: 'FieldValueInvalid',
          field: 'spec.expirationSeconds',
          value: expirationSeconds,
          detail: 'may not specify a duration larger than 2^32 seconds',
        },
      ]);
    }
    const audiences =
      Array.isArray(spec.audiences) && spec.audiences.length ? (spec.audiences as string[]) : [API_AUDIENCE];
    const bound = spec.boundObjectRef ? asObj(spec.boundObjectRef) : undefined;
    let boundObject: { kind: 'Pod' | 'Secret'; name: string; uid?: string } | undefined;
    if (bound) {
      const kind = text(bound.kind);
      if (kind !== 'Pod' && kind !== 'Secret') {
        throw invalid(gk, info.name, [
          {
            type: 'FieldValueNotSupported',
            field: 'spec.boundObjectRef.kind',
            value: kind,
            detail: 'supported values: "Pod", "Secret"',
          },
        ]);
      }
      const obj = this.deps.store.peek(kind === 'Pod' ? 'pods' : 'secrets', info.namespace, text(bound.name));
      if (!obj)
        throw notFound({ group: '', resource: kind === 'Pod' ? 'pods' : 'secrets' }, text(bound.name));
      if (bound.uid && bound.uid !== obj.metadata.uid) {
        throw conflict(
          { group: '', resource: kind === 'Pod' ? 'pods' : 'secrets' },
          text(bound.name),
          `the UID in the bound object reference (${text(bound.uid)}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      }
      boundObject = { kind, name: obj.metadata.name, uid: String(obj.metadata.uid) };
    }
    const issued = this.deps.tokens.issue(info.namespace, info.name, String(sa.metadata.uid), {
      audiences,
      expirationSeconds,
      boundObject,
    });
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: info.name, namespace: info.namespace, creationTimestamp: nowTimestamp() },
      spec: { audiences, expirationSeconds, boundObjectRef: bound ?? null },
      status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp },
    };
  }
}

function findKind(group: string, kind: string): boolean {
  return (
    [
      'Pod',
      'Service',
      'Namespace',
      'ConfigMap',
      'Secret',
      'Endpoints',
      'ServiceAccount',
      'Event',
      'Node',
      'PersistentVolume',
      'PersistentVolumeClaim',
      'Deployment',
      'ReplicaSet',
      'Role',
      'RoleBinding',
      'ClusterRole',
      'ClusterRoleBinding',
      'EndpointSlice',
      'PodDisruptionBudget',
      'Ingress',
    ].some((k) => k === kind) && group !== undefined
  );
}

export { qualifiedKind };
