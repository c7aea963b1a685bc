import { forbiddenError } from './authorization-messages';
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  notFound,
  OBJECT_MODIFIED,
  unauthorized,
} from './status';

// Each row pins one error form, message text included, to what kube-apiserver 1.32 answers.
describe('Status errors', () => {
  const bob = { username: 'bob', groups: ['system:authenticated'] };
  it.each([
    [
      'not found (core)',
      notFound({ group: '', resource: 'pods' }, 'x'),
      404,
      'NotFound',
      'pods "x" not found',
    ],
    [
      'not found (group)',
      notFound({ group: 'apps', resource: 'deployments' }, 'web'),
      404,
      'NotFound',
      'deployments.apps "web" not found',
    ],
    [
      'already exists',
      alreadyExists({ group: '', resource: 'configmaps' }, 'c'),
      409,
      'AlreadyExists',
      'configmaps "c" already exists',
    ],
    [
      'conflict',
      conflict({ group: 'apps', resource: 'deployments' }, 'web', OBJECT_MODIFIED),
      409,
      'Conflict',
      'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again',
    ],
    [
      'forbidden list in namespace',
      forbiddenError(
        {
          user: bob,
          verb: 'list',
          isResourceRequest: true,
          namespace: 'team-a',
          apiGroup: '',
          resource: 'pods',
        },
        '',
      ),
      403,
      'Forbidden',
      'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "team-a"',
    ],
    [
      'forbidden subresource by name',
      forbiddenError(
        {
          user: bob,
          verb: 'create',
          isResourceRequest: true,
          namespace: 'default',
          apiGroup: '',
          resource: 'pods',
          subresource: 'exec',
          name: 'nginx',
        },
        '',
      ),
      403,
      'Forbidden',
      'pods "nginx" is forbidden: User "bob" cannot create resource "pods/exec" in API group "" in the namespace "default"',
    ],
    [
      'forbidden cluster scope',
      forbiddenError(
        { user: bob, verb: 'list', isResourceRequest: true, apiGroup: '', resource: 'nodes' },
        '',
      ),
      403,
      'Forbidden',
      'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope',
    ],
    [
      'forbidden path',
      forbiddenError({ user: bob, verb: 'get', isResourceRequest: false, path: '/metrics' }, ''),
      403,
      'Forbidden',
      'forbidden: User "bob" cannot get path "/metrics"',
    ],
    [
      'forbidden with RBAC reason',
      forbiddenError(
        {
          user: bob,
          verb: 'get',
          isResourceRequest: true,
          namespace: 'a',
          apiGroup: 'apps',
          resource: 'deployments',
          name: 'w',
        },
        'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
      ),
      403,
      'Forbidden',
      'deployments.apps "w" is forbidden: User "bob" cannot get resource "deployments" in API group "apps" in the namespace "a": RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
    ],
    [
      'invalid, one error',
      invalid({ group: '', kind: 'Pod' }, 'x', [{ type: 'FieldValueRequired', field: 'spec.containers' }]),
      422,
      'Invalid',
      'Pod "x" is invalid: spec.containers: Required value',
    ],
    [
      'invalid, two errors',
      invalid({ group: 'apps', kind: 'Deployment' }, 'd', [
        { type: 'FieldValueRequired', field: 'spec.selector' },
        {
          type: 'FieldValueInvalid',
          field: 'spec.replicas',
          value: -1,
          detail: 'must be greater than or equal to 0',
        },
      ]),
      422,
      'Invalid',
      'Deployment.apps "d" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0]',
    ],
    [
      'expired',
      expired('too old resource version: 5 (900)'),
      410,
      'Expired',
      'too old resource version: 5 (900)',
    ],
    ['unauthorized', unauthorized(), 401, 'Unauthorized', 'Unauthorized'],
    [
      'bad request',
      badRequest('the name of the object (a) does not match the name on the URL (b)'),
      400,
      'BadRequest',
      'the name of the object (a) does not match the name on the URL (b)',
    ],
  ])('%s', (_name, err, code, reason, message) => {
    expect(err.status).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      code,
      reason,
      message,
    });
  });

  it('names the resource in details as the real server does', () => {
    expect(notFound({ group: 'apps', resource: 'deployments' }, 'web').status.details).toEqual({
      name: 'web',
      group: 'apps',
      kind: 'deployments',
    });
    expect(
      invalid({ group: '', kind: 'Pod' }, 'x', [{ type: 'FieldValueRequired', field: 'spec.containers' }])
        .status.details,
    ).toEqual({
      name: 'x',
      kind: 'Pod',
      causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' }],
    });
  });
});
