// What every handler of the simulator's API server shares: the request context, reading and
// decoding bodies (JSON, YAML, protobuf) with the API server's error wording, and writing replies
// (objects, Tables, PartialObjectMetadata, Status).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { pruneUnknownFields, type AdmissionContext } from './admission';
import { type Authenticator, type ServiceAccountTokens } from './authentication';
import type { KubeObject, PodStreamsHandler, SimUserInfo } from './contract';
import { isObject } from './patch';
import {
  decodeKubernetesProtobuf,
  decodeKubernetesProtobufObject,
  ProtobufDecodeError,
  protobufObjectKinds,
} from './protobuf';
import { type RbacAuthorizer } from './rbac';
import { type RequestInfo } from './request-info';
import type { RequestLog, RequestLogEntry } from './request-log';
import { apiVersionOf, type ResourceType } from './resources';
import {
  badRequest,
  internalError,
  notFound,
  requestEntityTooLarge,
  StatusError,
  unsupportedMediaType,
  type StatusBody,
} from './status';
import { type ObjectStore } from './store';
import { buildTable, type IncludeObject } from './table';

export const MAX_BODY = 3 * 1024 * 1024;

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

export interface RequestContext {
  user: SimUserInfo;
  info: RequestInfo;
  url: URL;
  entry: RequestLogEntry;
}

export type Obj = Record<string, unknown>;

/** A scalar as text; objects and absent values are ''. */
export const text = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';

export const asObj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};

export function statusOf(err: unknown): StatusBody {
  if (err instanceof StatusError) return err.status;
  const message = err instanceof Error ? err.message : String(err);
  return internalError(message).status;
}

/** Go's encoding/json wording for the errors JSON.parse reports. */
export function goJsonError(err: unknown, text: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/end of (JSON )?input|Unterminated string/i.test(msg)) return 'unexpected end of JSON input';
  const pos = /position (\d+)/.exec(msg);
  const ch = pos ? text[Number(pos[1])] : /token '?(.)'?/.exec(msg)?.[1];
  return ch !== undefined ? `invalid character '${ch}' looking for beginning of value` : msg;
}

/** apiserver's summarizeData: what a decode error quotes of the body. */
export function summarizeData(body: Buffer, max = 30): string {
  if (body.length === 0) return '<empty>';
  if (body[0] === 0x7b)
    return body.length > max ? `${body.subarray(0, max).toString('utf8')} ...` : body.toString('utf8');
  return body.length > max ? `${body.subarray(0, max).toString('hex')} ...` : body.toString('hex');
}

export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

export function wantsTable(accept: string | undefined): boolean {
  return Boolean(accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept));
}

export function wantsPartialMetadata(accept: string | undefined): boolean {
  return Boolean(accept && /as=PartialObjectMetadata/.test(accept) && !wantsTable(accept));
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  contentType = 'application/json',
): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

export function sendStatus(res: ServerResponse, body: StatusBody): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, body.code, body);
}

export function typed(type: ResourceType, obj: KubeObject): KubeObject {
  return { apiVersion: apiVersionOf(type), kind: type.kind, ...obj, metadata: obj.metadata };
}

export function sendObject(
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
      { includeObject: includeObject(new URL(req.url ?? '/', 'https://x')) },
    );
    return sendJson(res, code, table, 'application/json;as=Table;v=v1;g=meta.k8s.io');
  }
  if (wantsPartialMetadata(accept)) {
    return sendJson(res, code, {
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: obj.metadata,
    });
  }
  sendJson(res, code, typed(type, obj));
}

export function includeObject(url: URL): IncludeObject {
  const v = url.searchParams.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

export function mustGet(
  deps: ApiServerDeps,
  type: ResourceType,
  namespace: string,
  name: string,
): KubeObject {
  const obj = deps.store.get(type.plural, type.namespaced ? namespace : undefined, name);
  if (!obj) throw notFound({ group: type.group, resource: type.plural }, name);
  return obj;
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
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
export async function readObjectBody(
  req: IncomingMessage,
  type: ResourceType | undefined,
  allowProtobuf = false,
): Promise<KubeObject> {
  const body = await readBody(req);
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
  if (type) checkKind(type, obj);
  if (!isObject(obj.metadata)) obj.metadata = { name: '' };
  return obj;
}

export function checkKind(type: ResourceType, obj: { apiVersion?: unknown; kind?: unknown }): void {
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

export function fieldValidation(url: URL): 'Strict' | 'Warn' | 'Ignore' {
  const v = url.searchParams.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got: ${v}`);
}

/** Prunes unknown fields; Strict turns them into a 400, Warn into Warning headers. */
export function checkFields(
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

export function isDryRun(url: URL): boolean {
  const v = url.searchParams.getAll('dryRun');
  if (v.some((x) => x !== 'All'))
    throw badRequest(`dryRun: Unsupported value: "${v.find((x) => x !== 'All')}": supported values: "All"`);
  return v.length > 0;
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
      'NetworkPolicy',
    ].some((k) => k === kind) && group !== undefined
  );
}
