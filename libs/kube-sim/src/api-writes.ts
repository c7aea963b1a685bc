// Writes of the simulator's API server: create, update (status subresource included) and the four
// patch types, with defaulting, validation, RBAC escalation checks and managedFields.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { randomUUID } from 'node:crypto';
import { applyDefaults, randomSuffix, validateObject, validateUpdate } from './admission';
import type { KubeObject, SimUserInfo } from './contract';
import {
  applyConfiguration,
  applyJsonPatch,
  applyMergePatch,
  isObject,
  PatchError,
  strategicMerge,
  type Json,
} from './patch';
import { compactRule, type PolicyRule, type RoleRef } from './rbac';
import { apiVersionOf, type ResourceType } from './resources';
import {
  badRequest,
  forbidden,
  genericInvalid,
  invalid,
  notFound,
  pathNotFound,
  StatusError,
  unsupportedMediaType,
  type FieldError,
} from './status';
import { nowTimestamp } from './store';
import {
  asObj,
  checkFields,
  checkKind,
  fieldValidation,
  goJsonError,
  isDryRun,
  mediaType,
  mustGet,
  readBody,
  readObjectBody,
  sendObject,
  type ApiServerDeps,
  type Obj,
  type RequestContext,
} from './api-exchange';
import { scaleOf, writeScale } from './api-deletes';

export function checkNamespaceFor(
  deps: ApiServerDeps,
  type: ResourceType,
  namespace: string,
  name: string,
): void {
  if (!type.namespaced) return;
  const ns = deps.store.peek('namespaces', undefined, namespace);
  if (!ns) throw notFound({ group: '', resource: 'namespaces' }, namespace);
  if (ns.metadata.deletionTimestamp) {
    throw forbidden(
      { group: type.group, resource: type.plural },
      name,
      `unable to create new content in namespace ${namespace} because it is being terminated`,
    );
  }
}

export function prepareIncoming(type: ResourceType, obj: KubeObject, namespace: string): void {
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
export function checkEscalation(
  deps: ApiServerDeps,
  type: ResourceType,
  obj: KubeObject,
  user: SimUserInfo,
): void {
  const authz = deps.authorizer;
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
        ? deps.store.peek('roles', ns, ref.name)
        : deps.store.peek('clusterroles', undefined, ref.name);
    if (!role) throw notFound({ group: 'rbac.authorization.k8s.io', resource: refResource }, ref.name);
    const missing = authz.missingRules(user, ns, (role.rules as PolicyRule[] | undefined) ?? []);
    if (missing.length) refuse(missing);
  }
}

export function admit(
  deps: ApiServerDeps,
  type: ResourceType,
  obj: KubeObject,
  old: KubeObject | undefined,
  user: SimUserInfo,
): void {
  applyDefaults(type, obj, deps.admission, !old);
  const errs: FieldError[] = validateObject(type, obj);
  if (old) errs.push(...validateUpdate(type, obj, old));
  if (errs.length) throw invalid({ group: type.group, kind: type.kind }, obj.metadata.name, errs);
  if (['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'].includes(type.plural)) {
    if (
      !old ||
      JSON.stringify(old.rules) !== JSON.stringify(obj.rules) ||
      JSON.stringify(old.roleRef) !== JSON.stringify(obj.roleRef)
    )
      checkEscalation(deps, type, obj, user);
  }
}

export async function createObject(
  deps: ApiServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
): Promise<void> {
  const obj = await readObjectBody(req, type);
  const warnings = checkFields(type, obj, fieldValidation(ctx.url));
  const dryRun = isDryRun(ctx.url);
  prepareIncoming(type, obj, ctx.info.namespace);
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
  admit(deps, type, obj, undefined, ctx.user);
  if (type.plural === 'pods' && obj.status)
    obj.status = { phase: 'Pending', qosClass: asObj(obj.status).qosClass ?? 'BestEffort' };
  if (deps.store.peek(type.plural, type.namespaced ? meta.namespace : undefined, meta.name))
    throw alreadyExists(type, meta.name);
  checkNamespaceFor(deps, type, ctx.info.namespace, meta.name);
  recordManager(obj, fieldManager ?? defaultManager(req), 'Update');
  if (dryRun) {
    meta.uid = randomUUID();
    meta.creationTimestamp = nowTimestamp();
    return sendObject(req, res, type, 201, obj, warnings);
  }
  const created = deps.store.create(type.plural, obj);
  sendObject(req, res, type, 201, created, warnings);
}

