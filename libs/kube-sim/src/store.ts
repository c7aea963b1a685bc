// The in-memory object store: one monotonic resourceVersion counter for every resource (as
// etcd's revision is), a bounded history of events so watches can resume from a resourceVersion,
// and synchronous subscribers called after each commit, in commit order.
import { randomUUID } from 'node:crypto';
import type { KubeObject, SimObjectStore, StoreEvent, StoreEventType } from './contract';
import { resourceTypeByPlural } from './resources';
import { alreadyExists, conflict, notFound, OBJECT_MODIFIED } from './status';

export interface CommittedEvent {
  type: StoreEventType;
  resource: string;
  /** Shared by every watcher: never mutate. */
  object: KubeObject;
  resourceVersion: number;
  /** Serialized once, lazily, for all plain-JSON watchers. */
  json?: string;
}

export type CommitListener = (event: CommittedEvent) => void;

export function nowTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function groupOf(resource: string): string {
  return resourceTypeByPlural(resource)?.group ?? '';
}

/** Everything but metadata and status: what a generation counts changes of. */
function specPart(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

export class ObjectStore implements SimObjectStore {
  private revision = 1000;
  private readonly data = new Map<string, Map<string, KubeObject>>();
  private readonly history: CommittedEvent[] = [];
  private readonly listeners = new Set<CommitListener>();

  constructor(private readonly maxHistory = 20000) {}

  currentResourceVersion(): number {
    return this.revision;
  }

  private bucket(resource: string): Map<string, KubeObject> {
    let m = this.data.get(resource);
    if (!m) {
      m = new Map();
      this.data.set(resource, m);
    }
    return m;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.data.get(resource)?.get(objectKey(namespace, name));
    return obj ? structuredClone(obj) : undefined;
  }

  /** The stored object itself, for read-only hot paths (selectors, RBAC). Never mutate it. */
  peek(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.data.get(resource)?.get(objectKey(namespace, name));
  }

  list(resource: string, namespace?: string): KubeObject[] {
    return this.peekList(resource, namespace).map((o) => structuredClone(o));
  }

  /** Stored objects sorted by namespace/name, not copied. Never mutate them. */
  peekList(resource: string, namespace?: string): KubeObject[] {
    const m = this.data.get(resource);
    if (!m) return [];
    const out: KubeObject[] = [];
    for (const o of m.values())
      if (namespace === undefined || o.metadata.namespace === namespace) out.push(o);
    return out.sort((a, b) => {
      const ka = objectKey(a.metadata.namespace, a.metadata.name);
      const kb = objectKey(b.metadata.namespace, b.metadata.name);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    // Outside callers get their own copy, so they cannot corrupt what watchers are sent.
    return this.onCommit((e) =>
      listener({ type: e.type, resource: e.resource, object: structuredClone(e.object) }),
    );
  }

  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `resourceVersion`, or the oldest resourceVersion still known when it is too old. */
  eventsSince(resourceVersion: number): { events: CommittedEvent[] } | { tooOld: number } {
    if (this.history.length > 0 && resourceVersion < this.history[0].resourceVersion - 1) {
      return { tooOld: this.history[0].resourceVersion - 1 };
    }
    // History is sorted by resourceVersion: binary search the first newer event.
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid].resourceVersion <= resourceVersion) lo = mid + 1;
      else hi = mid;
    }
    return { events: this.history.slice(lo) };
  }

  private commit(type: StoreEventType, resource: string, object: KubeObject): void {
    const event: CommittedEvent = {
      type,
      resource,
      object,
      resourceVersion: Number(object.metadata.resourceVersion),
    };
    this.history.push(event);
    if (this.history.length > this.maxHistory) this.history.splice(0, this.history.length - this.maxHistory);
    for (const l of [...this.listeners]) l(event);
  }

  /** Stores a new object; fills uid, resourceVersion, creationTimestamp and generation. */
  create(resource: string, input: KubeObject): KubeObject {
    const m = this.bucket(resource);
    const key = objectKey(input.metadata.namespace, input.metadata.name);
    if (m.has(key)) throw alreadyExists({ group: groupOf(resource), resource }, input.metadata.name);
    const obj = structuredClone(input);
    obj.metadata.uid = randomUUID();
    obj.metadata.resourceVersion = String(++this.revision);
    obj.metadata.creationTimestamp = nowTimestamp();
    if (resource !== 'pods' && obj.spec !== undefined) obj.metadata.generation = 1;
    delete obj.metadata.deletionTimestamp;
    m.set(key, obj);
    this.commit('ADDED', resource, obj);
    return structuredClone(obj);
  }

  /**
   * Replaces a stored object. A non-empty metadata.resourceVersion must equal the stored one
   * (optimistic concurrency); uid and creationTimestamp are kept from the stored object.
   */
  update(resource: string, input: KubeObject): KubeObject {
    const m = this.bucket(resource);
    const key = objectKey(input.metadata.namespace, input.metadata.name);
    const gr = { group: groupOf(resource), resource };
    const current = m.get(key);
    if (!current) throw notFound(gr, input.metadata.name);
    const rv = input.metadata.resourceVersion;
    if (rv && rv !== current.metadata.resourceVersion)
      throw conflict(gr, input.metadata.name, OBJECT_MODIFIED);
    if (input.metadata.uid && input.metadata.uid !== current.metadata.uid) {
      throw conflict(
        gr,
        input.metadata.name,
        `Precondition failed: UID in precondition: ${String(input.metadata.uid)}, UID in object meta: ${String(current.metadata.uid)}`,
      );
    }
    const obj = structuredClone(input);
    obj.metadata.uid = current.metadata.uid;
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp;
    if (current.metadata.generation !== undefined) {
      obj.metadata.generation =
        (current.metadata.generation as number) + (specPart(obj) !== specPart(current) ? 1 : 0);
    }
    // A write that changes nothing is not a new revision, as in the real registry.
    const unchanged =
      JSON.stringify({ ...obj, metadata: { ...obj.metadata, resourceVersion: undefined } }) ===
      JSON.stringify({ ...current, metadata: { ...current.metadata, resourceVersion: undefined } });
    if (unchanged) return structuredClone(current);
    obj.metadata.resourceVersion = String(++this.revision);
    m.set(key, obj);
    this.commit('MODIFIED', resource, obj);
    return structuredClone(obj);
  }

  delete(
    resource: string,
    namespace: string | undefined,
    name: string,
    preconditions?: { uid?: string; resourceVersion?: string },
  ): KubeObject {
    const m = this.bucket(resource);
    const key = objectKey(namespace, name);
    const gr = { group: groupOf(resource), resource };
    const current = m.get(key);
    if (!current) throw notFound(gr, name);
    if (preconditions?.uid && preconditions.uid !== current.metadata.uid) {
      throw conflict(
        gr,
        name,
        `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${String(current.metadata.uid)}`,
      );
    }
    if (
      preconditions?.resourceVersion &&
      preconditions.resourceVersion !== current.metadata.resourceVersion
    ) {
      throw conflict(
        gr,
        name,
        `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${String(current.metadata.resourceVersion)}`,
      );
    }
    m.delete(key);
    const obj = structuredClone(current);
    obj.metadata.resourceVersion = String(++this.revision);
    this.commit('DELETED', resource, obj);
    return structuredClone(obj);
  }

  /** Every stored resource name that has objects. */
  resources(): string[] {
    return [...this.data.keys()];
  }
}
