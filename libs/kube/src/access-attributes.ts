// Authorization attributes (what a SubjectAccessReview asks about) and the API server's denial text.
import type { RequestInfo } from './request-info';
import { authorizationVerbFor } from './request-info';
import { forbidden, type KubeStatus } from './status';
import { goQuote } from './go-text';

export interface ResourceAttributes {
  readonly kind: 'resource';
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
  readonly namespace: string;
  readonly name: string;
}

export interface NonResourceAttributes {
  readonly kind: 'nonResource';
  readonly verb: string;
  readonly path: string;
}

export type AccessAttributes = ResourceAttributes | NonResourceAttributes;

/** The attributes to authorize for a request; the verb is `authorizationVerbFor(info)` unless overridden. */
export function accessAttributesFor(
  info: RequestInfo,
  verb: string = authorizationVerbFor(info),
): AccessAttributes {
  if (!info.isResourceRequest) return { kind: 'nonResource', verb, path: info.path };
  return {
    kind: 'resource',
    verb,
    group: info.apiGroup,
    version: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
  };
}

// responsewriters: "Avoid emitting errors that look like valid HTML. Quotes are okay."
function sanitize(message: string): string {
  return message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The sentence after "is forbidden: ", as the API server's forbiddenMessage writes it. */
export function forbiddenReasonText(attributes: AccessAttributes, username: string): string {
  if (attributes.kind === 'nonResource') {
    return `User ${goQuote(username)} cannot ${attributes.verb} path ${goQuote(attributes.path)}`;
  }
  const resource =
    attributes.subresource === '' ? attributes.resource : `${attributes.resource}/${attributes.subresource}`;
  const head = `User ${goQuote(username)} cannot ${attributes.verb} resource ${goQuote(resource)} in API group ${goQuote(attributes.group)}`;
  return attributes.namespace === ''
    ? `${head} at the cluster scope`
    : `${head} in the namespace ${goQuote(attributes.namespace)}`;
}

/**
 * The 403 Status the API server would answer; `reason` is the authorizer's reason (e.g. from the
 * SubjectAccessReview), appended after ": " as the API server does, unsanitized like there.
 */
export function forbiddenStatusFor(attributes: AccessAttributes, username: string, reason = ''): KubeStatus {
  const text = sanitize(forbiddenReasonText(attributes, username));
  const why = reason === '' ? text : `${text}: ${reason}`;
  if (attributes.kind === 'nonResource') return forbidden({ group: '', resource: '' }, '', why);
  return forbidden({ group: attributes.group, resource: attributes.resource }, attributes.name, why);
}

/** The API server's denial message for a request, e.g. `pods "x" is forbidden: User "u" cannot get …`. */
export function forbiddenMessageFor(info: RequestInfo, username: string, reason = ''): string {
  return forbiddenStatusFor(accessAttributesFor(info), username, reason).message;
}