export function alreadyExists(type: ResourceType, name: string): StatusError {
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

export function defaultManager(req: IncomingMessage): string {
  const ua = req.headers['user-agent'] ?? 'unknown';
  return ua.split('/')[0] || 'unknown';
}

export function recordManager(
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

export async function updateObject(
  deps: ApiServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
): Promise<void> {
  const { info, url } = ctx;
  const sub = info.subresource;
  if (sub === 'scale') {
    const body = await readObjectBody(req, undefined);
    return writeScale(deps, res, type, info.namespace, info.name, body, ctx);
  }
  if (sub && sub !== 'status') throw pathNotFound();
  const obj = await readObjectBody(req, type);
  const warnings = checkFields(type, obj, fieldValidation(url));
  if (obj.metadata.name && obj.metadata.name !== info.name) {
    throw badRequest(
      `the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`,
    );
  }
  obj.metadata.name = info.name;
  prepareIncoming(type, obj, info.namespace);
  const current = mustGet(deps, type, info.namespace, info.name);
  const updated = mergeForWrite(type, current, obj, sub);
  commitUpdate(
    deps,
    req,
    res,
    type,
    current,
    updated,
    ctx,
    warnings,
    url.searchParams.get('fieldManager') ?? defaultManager(req),
    'Update',
  );
}

/** What a write keeps of the stored object: status for main-resource writes, everything but status for /status. */
export function mergeForWrite(
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
  if (current.metadata.deletionTimestamp) out.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
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

export function commitUpdate(
  deps: ApiServerDeps,
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
  admit(deps, type, updated, current, ctx.user);
  recordManager(updated, manager, operation, ctx.info.subresource || undefined);
  if (isDryRun(ctx.url)) return sendObject(req, res, type, 200, updated, warnings);
  const stored = deps.store.update(type.plural, updated);
  sendObject(req, res, type, 200, stored, warnings);
}

export async function patchObject(
  deps: ApiServerDeps,
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
  const raw = (await readBody(req)).toString('utf8');
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
    const current = mustGet(deps, type, info.namespace, info.name);
    const scale = scaleOf(type, current) as unknown as Json;
    const patched = applyPatchBody(ct, scale, patch);
    return writeScale(deps, res, type, info.namespace, info.name, patched as unknown as KubeObject, ctx);
  }
  if (sub && sub !== 'status') throw pathNotFound();
  const current = deps.store.get(type.plural, type.namespaced ? info.namespace : undefined, info.name);
  if (!current) {
    if (!isApply) throw notFound({ group: type.group, resource: type.plural }, info.name);
    if (!isObject(patch))
      throw badRequest('error decoding YAML: the applied configuration must be an object');
    const obj = patch as unknown as KubeObject;
    checkKind(type, obj);
    if (!isObject(obj.metadata)) obj.metadata = { name: info.name };
    if (obj.metadata.name && obj.metadata.name !== info.name)
      throw badRequest(
        `the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`,
      );
    obj.metadata.name = info.name;
    const warnings = checkFields(type, obj, fieldValidation(url), '');
    prepareIncoming(type, obj, info.namespace);
    admit(deps, type, obj, undefined, ctx.user);
    checkNamespaceFor(deps, type, info.namespace, info.name);
    recordManager(obj, fieldManager ?? 'kubectl', 'Apply');
    if (isDryRun(url)) return sendObject(req, res, type, 201, obj, warnings);
    return sendObject(req, res, type, 201, deps.store.create(type.plural, obj), warnings);
  }
  if (isApply && isObject(patch)) checkKind(type, patch);
  const base = structuredClone(current) as unknown as Json;
  const patched = applyPatchBody(ct, base, patch) as unknown;
  if (!isObject(patched)) throw badRequest('the patched object is not an object');
  const obj = patched as unknown as KubeObject;
  if (!isObject(obj.metadata)) obj.metadata = { name: info.name };
  if (obj.metadata.name !== info.name)
    throw badRequest(
      `the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${info.name})`,
    );
  const warnings = checkFields(type, obj, fieldValidation(url), isApply ? '' : 'strict decoding error: ');
  prepareIncoming(type, obj, info.namespace);
  // A patch that names a resourceVersion is a precondition; otherwise it applies to the current one.
  const patchRv = isObject(patch) ? asObj((patch as Obj).metadata).resourceVersion : undefined;
  obj.metadata.resourceVersion = typeof patchRv === 'string' ? patchRv : current.metadata.resourceVersion;
  const updated = mergeForWrite(type, current, obj, sub);
  if (sub === 'status') updated.metadata.resourceVersion = obj.metadata.resourceVersion;
  commitUpdate(
    deps,
    req,
    res,
    type,
    current,
    updated,
    ctx,
    warnings,
    fieldManager ?? defaultManager(req),
    isApply ? 'Apply' : 'Update',
  );
}

export function applyPatchBody(ct: string, base: Json, patch: unknown): Json {
  try {
    switch (ct) {
      case 'application/json-patch+json':
        return applyJsonPatch(base, patch);
      case 'application/merge-patch+json':
        if (!isObject(patch))
          throw new PatchError('json: cannot unmarshal into Go value of type map[string]interface {}', 'bad');
        return applyMergePatch(base, patch);
      case 'application/strategic-merge-patch+json':
        if (!isObject(patch))
          throw new PatchError('json: cannot unmarshal into Go value of type map[string]interface {}', 'bad');
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
