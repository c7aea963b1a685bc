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
  const headers = req.headersDistinct;
  const request: ImpersonationRequest = { groups: [], extra: {} };
  let asked = false;
  for (const [name, values] of Object.entries(headers)) {
    if (!values) continue;
    if (name === 'impersonate-user') {
      if (values.length > 1) return { error: badRequest('Impersonate-User may be given once') };
      request.user = values[0];
    } else if (name === 'impersonate-group') {
      request.groups.push(...values);
    } else if (name === 'impersonate-uid') {
      if (values.length > 1) return { error: badRequest('Impersonate-Uid may be given once') };
      request.uid = values[0];
    } else if (name.startsWith('impersonate-extra-')) {
      let key: string;
      try {
        key = decodeURIComponent(name.slice('impersonate-extra-'.length)).toLowerCase();
      } catch {
        return { error: badRequest(`malformed extra key in ${name}`) };
      }
      (request.extra[key] ??= []).push(...values);
    } else {
      continue;
    }
    asked = true;
  }
  if (!asked) return undefined;
  if (request.user === undefined) {
    const parts = [
      ...request.groups.map((g) => `groups=${g}`),
      ...(request.uid !== undefined ? [`uid=${request.uid}`] : []),
      ...Object.entries(request.extra).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)),
    ];
    // The API server's words (impersonation filter, buildImpersonationRequests); it answers
    // them as an internal error, we as the bad request it is.
    return { error: badRequest(`requested [${parts.join(' ')}] without impersonating a user`) };
  }
  return request;
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
  if (user.startsWith(SERVICE_ACCOUNT_PREFIX) && user.split(':').length === 4) {
    const [, , namespace, name] = user.split(':');
    resource('', 'serviceaccounts', name, namespace);
  } else {
    resource('', 'users', user);
  }
  for (const group of request.groups) resource('', 'groups', group);
  if (request.uid !== undefined) resource('authentication.k8s.io', 'uids', request.uid);
  for (const [key, values] of Object.entries(request.extra))
    for (const value of values) resource('authentication.k8s.io', 'userextras', value, '', key);
  return checks;
}

/** The identity acted as: what was asked for (a service account's groups when none were). */
export function impersonatedIdentity(request: ImpersonationRequest, caller: MappedIdentity): MappedIdentity {
  const user = request.user ?? '';
  let groups = request.groups;
  if (groups.length === 0 && user.startsWith(SERVICE_ACCOUNT_PREFIX) && user.split(':').length === 4) {
    groups = ['system:serviceaccounts', `system:serviceaccounts:${user.split(':')[2]}`];
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
