// The text of authorization denials (apiserver endpoints/handlers/responsewriters/errors.go).
import type { AuthorizationAttributes } from './rbac';
import { forbidden, type StatusError } from './status';

export function forbiddenMessage(attrs: AuthorizationAttributes): string {
  const username = attrs.user.username;
  if (!attrs.isResourceRequest) return `User "${username}" cannot ${attrs.verb} path "${attrs.path ?? ''}"`;
  const resource = attrs.subresource
    ? `${attrs.resource ?? ''}/${attrs.subresource}`
    : (attrs.resource ?? '');
  if (attrs.namespace) {
    return `User "${username}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup ?? ''}" in the namespace "${attrs.namespace}"`;
  }
  return `User "${username}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup ?? ''}" at the cluster scope`;
}

/** responsewriters.Forbidden: the Status a denied request receives. */
export function forbiddenError(attrs: AuthorizationAttributes, reason: string): StatusError {
  const msg = forbiddenMessage(attrs);
  const text = reason ? `${msg}: ${reason}` : msg;
  return forbidden(
    {
      group: attrs.isResourceRequest ? (attrs.apiGroup ?? '') : '',
      resource: attrs.isResourceRequest ? (attrs.resource ?? '') : '',
    },
    attrs.name ?? '',
    text,
  );
}
