// Deletes of the simulator's API server (preconditions, propagation, two-phase namespace deletion,
// deletecollection), the scale subresource and pod eviction.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from './contract';
import { apiVersionOf, type ResourceType } from './resources';
import { formatObjectSelector, type ObjectLabelSelector } from './selectors';
import {
  badRequest,
  conflict,
  forbidden,
  invalid,
  methodNotSupported,
  notFound,
  OBJECT_MODIFIED,
  pathNotFound,
  success,
} from './status';
import { nowTimestamp } from './store';
import {
  asObj,
  goJsonError,
  summarizeData,
  isDryRun,
  mustGet,
  readBody,
  sendJson,
  sendObject,
  typed,
  type ApiServerDeps,
  type Obj,
  type RequestContext,
} from './api-exchange';
import { matcher } from './api-reads';

/** Kinds whose delete answers with the object rather than a Status (graceful deletion or finalizers). */
const RETURNS_DELETED_OBJECT = new Set([
  'pods',
  'services',
  'namespaces',
  'persistentvolumes',
  'persistentvolumeclaims',
]);

export function scaleOf(type: ResourceType, obj: KubeObject): Obj {
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

export function writeScale(
  deps: ApiServerDeps,
  res: ServerResponse,
  type: ResourceType,
  namespace: string,
  name: string,
  scale: KubeObject,
  ctx: RequestContext,
): void {
  const current = mustGet(deps, type, namespace, name);
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
  if (isDryRun(ctx.url)) return sendJson(res, 200, scaleOf(type, updated));
  const stored = deps.store.update(type.plural, updated);
  sendJson(res, 200, scaleOf(type, stored));
}

export async function deleteOptions(req: IncomingMessage): Promise<Obj> {
  const body = await readBody(req);
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

export async function deleteObject(
  deps: ApiServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
): Promise<void> {
  const { info, url } = ctx;
  const options = await deleteOptions(req);
  const dryRun = isDryRun(url) || (Array.isArray(options.dryRun) && options.dryRun.includes('All'));
  const current = mustGet(deps, type, info.namespace, info.name);
  const deleted = deleteOne(deps, type, current, options, dryRun);
  if (RETURNS_DELETED_OBJECT.has(type.plural)) return sendObject(req, res, type, 200, deleted);
  sendJson(
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

export function deleteOne(
  deps: ApiServerDeps,
  type: ResourceType,
  current: KubeObject,
  options: Obj,
  dryRun: boolean,
): KubeObject {
  const store = deps.store;
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

export async function deleteCollection(
  deps: ApiServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
): Promise<void> {
  const { info, url } = ctx;
  if (!type.verbs.includes('deletecollection'))
    throw methodNotSupported({ group: type.group, resource: type.plural }, 'deletecollection');
  const options = await deleteOptions(req);
  const match = matcher(type, info.namespace, url);
  const dryRun = isDryRun(url);
  const items = deps.store
    .peekList(type.plural, type.namespaced && info.namespace ? info.namespace : undefined)
    .filter(match)
    .map((o) => structuredClone(o));
  const deleted = items.map((o) => deleteOne(deps, type, o, options, dryRun));
  sendJson(res, 200, {
    kind: `${type.kind}List`,
    apiVersion: apiVersionOf(type),
    metadata: { resourceVersion: String(deps.store.currentResourceVersion()) },
    items: deleted.map((o) => typed(type, o)),
  });
}

export async function evictPod(
  deps: ApiServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  await readBody(req);
  const { info } = ctx;
  const pod = deps.store.get('pods', info.namespace, info.name);
  if (!pod) throw notFound({ group: '', resource: 'pods' }, info.name);
  deps.store.delete('pods', info.namespace, info.name);
  sendJson(res, 201, success());
}
