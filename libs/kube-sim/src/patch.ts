// The four patch types the API server accepts: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386),
// strategic merge patch (merge keys for the lists kubectl apply touches, plus the $patch,
// $setElementOrder, $retainKeys and $deleteFromPrimitiveList directives), and server-side apply
// (simplified: the applied configuration is merged into the live object like a strategic patch
// without deletions; field ownership is recorded but conflicts are not computed).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  constructor(
    message: string,
    readonly kind: 'invalid' | 'conflict' | 'bad' = 'invalid',
  ) {
    super(message);
  }
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- JSON Patch ----

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`invalid JSON Pointer: ${pointer}`, 'bad');
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function resolveParent(doc: Json, path: string[]): { parent: Json; key: string } {
  let cur = doc;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObject(cur)) cur = cur[seg];
    else cur = undefined as unknown as Json;
    if (cur === undefined) throw new PatchError(`doc is missing path: "/${path.join('/')}": missing value`);
  }
  return { parent: cur, key: path[path.length - 1] };
}

function getAt(doc: Json, path: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObject(cur)) cur = cur[seg];
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function arrayIndex(arr: Json[], key: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key))
    throw new PatchError(`Unable to access invalid index: ${key}: invalid index referenced`);
  const i = Number(key);
  if (forAdd ? i > arr.length : i >= arr.length)
    throw new PatchError(`Unable to access invalid index: ${i}: invalid index referenced`);
  return i;
}

function addAt(doc: Json, path: string[], value: Json): Json {
  if (path.length === 0) return value;
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true), 0, value);
  else if (isObject(parent)) parent[key] = value;
  else throw new PatchError(`doc is missing path: "/${path.join('/')}": missing value`);
  return doc;
}

function removeAt(doc: Json, path: string[]): Json {
  const { parent, key } = resolveParent(doc, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false), 1);
  else if (isObject(parent) && key in parent) delete parent[key];
  else throw new PatchError(`Unable to remove nonexistent key: ${key}: missing value`);
  return doc;
}

export function applyJsonPatch(target: Json, patch: unknown): Json {
  if (!Array.isArray(patch))
    throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch', 'bad');
  let doc = structuredClone(target);
  for (const raw of patch as JsonPatchOp[]) {
    if (!isObject(raw)) throw new PatchError('invalid JSON patch operation', 'bad');
    const path = parsePointer(String(raw.path ?? ''));
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, path, structuredClone(raw.value ?? null));
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        if (getAt(doc, path) === undefined)
          throw new PatchError(
            `replace operation does not apply: doc is missing key: /${path.join('/')}: missing value`,
          );
        doc = removeAt(doc, path);
        doc = addAt(doc, path, structuredClone(raw.value ?? null));
        break;
      case 'move': {
        const from = parsePointer(String(raw.from ?? ''));
        const v = getAt(doc, from);
        if (v === undefined)
          throw new PatchError(
            `move operation does not apply: doc is missing from path: ${raw.from}: missing value`,
          );
        doc = removeAt(doc, from);
        doc = addAt(doc, path, v);
        break;
      }
      case 'copy': {
        const v = getAt(doc, parsePointer(String(raw.from ?? '')));
        if (v === undefined)
          throw new PatchError(
            `copy operation does not apply: doc is missing from path: ${raw.from}: missing value`,
          );
        doc = addAt(doc, path, structuredClone(v));
        break;
      }
      case 'test': {
        const v = getAt(doc, path);
        if (JSON.stringify(v) !== JSON.stringify(raw.value))
          throw new PatchError(`testing value /${path.join('/')} failed: test failed`);
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${String(raw.op)}`, 'bad');
    }
  }
  return doc;
}

// ---- JSON Merge Patch ----

export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---- Strategic merge patch ----

/**
 * Merge keys of the lists the built-in types declare `patchStrategy:"merge"` on, by field name.
 * `ports` depends on the parent: container ports merge on containerPort, service ports on port.
 */
function mergeKeyFor(field: string, path: string[]): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
    case 'secrets':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'hostAliases':
      return 'ip';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    case 'ownerReferences':
      return 'uid';
    case 'conditions':
      return 'type';
    case 'ports':
      return path.includes('containers') || path.includes('initContainers') ? 'containerPort' : 'port';
    default:
      return undefined;
  }
}

/** Lists of scalars merged as sets. */
const PRIMITIVE_MERGE_LISTS = new Set(['finalizers']);

function mergeList(
  live: Json[],
  patch: Json[],
  key: string | undefined,
  field: string,
  order: Json[] | undefined,
): Json[] {
  if (PRIMITIVE_MERGE_LISTS.has(field)) {
    const out = [...live];
    for (const v of patch) if (!out.some((x) => x === v)) out.push(v);
    return out;
  }
  if (!key) return structuredClone(patch);
  // `{$patch: replace}` in the list replaces it with the other items.
  if (patch.some((p) => isObject(p) && p.$patch === 'replace'))
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  const out = structuredClone(live);
  for (const item of patch) {
    if (!isObject(item)) continue;
    const idx = out.findIndex((o) => isObject(o) && o[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item, [field]);
    else out.push(strategicMerge({}, item, [field]));
  }
  if (order) {
    const rank = (o: Json): number => {
      const i = order.findIndex((x) => isObject(x) && isObject(o) && x[key] === o[key]);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    out.sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

export function strategicMerge(live: Json, patch: Json, path: string[] = []): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return {};
  const out: JsonObject = isObject(live) ? structuredClone(live) : {};
  const retainKeys = Array.isArray(patch.$retainKeys) ? (patch.$retainKeys as string[]) : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(v)) out[field] = current.filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const current = out[k];
    if (Array.isArray(v)) {
      const order = patch[`$setElementOrder/${k}`];
      out[k] = Array.isArray(current)
        ? mergeList(current, v, mergeKeyFor(k, path), k, Array.isArray(order) ? order : undefined)
        : stripDirectivesList(v);
    } else if (isObject(v)) {
      out[k] = strategicMerge(current ?? {}, v, [...path, k]);
    } else {
      out[k] = v;
    }
  }
  if (retainKeys) for (const k of Object.keys(out)) if (!retainKeys.includes(k)) delete out[k];
  return out;
}

function stripDirectivesList(list: Json[]): Json[] {
  return list
    .filter((i) => !(isObject(i) && (i.$patch === 'delete' || i.$patch === 'replace')))
    .map((i) => (isObject(i) ? stripDirectives(i) : i));
}

function stripDirectives(obj: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith('$')) continue;
    out[k] = isObject(v) ? stripDirectives(v) : Array.isArray(v) ? stripDirectivesList(v) : v;
  }
  return out;
}

// ---- Server-side apply (simplified) ----

/** Merges an applied configuration into the live object; lists with merge keys merge, others replace. */
export function applyConfiguration(live: Json, applied: Json): Json {
  return strategicMerge(live, stripDirectives(isObject(applied) ? applied : {}));
}
