// The review kinds the simulator answers from its RBAC (Self/Local/SubjectAccessReview,
// SelfSubjectRulesReview, SelfSubjectReview, TokenReview) and TokenRequest for service accounts.
import { API_AUDIENCE } from './authentication';
import type { KubeObject, SimUserInfo } from './contract';
import { type AuthorizationAttributes } from './rbac';
import { apiVersionOf, type ResourceType } from './resources';
import { badRequest, conflict, invalid, notFound, pathNotFound } from './status';
import { nowTimestamp } from './store';
import { asObj, text, type ApiServerDeps, type Obj, type RequestContext } from './api-exchange';

export function review(deps: ApiServerDeps, type: ResourceType, body: KubeObject, ctx: RequestContext): Obj {
  const authz = deps.authorizer;
  const spec = asObj(body.spec);
  const out: Obj = {
    kind: type.kind,
    apiVersion: apiVersionOf(type),
    metadata: { ...body.metadata, creationTimestamp: null },
    spec,
  };
  const gk = { group: type.group, kind: type.kind };
  const accessStatus = (user: SimUserInfo, namespaceOverride?: string): Obj => {
    const ra = spec.resourceAttributes !== undefined ? asObj(spec.resourceAttributes) : undefined;
    const nra = spec.nonResourceAttributes !== undefined ? asObj(spec.nonResourceAttributes) : undefined;
    if (ra && nra)
      throw invalid(gk, '', [
        {
          type: 'FieldValueInvalid',
          field: 'spec.nonResourceAttributes',
          value: nra,
          detail: 'cannot be specified in combination with resourceAttributes',
        },
      ]);
    if (!ra && !nra)
      throw invalid(gk, '', [
        {
          type: 'FieldValueRequired',
          field: 'spec.resourceAttributes',
          detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified',
        },
      ]);
    const attrs: AuthorizationAttributes = ra
      ? {
          user,
          verb: text(ra.verb),
          isResourceRequest: true,
          namespace: namespaceOverride ?? text(ra.namespace),
          apiGroup: text(ra.group),
          apiVersion: text(ra.version),
          resource: text(ra.resource),
          subresource: text(ra.subresource),
          name: text(ra.name),
        }
      : { user, verb: text(nra?.verb), isResourceRequest: false, path: text(nra?.path) };
    const d = authz.authorize(attrs);
    const status: Obj = { allowed: d.allowed };
    if (d.reason) status.reason = d.reason;
    return status;
  };
  switch (type.kind) {
    case 'SelfSubjectAccessReview':
      out.status = accessStatus(ctx.user);
      return out;
    case 'SubjectAccessReview': {
      const user = typeof spec.user === 'string' ? spec.user : '';
      const groups = Array.isArray(spec.groups) ? (spec.groups as string[]) : [];
      if (!user && groups.length === 0)
        throw invalid(gk, '', [
          {
            type: 'FieldValueInvalid',
            field: 'spec.user',
            value: '',
            detail: 'at least one of user or group must be specified',
          },
        ]);
      const subject: SimUserInfo = {
        username: user,
        groups,
        extra: spec.extra as Record<string, string[]> | undefined,
        uid: typeof spec.uid === 'string' ? spec.uid : undefined,
      };
      out.status = accessStatus(subject);
      return out;
    }
    case 'LocalSubjectAccessReview': {
      const ns = ctx.info.namespace;
      const ra = asObj(spec.resourceAttributes);
      const bodyNs = String(body.metadata.namespace ?? '');
      if (bodyNs && bodyNs !== ns)
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      if (spec.nonResourceAttributes !== undefined)
        throw invalid(gk, '', [
          {
            type: 'FieldValueInvalid',
            field: 'spec.nonResourceAttributes',
            value: spec.nonResourceAttributes,
            detail: 'disallowed on this kind of request',
          },
        ]);
      if (ra.namespace && ra.namespace !== ns)
        throw invalid(gk, '', [
          {
            type: 'FieldValueInvalid',
            field: 'spec.resourceAttributes.namespace',
            value: ra.namespace,
            detail: 'must match metadata.namespace',
          },
        ]);
      const user = typeof spec.user === 'string' ? spec.user : '';
      const groups = Array.isArray(spec.groups) ? (spec.groups as string[]) : [];
      if (!user && groups.length === 0)
        throw invalid(gk, '', [
          {
            type: 'FieldValueInvalid',
            field: 'spec.user',
            value: '',
            detail: 'at least one of user or group must be specified',
          },
        ]);
      out.metadata = { ...asObj(out.metadata), namespace: ns };
      out.status = accessStatus(
        { username: user, groups, extra: spec.extra as Record<string, string[]> | undefined },
        ns,
      );
      return out;
    }
    case 'SelfSubjectRulesReview': {
      const ns = text(spec.namespace);
      const rules = authz.rulesFor(ctx.user, ns);
      const status: Obj = {
        resourceRules: rules.resourceRules,
        nonResourceRules: rules.nonResourceRules,
        incomplete: false,
      };
      if (ctx.user.groups.includes('system:masters')) {
        // The superuser short-circuit grants everything, whatever the bindings say.
        status.resourceRules = [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, ...rules.resourceRules];
        status.nonResourceRules = [{ verbs: ['*'], nonResourceURLs: ['*'] }, ...rules.nonResourceRules];
      }
      if (rules.errors.length) status.evaluationError = rules.errors.join(', ');
      out.status = status;
      return out;
    }
    case 'SelfSubjectReview': {
      const userInfo: Obj = { username: ctx.user.username, groups: ctx.user.groups };
      if (ctx.user.uid) userInfo.uid = ctx.user.uid;
      if (ctx.user.extra && Object.keys(ctx.user.extra).length) userInfo.extra = ctx.user.extra;
      out.status = { userInfo };
      delete out.spec;
      return out;
    }
    case 'TokenReview': {
      const token = typeof spec.token === 'string' ? spec.token : '';
      const audiences =
        Array.isArray(spec.audiences) && spec.audiences.length ? (spec.audiences as string[]) : undefined;
      const result = token
        ? deps.authenticator.authenticateToken(token, audiences ?? [API_AUDIENCE])
        : undefined;
      if (!result) {
        out.status = { user: {}, error: token ? '[invalid bearer token, token lookup failed]' : '' };
        return out;
      }
      const user: Obj = { username: result.user.username, groups: result.user.groups };
      if (result.user.uid) user.uid = result.user.uid;
      if (result.user.extra && Object.keys(result.user.extra).length) user.extra = result.user.extra;
      out.status = { authenticated: true, user, audiences: result.audiences };
      return out;
    }
    default:
      throw pathNotFound();
  }
}

