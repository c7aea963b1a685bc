// RequestInfo as the API server derives it from a path (apiserver endpoints/request/requestinfo.go):
// the verb, group/version/resource/subresource, namespace and name that authorization checks.

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  verb: string;
  apiPrefix: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** resource/name/subresource/… relative to the resource. */
  parts: string[];
}

import { parseFieldSelector, parseLabelSelector, type FieldRequirement } from './selectors';

const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/**
 * A boolean query parameter as the API server's parameter codec converts it
 * (apimachinery runtime.Convert_Slice_string_To_bool on the first value): absent is false; `0`
 * and `false` in any letter case (Go's strings.EqualFold, where `ſ` folds to `s`) are false;
 * anything else, the empty string and `yes` included, is true.
 */
export function isTrueParam(value: string | null): boolean {
  if (value === null) return false;
  return !(value === '0' || equalFoldAscii(value, 'false'));
}

/** Go's strings.EqualFold against an ASCII word: simple case folding, rune by rune. */
function equalFoldAscii(value: string, word: string): boolean {
  const runes = [...value];
  if (runes.length !== word.length) return false;
  return runes.every((rune, i) => {
    const lower = rune === '\u017f' ? 's' : rune === '\u212a' ? 'k' : rune;
    return lower.length === 1 && lower.charCodeAt(0) < 0x80 && lower.toLowerCase() === word[i];
  });
}

/**
 * Go's URL path unescaping (net/url, encodePath mode) as net/http applies it before the API
 * server sees r.URL.Path: each %XX becomes its byte; a malformed escape fails the request.
 */
export function unescapeRequestPath(path: string): string {
  if (!path.includes('%')) return path;
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex))
        throw new MalformedPathError(`invalid URL escape "${path.slice(i, i + 3)}"`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(path[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export class MalformedPathError extends Error {
  override name = 'MalformedPathError';
}

/**
 * metainternalversion.ListOptions decoding, as far as RequestInfo depends on it: undefined when
 * the API server's parameter codec would fail (an integer that is not one, a selector that does
 * not parse); else the field selector's terms in the order Go keeps them (sorted by field).
 */
function decodeListOptions(query: URLSearchParams): { fields: FieldRequirement[] } | undefined {
  for (const integer of ['limit', 'timeoutSeconds']) {
    const value = query.get(integer)?.trim();
    if (value && !/^[+-]?\d+$/.test(value)) return undefined;
    if (value && (BigInt(value) >= 2n ** 63n || BigInt(value) < -(2n ** 63n))) return undefined;
  }
  try {
    parseLabelSelector(query.get('labelSelector') ?? '');
    const fields = parseFieldSelector(query.get('fieldSelector') ?? '');
    return { fields: [...fields].sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0)) };
  } catch {
    return undefined;
  }
}

/** RequestInfo of a request whose path is as sent (still percent-encoded, as URL.pathname keeps it). */
export function resolveRequestInfo(method: string, rawPath: string, query: URLSearchParams): RequestInfo {
  const path = unescapeRequestPath(rawPath);
  const info: RequestInfo = {
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
  };
  let parts = path.replace(/^\/+|\/+$/g, '').split('/');
  if (parts.length < 3) return info;
  if (parts[0] !== 'api' && parts[0] !== 'apis') return info;
  info.apiPrefix = parts[0];
  parts = parts.slice(1);
  if (info.apiPrefix === 'apis') {
    if (parts.length < 3) return info;
    info.apiGroup = parts[0];
    parts = parts.slice(1);
  }
  info.isResourceRequest = true;
  info.apiVersion = parts[0];
  parts = parts.slice(1);
  if (SPECIAL_VERBS.has(parts[0])) {
    if (parts.length < 2) throw new Error('unable to determine kind and namespace from url');
    info.verb = parts[0];
    parts = parts.slice(1);
  } else {
    switch (method) {
      case 'POST':
        info.verb = 'create';
        break;
      case 'GET':
      case 'HEAD':
        info.verb = 'get';
        break;
      case 'PUT':
        info.verb = 'update';
        break;
      case 'PATCH':
        info.verb = 'patch';
        break;
      case 'DELETE':
        info.verb = 'delete';
        break;
      default:
        info.verb = '';
    }
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1];
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
    }
  }
  info.parts = parts;
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2];
  if (parts.length >= 2) info.name = parts[1];
  if (parts.length >= 1) info.resource = parts[0];

  if (!info.name && info.verb === 'get') {
    // requestinfo.go decodes the whole ListOptions; when that fails it keeps only `watch`, read
    // with strings.ToLower (not the codec's EqualFold), and names no object.
    const options = decodeListOptions(query);
    const watch = query.get('watch');
    info.verb = (
      options ? isTrueParam(watch) : watch !== null && !['false', '0'].includes(watch.toLowerCase())
    )
      ? 'watch'
      : 'list';
    // fields.Selector.RequiresExactMatch("metadata.name"), kept only if a valid path segment.
    const name = options?.fields.find((r) => r.field === 'metadata.name' && r.operator === '=')?.value;
    if (name && name !== '.' && name !== '..' && !/[/%]/.test(name)) info.name = name;
  }
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}
