import type { AccessAttributes } from '@kgw/kube';
import type { AuthenticatedCaller, TokenScopes } from '../identity/caller';
import { ScopedTokenPolicy } from './gateway-policy';

const res = (
  verb: string,
  resource: string,
  namespace = '',
  extra: Partial<AccessAttributes> = {},
): AccessAttributes =>
  ({
    kind: 'resource',
    verb,
    group: '',
    version: 'v1',
    resource,
    subresource: '',
    namespace,
    name: '',
    ...extra,
  }) as AccessAttributes;
const caller = (scopes?: TokenScopes): AuthenticatedCaller => ({
  name: 'bob',
  groups: [],
  method: 'pat',
  tokenId: 'tok_1',
  scopes,
});

describe('ScopedTokenPolicy', () => {
  const policy = new ScopedTokenPolicy();
  const rows: Array<{ attack: string; scopes: TokenScopes; attributes: AccessAttributes; allowed: boolean }> =
    [
      {
        attack: 'read-only token deletes',
        scopes: { readOnly: true, namespaces: [], forward: false },
        attributes: res('delete', 'pods', 'a'),
        allowed: false,
      },
      {
        attack: 'read-only token patches',
        scopes: { readOnly: true, namespaces: [], forward: false },
        attributes: res('patch', 'pods', 'a'),
        allowed: false,
      },
      {
        attack: 'read-only token execs',
        scopes: { readOnly: true, namespaces: [], forward: true },
        attributes: res('create', 'pods', 'a', { subresource: 'exec' }),
        allowed: false,
      },
      {
        attack: '(allowed) read-only watch',
        scopes: { readOnly: true, namespaces: [], forward: false },
        attributes: res('watch', 'pods', 'a'),
        allowed: true,
      },
      {
        attack: '(allowed) read-only self review (kubectl auth can-i)',
        scopes: { readOnly: true, namespaces: ['a'], forward: false },
        attributes: res('create', 'selfsubjectaccessreviews', '', { group: 'authorization.k8s.io' }),
        allowed: true,
      },
      {
        attack: 'read-only POST to a non-resource path',
        scopes: { readOnly: true, namespaces: [], forward: false },
        attributes: { kind: 'nonResource', verb: 'post', path: '/x' },
        allowed: false,
      },
      {
        attack: 'namespaced token in another namespace',
        scopes: { readOnly: false, namespaces: ['a'], forward: false },
        attributes: res('get', 'pods', 'b'),
        allowed: false,
      },
      {
        attack: 'namespaced token on cluster-scoped nodes',
        scopes: { readOnly: false, namespaces: ['a'], forward: false },
        attributes: res('list', 'nodes'),
        allowed: false,
      },
      {
        attack: 'namespaced token reading another namespace object',
        scopes: { readOnly: false, namespaces: ['a'], forward: false },
        attributes: res('get', 'namespaces', '', { name: 'b' }),
        allowed: false,
      },
      {
        attack: '(allowed) namespaced token reading its namespace object',
        scopes: { readOnly: false, namespaces: ['a'], forward: false },
        attributes: res('get', 'namespaces', '', { name: 'a' }),
        allowed: true,
      },
      {
        attack: '(allowed) namespaced token on discovery',
        scopes: { readOnly: false, namespaces: ['a'], forward: false },
        attributes: { kind: 'nonResource', verb: 'get', path: '/apis' },
        allowed: true,
      },
      {
        attack: 'port-forward without forward',
        scopes: { readOnly: false, namespaces: [], forward: false },
        attributes: res('create', 'pods', 'a', { subresource: 'portforward' }),
        allowed: false,
      },
      {
        attack: '(allowed) port-forward with forward',
        scopes: { readOnly: false, namespaces: [], forward: true },
        attributes: res('create', 'pods', 'a', { subresource: 'portforward' }),
        allowed: true,
      },
    ];
  it.each(rows)('$attack → allowed=$allowed', ({ scopes, attributes, allowed }) => {
    expect(policy.check(caller(scopes), attributes).allowed).toBe(allowed);
  });

  it('leaves callers without scopes (sessions, JWTs) to RBAC', () => {
    expect(policy.check(caller(undefined), res('delete', 'pods', 'a')).allowed).toBe(true);
  });
});
