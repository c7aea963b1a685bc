// RequestInfo: what the API server's authorization filter sees in a request, computed the same way
// (apiserver endpoints/request/requestinfo.go) on the canonical target, so the gateway's
// SubjectAccessReview asks about exactly what the API server will check through impersonation.
import {
  canonicalizeRequestTarget,
  isRequestRejection,
  rejection,
  type RequestRejection,
  type TargetLimits,
  DEFAULT_TARGET_LIMITS,
} from './request-target';
import {
  exactFieldMatch,
  isValidPathSegmentName,
  listOptionsDecode,
  parseFieldSelector,
  queryFlag,
  watchFlagAfterDecodeError,
} from './list-options';

export interface RequestInfo {
  /** True for /api/<v>/… and /apis/<g>/<v>/… paths with a resource part. */
  readonly isResourceRequest: boolean;
  /** The decoded path (Go's req.URL.Path). */
  readonly path: string;
  /** Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection, proxy) or, for non-resource paths, the lowercase HTTP method. */
  readonly verb: string;
  readonly apiPrefix: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
  /** Path parts from the resource on: [resource, name, subresource, …]. */
  readonly parts: readonly string[];
  /** First `fieldSelector` value for list/watch/deletecollection (AuthorizeWithSelectors, 1.31+); '' otherwise. */
  readonly fieldSelector: string;
  /** First `labelSelector` value for list/watch/deletecollection; '' otherwise. */
  readonly labelSelector: string;
}

const API_PREFIXES: ReadonlySet<string> = new Set(['api', 'apis']);
const GROUPLESS_API_PREFIXES: ReadonlySet<string> = new Set(['api']);
// Legacy verbs carried in the path right after the version: /api/v1/watch/…, /api/v1/proxy/….
const PATH_VERBS: ReadonlySet<string> = new Set(['proxy', 'watch']);
const PATH_VERBS_WITHOUT_SUBRESOURCES: ReadonlySet<string> = new Set(['proxy']);
// namespaces/<ns>/status and /finalize are subresources of the namespace, not namespaced resources.
const NAMESPACE_SUBRESOURCES: ReadonlySet<string> = new Set(['status', 'finalize']);
const VERBS_WITH_SELECTORS: ReadonlySet<string> = new Set(['list', 'watch', 'deletecollection']);

/**
 * Resolves the RequestInfo of `method rawPathAndQuery` (the raw `req.url`), or refuses a target the
 * API server could read differently. A refusal is a 400 for the caller.
 */
export function resolveRequestInfo(
  method: string,
  rawPathAndQuery: string,
  limits: TargetLimits = DEFAULT_TARGET_LIMITS,
): RequestInfo | RequestRejection {
  const target = canonicalizeRequestTarget(rawPathAndQuery, limits);
  if (isRequestRejection(target)) return target;
  const { path, query } = target;

  const nonResource: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    parts: [],
    fieldSelector: '',
    labelSelector: '',
  };

  let parts = splitPath(path);
  if (parts.length < 3 || !API_PREFIXES.has(parts[0])) return nonResource;
  const apiPrefix = parts[0];
  parts = parts.slice(1);
  let apiGroup = '';
  if (!GROUPLESS_API_PREFIXES.has(apiPrefix)) {
    // /apis/<group>/<version>/<resource>: a group path needs four parts to name a resource.
    if (parts.length < 3) return { ...nonResource, apiPrefix };
    apiGroup = parts[0];
    parts = parts.slice(1);
  }
  const apiVersion = parts[0];
  parts = parts.slice(1);

  let verb: string;
  const verbViaPath = PATH_VERBS.has(parts[0]);
  if (verbViaPath) {
    if (parts.length < 2) {
      // The API server fails this with a 500 ("unable to determine kind and namespace from url").
      return rejection('incomplete-resource-path', `the path names "${parts[0]}" without a resource`);
    }
    verb = parts[0];
    parts = parts.slice(1);
  } else {
    verb = verbForMethod(method);
  }

  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) {
      parts = parts.slice(2);
    }
  }

  let resource = '';
  let name = '';
  let subresource = '';
  if (parts.length >= 3 && !PATH_VERBS_WITHOUT_SUBRESOURCES.has(verb)) subresource = parts[2];
  if (parts.length >= 2) name = parts[1];
  if (parts.length >= 1) resource = parts[0];

  if (name === '' && verb === 'get') {
    const decodes = listOptionsDecode(query);
    const watch = query.get('watch');
    verb = (decodes ? queryFlag(watch) : watchFlagAfterDecodeError(watch)) ? 'watch' : 'list';
    const fieldSelector = query.get('fieldSelector')?.[0];
    if (decodes && fieldSelector !== undefined) {
      const terms = parseFieldSelector(fieldSelector);
      const selectedName = terms === undefined ? undefined : exactFieldMatch(terms, 'metadata.name');
      if (selectedName !== undefined && isValidPathSegmentName(selectedName)) name = selectedName;
    }
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';

  let fieldSelector = '';
  let labelSelector = '';
  // Selectors are only authorization attributes on the collection verbs, and not via /watch/ paths.
  if (!verbViaPath && VERBS_WITH_SELECTORS.has(verb)) {
    fieldSelector = query.get('fieldSelector')?.[0] ?? '';
    labelSelector = query.get('labelSelector')?.[0] ?? '';
  }

  return {
    isResourceRequest: true,
    path,
    verb,
    apiPrefix,
    apiGroup,
    apiVersion,
    namespace,
    resource,
    subresource,
    name,
    parts,
    fieldSelector,
    labelSelector,
  };
}