export function tokenRequest(deps: ApiServerDeps, body: KubeObject, ctx: RequestContext): Obj {
  const { info } = ctx;
  if (body.kind !== undefined && body.kind !== 'TokenRequest') {
    throw badRequest(
      `${String(body.kind)} in version "v1" cannot be handled as a TokenRequest: no kind "${String(body.kind)}" is registered for version "authentication.k8s.io/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"`,
    );
  }
  const sa = deps.store.peek('serviceaccounts', info.namespace, info.name);
  if (!sa) throw notFound({ group: '', resource: 'serviceaccounts' }, info.name);
  const spec = asObj(body.spec);
  const gk = { group: 'authentication.k8s.io', kind: 'TokenRequest' };
  const expirationSeconds =
    spec.expirationSeconds === undefined || spec.expirationSeconds === null
      ? 3600
      : Number(spec.expirationSeconds);
  if (!Number.isFinite(expirationSeconds) || expirationSeconds < 600) {
    throw invalid(gk, info.name, [
      {
        type: 'FieldValueInvalid',
        field: 'spec.expirationSeconds',
        value: expirationSeconds,
        detail: 'may not specify a duration less than 10 minutes',
      },
    ]);
  }
  if (expirationSeconds > 2 ** 32) {
    throw invalid(gk, info.name, [
      {
        type: 'FieldValueInvalid',
        field: 'spec.expirationSeconds',
        value: expirationSeconds,
        detail: 'may not specify a duration larger than 2^32 seconds',
      },
    ]);
  }
  const audiences =
    Array.isArray(spec.audiences) && spec.audiences.length ? (spec.audiences as string[]) : [API_AUDIENCE];
  const bound = spec.boundObjectRef ? asObj(spec.boundObjectRef) : undefined;
  let boundObject: { kind: 'Pod' | 'Secret'; name: string; uid?: string } | undefined;
  if (bound) {
    const kind = text(bound.kind);
    if (kind !== 'Pod' && kind !== 'Secret') {
      throw invalid(gk, info.name, [
        {
          type: 'FieldValueNotSupported',
          field: 'spec.boundObjectRef.kind',
          value: kind,
          detail: 'supported values: "Pod", "Secret"',
        },
      ]);
    }
    const obj = deps.store.peek(kind === 'Pod' ? 'pods' : 'secrets', info.namespace, text(bound.name));
    if (!obj) throw notFound({ group: '', resource: kind === 'Pod' ? 'pods' : 'secrets' }, text(bound.name));
    if (bound.uid && bound.uid !== obj.metadata.uid) {
      throw conflict(
        { group: '', resource: kind === 'Pod' ? 'pods' : 'secrets' },
        text(bound.name),
        `the UID in the bound object reference (${text(bound.uid)}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    }
    boundObject = { kind, name: obj.metadata.name, uid: String(obj.metadata.uid) };
  }
  const issued = deps.tokens.issue(info.namespace, info.name, String(sa.metadata.uid), {
    audiences,
    expirationSeconds,
    boundObject,
  });
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: info.name, namespace: info.namespace, creationTimestamp: nowTimestamp() },
    spec: { audiences, expirationSeconds, boundObjectRef: bound ?? null },
    status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp },
  };
}
