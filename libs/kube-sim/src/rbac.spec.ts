import type { KubeObject } from './contract';
import { defaultClusterRoleBindings, defaultClusterRoles } from './default-rbac';
import { nonResourceURLMatches, RbacAuthorizer, resourceMatches, type AuthorizationAttributes } from './rbac';
import { ObjectStore } from './store';

function storeWith(...objs: [string, KubeObject][]): ObjectStore {
  const store = new ObjectStore();
  for (const r of defaultClusterRoles()) store.create('clusterroles', r);
  for (const b of defaultClusterRoleBindings()) store.create('clusterrolebindings', b);
  for (const [resource, obj] of objs) store.create(resource, obj);
  return store;
}

const binding = (
  kind: 'RoleBinding' | 'ClusterRoleBinding',
  name: string,
  role: string,
  subjects: object[],
  namespace?: string,
  roleKind = 'ClusterRole',
): [string, KubeObject] => [
  kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings',
  {
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: role },
    subjects,
  },
];

const user = (username: string, groups: string[] = []): { username: string; groups: string[] } => ({
  username,
  groups: [...groups, 'system:authenticated'],
});
const res = (
  u: ReturnType<typeof user>,
  verb: string,
  resource: string,
  namespace = '',
  extra: Partial<AuthorizationAttributes> = {},
): AuthorizationAttributes => ({
  user: u,
  verb,
  isResourceRequest: true,
  apiGroup: '',
  resource,
  namespace,
  ...extra,
});

describe('RBAC rule matching', () => {
  it.each([
    [['pods'], 'pods', '', true],
    [['pods'], 'pods/log', 'log', false],
    [['pods/log'], 'pods/log', 'log', true],
    [['*'], 'pods/exec', 'exec', true],
    [['*/scale'], 'deployments/scale', 'scale', true],
    [['pods/*'], 'pods/exec', 'exec', false],
  ])('resources %j vs %s', (resources, combined, sub, expected) => {
    expect(resourceMatches({ verbs: ['get'], resources }, combined, sub)).toBe(expected);
  });
  it.each([
    [['/healthz/*'], '/healthz', false],
    [['/healthz/*'], '/healthz/etcd', true],
    [['/api'], '/apis', false],
    [['*'], '/anything', true],
  ])('nonResourceURLs %j vs %s', (urls, path, expected) => {
    expect(nonResourceURLMatches({ verbs: ['get'], nonResourceURLs: urls }, path)).toBe(expected);
  });
});

describe('RbacAuthorizer', () => {
  const store = storeWith(
    binding('RoleBinding', 'bob-edit', 'edit', [{ kind: 'User', name: 'bob' }], 'team-a'),
    binding('ClusterRoleBinding', 'carol-view', 'view', [{ kind: 'User', name: 'carol' }]),
    binding('RoleBinding', 'deployer', 'edit', [{ kind: 'ServiceAccount', name: 'deployer' }], 'team-b'),
    binding('RoleBinding', 'broken', 'gone', [{ kind: 'Group', name: 'g' }], 'team-a'),
    [
      'roles',
      {
        metadata: { name: 'one-cm', namespace: 'team-a' },
        rules: [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['settings'] }],
      },
    ],
    binding('RoleBinding', 'erin-one-cm', 'one-cm', [{ kind: 'User', name: 'erin' }], 'team-a', 'Role'),
  );
  const authz = new RbacAuthorizer(store);

  it('namespace editor: allowed in its namespace only', () => {
    expect(authz.authorize(res(user('bob'), 'create', 'pods', 'team-a')).allowed).toBe(true);
    expect(
      authz.authorize(res(user('bob'), 'create', 'pods', 'team-a', { subresource: 'exec', name: 'p' }))
        .allowed,
    ).toBe(true);
    expect(authz.authorize(res(user('bob'), 'list', 'pods', 'team-b'))).toEqual({
      allowed: false,
      reason: '',
    });
    expect(authz.authorize(res(user('bob'), 'list', 'pods')).allowed).toBe(false);
  });
  it('viewer: reads everywhere, never writes nor reads secrets', () => {
    expect(authz.authorize(res(user('carol'), 'list', 'pods', 'team-b')).allowed).toBe(true);
    expect(authz.authorize(res(user('carol'), 'list', 'pods')).allowed).toBe(true);
    expect(authz.authorize(res(user('carol'), 'get', 'secrets', 'team-a')).allowed).toBe(false);
    expect(
      authz.authorize(res(user('carol'), 'create', 'pods', 'team-a', { subresource: 'exec' })).allowed,
    ).toBe(false);
    expect(authz.authorize(res(user('carol'), 'delete', 'pods', 'team-a')).allowed).toBe(false);
  });
  it('service account subjects default to the binding namespace', () => {
    const sa = {
      username: 'system:serviceaccount:team-b:deployer',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team-b', 'system:authenticated'],
    };
    expect(authz.authorize({ ...res(sa, 'update', 'deployments', 'team-b'), apiGroup: 'apps' }).allowed).toBe(
      true,
    );
    expect(authz.authorize({ ...res(sa, 'update', 'deployments', 'team-a'), apiGroup: 'apps' }).allowed).toBe(
      false,
    );
  });
  it('resourceNames never match an unnamed request', () => {
    expect(
      authz.authorize(res(user('erin'), 'get', 'configmaps', 'team-a', { name: 'settings' })).allowed,
    ).toBe(true);
    expect(authz.authorize(res(user('erin'), 'get', 'configmaps', 'team-a', { name: 'other' })).allowed).toBe(
      false,
    );
    expect(authz.authorize(res(user('erin'), 'list', 'configmaps', 'team-a')).allowed).toBe(false);
  });
  it('system:masters is a superuser; discovery and self reviews are for every authenticated user', () => {
    expect(
      authz.authorize(res({ username: 'x', groups: ['system:masters'] }, 'delete', 'nodes')).allowed,
    ).toBe(true);
    expect(
      authz.authorize({ user: user('nobody'), verb: 'get', isResourceRequest: false, path: '/apis/apps' })
        .allowed,
    ).toBe(true);
    expect(
      authz.authorize({ user: user('nobody'), verb: 'get', isResourceRequest: false, path: '/metrics' })
        .allowed,
    ).toBe(false);
    expect(
      authz.authorize({
        ...res(user('nobody'), 'create', 'selfsubjectaccessreviews'),
        apiGroup: 'authorization.k8s.io',
      }).allowed,
    ).toBe(true);
  });
  it('names a missing role in the denial reason', () => {
    expect(authz.authorize(res(user('z', ['g']), 'get', 'pods', 'team-a'))).toEqual({
      allowed: false,
      reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
    });
  });
  it('reports rules for SelfSubjectRulesReview and missing rules for escalation checks', () => {
    const rules = authz.rulesFor(user('bob'), 'team-a');
    expect(rules.resourceRules.some((r) => r.resources?.includes('pods/exec'))).toBe(true);
    expect(rules.nonResourceRules.some((r) => r.nonResourceURLs?.includes('/api/*'))).toBe(true);
    expect(
      authz.missingRules(user('bob'), 'team-a', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]),
    ).toEqual([]);
    expect(
      authz.missingRules(user('bob'), 'team-a', [
        { verbs: ['get', 'escalate'], apiGroups: [''], resources: ['pods'] },
      ]),
    ).toEqual([{ verbs: ['escalate'], apiGroups: [''], resources: ['pods'] }]);
  });
});
