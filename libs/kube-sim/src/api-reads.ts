// Reads of the simulator's API server: list (selectors, paging, Table and metadata-only forms) and
// watch (replay from a resourceVersion, bookmarks, timeouts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from './contract';
import { isTrueParam } from './request-info';
import { apiVersionOf, type ResourceType } from './resources';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
  type FieldRequirement,
  type LabelRequirement,
} from './selectors';
import { badRequest, expired } from './status';
import { objectKey, type CommittedEvent } from './store';
import { buildTable } from './table';
import {
  asObj,
  includeObject,
  sendJson,
  text,
  typed,
  wantsPartialMetadata,
  wantsTable,
  type ApiServerDeps,
  type Obj,
  type RequestContext,
} from './api-exchange';

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

export function selectors(url: URL): { labels: LabelRequirement[]; fields: FieldRequirement[] } {
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

export function checkFieldLabels(type: ResourceType, fields: FieldRequirement[]): void {
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

export function matcher(type: ResourceType, namespace: string, url: URL): (obj: KubeObject) => boolean {
  const { labels, fields } = selectors(url);
  checkFieldLabels(type, fields);
  return (obj) =>
    (!namespace || !type.namespaced || obj.metadata.namespace === namespace) &&
    matchesLabels(labels, obj.metadata.labels) &&
    matchesFields(fields, (f) => fieldValue(type, obj, f));
}

export function listObjects(
  deps: ApiServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
): void {
  const { url, info } = ctx;
  const match = matcher(type, info.namespace, url);
  const store = deps.store;
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
    return sendJson(
      res,
      200,
      buildTable(type, items, listMeta, { includeObject: includeObject(url) }),
      'application/json;as=Table;v=v1;g=meta.k8s.io',
    );
  }
  if (wantsPartialMetadata(accept)) {
    return sendJson(res, 200, {
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
  sendJson(res, 200, {
    kind: `${type.kind}List`,
    apiVersion: apiVersionOf(type),
    metadata: listMeta,
    items: items.map((o) => typed(type, o)),
  });
}

export function watchObjects(
  deps: ApiServerDeps,
  watches: Set<() => void>,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
): void {
  const { url, info } = ctx;
  const match = matcher(type, info.namespace, url);
  if (info.name && !url.searchParams.get('fieldSelector')) {
    // Legacy /watch/namespaces/ns/pods/name form.
    const name = info.name;
    const base = match;
    const byName = (o: KubeObject): boolean => o.metadata.name === name && base(o);
    return startWatch(deps, watches, req, res, type, ctx, byName);
  }
  startWatch(deps, watches, req, res, type, ctx, match);
}

export function startWatch(
  deps: ApiServerDeps,
  watches: Set<() => void>,
  req: IncomingMessage,
  res: ServerResponse,
  type: ResourceType,
  ctx: RequestContext,
  match: (o: KubeObject) => boolean,
): void {
  const { url } = ctx;
  const store = deps.store;
  const rvParam = url.searchParams.get('resourceVersion') ?? '';
  if (rvParam !== '' && !/^\d+$/.test(rvParam))
    throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a valid resource version`);
  const asTable = wantsTable(req.headers.accept);
  const tableObjects = includeObject(url);
  const bookmarks = isTrueParam(url.searchParams.get('allowWatchBookmarks'));
  const timeoutParam = url.searchParams.get('timeoutSeconds');
  // Without timeoutSeconds the real server picks 30–60 minutes at random.
  const timeoutMs =
    timeoutParam !== null ? Number(timeoutParam) * 1000 : (1800 + Math.floor(Math.random() * 1800)) * 1000;

  res.writeHead(200, {
    'Content-Type': asTable ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json',
    'Cache-Control': 'no-cache, private',
  });
  // No length: HTTP/1.1 sends it chunked (Node adds Transfer-Encoding), HTTP/2 as DATA frames.
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
        { includeObject: tableObjects, noHeaders: !first },
      );
      first = false;
      return `${JSON.stringify({ type: eventType, object: table })}\n`;
    }
    if (event) {
      event.json ??= `${JSON.stringify({ type: eventType, object: typed(type, event.object) })}\n`;
      return event.json;
    }
    return `${JSON.stringify({ type: eventType, object: typed(type, obj) })}\n`;
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
        deps.bookmarkIntervalMs,
      )
    : undefined;
  const close = (): void => {
    if (closed) return;
    closed = true;
    unsubscribe?.();
    unsubscribe = undefined;
    if (bookmarkTimer) clearInterval(bookmarkTimer);
    clearTimeout(timer);
    watches.delete(close);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(close, Math.max(0, timeoutMs));
  watches.add(close);
  res.on('close', close);
  req.on('close', close);
}
