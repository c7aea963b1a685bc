// `kubectl --as` / `--as-group` / `--as-uid` and Impersonate-Extra-*: the caller asks to act as
// someone else. The API server honours such a request when the requester may `impersonate` each
// part of it; the gateway does the same for the caller's mapped identity, then acts as the
// requested identity (its own credential impersonating it directly) and audits both.
//
// Guards: the silent drop that made `kubectl --as=carol` run with the caller's own rights while
// the user believed they were testing carol's. Trusts: RBAC (a SubjectAccessReview with verb
// `impersonate` per user/service account, group, uid and extra value, as the API server checks
// them) and the gateway policy (a read-only or namespace-scoped token impersonates nobody).
// Refuses: any part RBAC does not allow (403 worded as the API server words it); groups, uid or
// extras without a user (400, in the API server's words); a caller mapped to
// a service account's own token (no impersonation upstream in that mode). A spelling the API
// server does not read (`Impersonate_User`) is no request and is dropped by the sanitizer.
//
// Read as the API server reads the headers (apiserver endpoints/filters/impersonation.go,
// buildImpersonationRequests): an empty Impersonate-User or Impersonate-Uid is no request; a
// `system:serviceaccount:<ns>:<name>` user is a service account only when serviceaccount.
// SplitUsername accepts it (a DNS-1123 label and subdomain), else a plain user; an extra key is
// lowercased, then path-unescaped, and kept as it is when the escaping is malformed; the checks
// run user, groups, extras, uid, so the first refusal is the one the API server would word.
import type * as http from 'node:http';
import { badRequest, type AccessAttributes, type KubeStatus } from '@kgw/kube';
import type { MappedIdentity } from '../identity/caller';

export interface ImpersonationRequest {
  user?: string;
  groups: string[];
  uid?: string;
  extra: Record<string, string[]>;
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** The impersonation the client asked for, or undefined when it asked for none. */
export function requestedImpersonation(
  req: http.IncomingMessage,
): ImpersonationRequest | undefined | { error: KubeStatus } {
  // Nearly no request asks: look at the names before headersDistinct builds an array per header.
  if (!namesImpersonation(req.headers)) return undefined;
  const headers = req.headersDistinct;
  const request: ImpersonationRequest = { groups: [], extra: {} };
  let asked = false;
  for (const [name, values] of Object.entries(headers)) {
    if (!values) continue;
    if (name === 'impersonate-user') {
      // The API server takes the first (headers.Get); two would be a request read two ways.
      if (values.length > 1) return { error: badRequest('Impersonate-User may be given once') };
      if (values[0] === '') continue;
      request.user = values[0];
    } else if (name === 'impersonate-group') {
      request.groups.push(...values);
    } else if (name === 'impersonate-uid') {
      if (values.length > 1) return { error: badRequest('Impersonate-Uid may be given once') };
      if (values[0] === '') continue;
      request.uid = values[0];
    } else if (name.startsWith('impersonate-extra-')) {
      const key = unescapeExtraKey(name.slice('impersonate-extra-'.length).toLowerCase());
      if (key === undefined) return { error: badRequest(`the extra key in ${name} is not UTF-8 once unescaped`) };
      (request.extra[key] ??= []).push(...values);
    } else {
      continue;
    }
    asked = true;
  }
  if (!asked) return undefined;
  if (request.user === undefined) {
    const hasMore = request.groups.length > 0 || request.uid !== undefined || Object.keys(request.extra).length > 0;
    // Only empty Impersonate-User / -Uid headers: no impersonation at all, as there.
    if (!hasMore) return undefined;
    // The API server's words: fmt's %v of the []v1.ObjectReference it built (Kind, Namespace,
    // Name, UID, APIVersion, ResourceVersion, FieldPath); it answers them as an internal error
    // (500), we as the bad request it is.
    const references = [
      ...request.groups.map((group) => `{Group  ${group}    }`),
      ...Object.entries(request.extra).flatMap(([key, values]) =>
        values.map((value) => `{UserExtra  ${value}  ${AUTHENTICATION_V1}  ${key}}`),
      ),
      ...(request.uid !== undefined ? [`{UID  ${request.uid}  ${AUTHENTICATION_V1}  }`] : []),
    ];
    return { error: badRequest(`requested [${references.join(' ')}] without impersonating a user`) };
  }
  return request;
}

const AUTHENTICATION_V1 = 'authentication.k8s.io/v1';

/**
 * The API server's unescapeExtraKey: url.PathUnescape of the (already lowercased) key, the key
 * as it is when the escaping is malformed. Undefined for bytes that are not UTF-8 (Go keeps them;
 * they could not be sent on as a header value or a review's JSON unchanged, so we refuse).
 */
function unescapeExtraKey(encoded: string): string | undefined {
  if (!/^(?:[^%]|%[0-9a-fA-F]{2})*$/.test(encoded)) return encoded;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** serviceaccount.SplitUsername: namespace and name when `user` names a service account validly. */
function splitServiceAccountUsername(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const parts = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts;
  if (!isDns1123Label(namespace) || !isDns1123Subdomain(name)) return undefined;
  return { namespace, name };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every((label) => DNS1123_LABEL.test(label));
}

/** Every authorization check the API server makes for the request (verb `impersonate`). */
export function impersonationChecks(request: ImpersonationRequest): AccessAttributes[] {
  const checks: AccessAttributes[] = [];
  const resource = (group: string, resourceName: string, name: string, namespace = '', subresource = '') =>
    checks.push({
      kind: 'resource',
      verb: 'impersonate',
      group,
      version: '',
      resource: resourceName,
      subresource,
      namespace,
      name,
    });
  const user = request.user ?? '';
  const serviceAccount = splitServiceAccountUsername(user);
  if (serviceAccount) resource('', 'serviceaccounts', serviceAccount.name, serviceAccount.namespace);
  else resource('', 'users', user);
  for (const group of request.groups) resource('', 'groups', group);
  for (const [key, values] of Object.entries(request.extra))
    for (const value of values) resource('authentication.k8s.io', 'userextras', value, '', key);
  if (request.uid !== undefined) resource('authentication.k8s.io', 'uids', request.uid);
  return checks;
}

/** The identity acted as: what was asked for (a service account's groups when none were). */
export function impersonatedIdentity(request: ImpersonationRequest, caller: MappedIdentity): MappedIdentity {
  const user = request.user ?? '';
  let groups = request.groups;
  const serviceAccount = splitServiceAccountUsername(user);
  if (groups.length === 0 && serviceAccount) {
    groups = ['system:serviceaccounts', `system:serviceaccounts:${serviceAccount.namespace}`];
  }
  return {
    username: user,
    uid: request.uid,
    groups,
    // The caller's own kgw.io extras stay: the API server's audit log still shows how it came in.
    extra: {
      ...request.extra,
      ...Object.fromEntries(Object.entries(caller.extra ?? {}).filter(([k]) => k.startsWith('kgw.io/'))),
    },
  };
}

/** Any Impersonate-* header (names are lower-cased by Node, over HTTP/1.1 and HTTP/2 alike). */
function namesImpersonation(headers: http.IncomingHttpHeaders): boolean {
  for (const name in headers) if (name.startsWith('impersonate-')) return true;
  return false;
}