function verbForMethod(method: string): string {
  switch (method) {
    case 'POST':
      return 'create';
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return '';
  }
}

function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/** Pod subresources that open an interactive stream; the API server (1.35+) demands `create` on them. */
const STREAMING_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach', 'portforward']);

export type StreamingTransport = 'websocket' | 'spdy';

export interface StreamingUpgrade {
  readonly subresource: 'exec' | 'attach' | 'portforward';
  readonly transport: StreamingTransport;
}

type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * The streaming upgrade this request asks for, if it is one: a WebSocket (kubectl's GET) or SPDY
 * (the POST fallback) upgrade to pods/exec, pods/attach or pods/portforward. `headers` are Node's
 * lowercase-keyed request headers.
 */
export function streamingUpgradeOf(headers: HeaderBag, info: RequestInfo): StreamingUpgrade | undefined {
  if (!isStreamingSubresource(info)) return undefined;
  const upgrade = headerText(headers.upgrade).toLowerCase();
  const tokens = upgrade.split(',').map((token) => token.trim());
  let transport: StreamingTransport | undefined;
  if (tokens.includes('websocket')) transport = 'websocket';
  else if (tokens.some((token) => token.startsWith('spdy/'))) transport = 'spdy';
  if (transport === undefined) return undefined;
  return { subresource: info.subresource as StreamingUpgrade['subresource'], transport };
}

/**
 * The verb the gateway authorizes: `create` for every request to pods/exec, attach and portforward
 * (WebSocket GETs resolve to `get`, SPDY POSTs to `create`; both open the same shell), and for an
 * upgrade through nodes/…/proxy — it reaches the kubelet's own exec, attach and portforward, so
 * `get nodes/proxy` (a read permission) must not open a shell; otherwise the RequestInfo verb.
 */
export function authorizationVerbFor(info: RequestInfo, upgrade = false): string {
  if (isStreamingSubresource(info)) return 'create';
  if (upgrade && isNodeProxy(info)) return 'create';
  return info.verb;
}

function isNodeProxy(info: RequestInfo): boolean {
  return (
    info.isResourceRequest &&
    info.apiGroup === '' &&
    info.resource === 'nodes' &&
    (info.subresource === 'proxy' || info.verb === 'proxy')
  );
}

function isStreamingSubresource(info: RequestInfo): boolean {
  return (
    info.isResourceRequest &&
    info.apiGroup === '' &&
    info.resource === 'pods' &&
    info.name !== '' &&
    STREAMING_SUBRESOURCES.has(info.subresource)
  );
}

function headerText(value: string | readonly string[] | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.join(',');
}
