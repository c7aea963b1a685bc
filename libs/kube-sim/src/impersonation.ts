// Impersonation, as the API server's WithImpersonation filter does it: guards the switch from the
// authenticated caller to the user named in Impersonate-* headers. It trusts nothing in the headers
// until each requested user, service account, group, uid and extra value has passed an RBAC check
// of the `impersonate` verb for the *caller*; it refuses on the first denial (403), and refuses
// groups, uid or extras without a user (500, as in 1.32). The headers are removed afterwards.
import type { IncomingMessage } from 'node:http';
import { AUTHENTICATED_GROUP, serviceAccountGroups, splitServiceAccountUsername } from './authentication';
import type { SimUserInfo } from './contract';
import type { AuthorizationAttributes, RbacAuthorizer } from './rbac';
import { forbidden, internalError } from './status';
import { forbiddenMessage } from './authorization-messages';

export interface ImpersonationHeaders {
  user?: string;
  groups: string[];
  uid?: string;
  extra: Record<string, string[]>;
}

const EXTRA_PREFIX = 'impersonate-extra-';

/** Reads the Impersonate-* headers (repeated headers kept apart), or undefined when none are sent. */
export function readImpersonationHeaders(req: IncomingMessage): ImpersonationHeaders | undefined {
  const h = distinctHeaders(req);
  const result: ImpersonationHeaders = { groups: [], extra: {} };
  let any = false;
  for (const [name, values] of Object.entries(h)) {
    if (!values) continue;
    if (name === 'impersonate-user') {
      any = true;
      result.user = values[0];
    } else if (name === 'impersonate-group') {
      any = true;
      result.groups.push(...values);
    } else if (name === 'impersonate-uid') {
      any = true;
      result.uid = values[0];
    } else if (name.startsWith(EXTRA_PREFIX)) {
      any = true;
      let key = name.slice(EXTRA_PREFIX.length);
      try {
        key = decodeURIComponent(key);
      } catch {
        // Go's PathUnescape failure leaves the key as it was sent.
      }
      (result.extra[key] ??= []).push(...values);
    }
  }
  return any ? result : undefined;
}

/**
 * Each header's values as sent. HTTP/2 requests (Node's compatibility API) have no
 * headersDistinct and join repeated fields with ", " in `headers`; their rawHeaders keep them
 * apart, as Go's server does.
 */
function distinctHeaders(req: IncomingMessage): NodeJS.Dict<string[]> {
  if (req.headersDistinct !== undefined) return req.headersDistinct;
  const distinct: NodeJS.Dict<string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) (distinct[raw[i].toLowerCase()] ??= []).push(raw[i + 1]);
  return distinct;
}

export function stripImpersonationHeaders(req: IncomingMessage): void {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('impersonate-')) delete req.headers[name];
  }
}

interface ImpersonationRequest {
  kind: 'ServiceAccount' | 'User' | 'Group' | 'UserExtra' | 'UID';
  namespace?: string;
  name: string;
  fieldPath?: string;
}

/** Go's %v of a v1.ObjectReference: `{Kind Namespace Name UID APIVersion ResourceVersion FieldPath}`. */
function formatReference(r: ImpersonationRequest): string {
  return `{${r.kind} ${r.namespace ?? ''} ${r.name}    ${r.fieldPath ?? ''}}`;
}

function buildRequests(headers: ImpersonationHeaders): ImpersonationRequest[] {
  const requests: ImpersonationRequest[] = [];
  const hasUser = Boolean(headers.user);
  if (headers.user) {
    const sa = splitServiceAccountUsername(headers.user);
    requests.push(
      sa
        ? { kind: 'ServiceAccount', namespace: sa.namespace, name: sa.name }
        : { kind: 'User', name: headers.user },
    );
  }
  for (const g of headers.groups) requests.push({ kind: 'Group', name: g });
  for (const [key, values] of Object.entries(headers.extra))
    for (const v of values) requests.push({ kind: 'UserExtra', name: v, fieldPath: key });
  if (headers.uid) requests.push({ kind: 'UID', name: headers.uid });
  if (!hasUser && requests.length > 0) {
    throw internalError(
      `requested [${requests.map(formatReference).join(' ')}] without impersonating a user`,
    );
  }
  return requests;
}

/** The user the request acts as, after checking the caller may impersonate each requested part. */
export function impersonate(
  requestor: SimUserInfo,
  headers: ImpersonationHeaders,
  authorizer: RbacAuthorizer,
): SimUserInfo {
  const requests = buildRequests(headers);
  let username = '';
  let uid = '';
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  const groupsSpecified = headers.groups.length > 0;
  for (const r of requests) {
    const attrs: AuthorizationAttributes = {
      user: requestor,
      verb: 'impersonate',
      isResourceRequest: true,
      apiGroup: '',
      apiVersion: '',
      name: r.name,
    };
    switch (r.kind) {
      case 'ServiceAccount':
        attrs.resource = 'serviceaccounts';
        attrs.namespace = r.namespace;
        username = `system:serviceaccount:${r.namespace}:${r.name}`;
        if (!groupsSpecified) groups.push(...serviceAccountGroups(r.namespace ?? ''));
        break;
      case 'User':
        attrs.resource = 'users';
        username = r.name;
        break;
      case 'Group':
        attrs.resource = 'groups';
        groups.push(r.name);
        break;
      case 'UserExtra':
        attrs.resource = 'userextras';
        attrs.subresource = r.fieldPath;
        attrs.apiGroup = 'authentication.k8s.io';
        (extra[r.fieldPath ?? ''] ??= []).push(r.name);
        break;
      case 'UID':
        attrs.resource = 'uids';
        attrs.apiGroup = 'authentication.k8s.io';
        uid = r.name;
        break;
    }
    const decision = authorizer.authorize(attrs);
    if (!decision.allowed) {
      const msg = forbiddenMessage(attrs);
      throw forbidden(
        { group: attrs.apiGroup ?? '', resource: attrs.resource ?? '' },
        r.name,
        decision.reason ? `${msg}: ${decision.reason}` : msg,
      );
    }
  }
  if (username !== 'system:anonymous') {
    if (!groups.includes(AUTHENTICATED_GROUP) && !groups.includes('system:unauthenticated'))
      groups.push(AUTHENTICATED_GROUP);
  } else if (!groups.includes('system:unauthenticated')) {
    groups.push('system:unauthenticated');
  }
  const user: SimUserInfo = { username, groups };
  if (uid) user.uid = uid;
  if (Object.keys(extra).length) user.extra = extra;
  return user;
}
