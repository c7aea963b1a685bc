import { resolveRequestInfo } from './request-info';

const info = (method: string, path: string, query = ''): object => {
  const r = resolveRequestInfo(method, path, new URLSearchParams(query));
  return {
    verb: r.verb,
    res: r.isResourceRequest,
    group: r.apiGroup,
    ns: r.namespace,
    resource: r.resource,
    sub: r.subresource,
    name: r.name,
  };
};

describe('RequestInfo', () => {
  it.each([
    [
      'GET',
      '/api/v1/namespaces/default/pods',
      '',
      { verb: 'list', res: true, group: '', ns: 'default', resource: 'pods', sub: '', name: '' },
    ],
    [
      'GET',
      '/api/v1/pods',
      'watch=true',
      { verb: 'watch', res: true, group: '', ns: '', resource: 'pods', sub: '', name: '' },
    ],
    [
      'GET',
      '/api/v1/pods',
      'watch=false',
      { verb: 'list', res: true, group: '', ns: '', resource: 'pods', sub: '', name: '' },
    ],
    [
      'GET',
      '/api/v1/namespaces/a/pods',
      'fieldSelector=metadata.name%3Dx',
      { verb: 'list', res: true, group: '', ns: 'a', resource: 'pods', sub: '', name: 'x' },
    ],
    [
      'POST',
      '/api/v1/namespaces/a/pods/p/exec',
      '',
      { verb: 'create', res: true, group: '', ns: 'a', resource: 'pods', sub: 'exec', name: 'p' },
    ],
    [
      'GET',
      '/api/v1/namespaces/a/pods/web:8080/proxy/x/y',
      '',
      { verb: 'get', res: true, group: '', ns: 'a', resource: 'pods', sub: 'proxy', name: 'web:8080' },
    ],
    [
      'DELETE',
      '/apis/apps/v1/namespaces/a/deployments',
      '',
      {
        verb: 'deletecollection',
        res: true,
        group: 'apps',
        ns: 'a',
        resource: 'deployments',
        sub: '',
        name: '',
      },
    ],
    [
      'GET',
      '/api/v1/namespaces/team-a',
      '',
      { verb: 'get', res: true, group: '', ns: 'team-a', resource: 'namespaces', sub: '', name: 'team-a' },
    ],
    [
      'PUT',
      '/api/v1/namespaces/x/finalize',
      '',
      { verb: 'update', res: true, group: '', ns: 'x', resource: 'namespaces', sub: 'finalize', name: 'x' },
    ],
    [
      'GET',
      '/api/v1/watch/namespaces/a/pods',
      '',
      { verb: 'watch', res: true, group: '', ns: 'a', resource: 'pods', sub: '', name: '' },
    ],
    [
      'GET',
      '/apis/apps',
      '',
      { verb: 'get', res: false, group: '', ns: '', resource: '', sub: '', name: '' },
    ],
    ['GET', '/healthz', '', { verb: 'get', res: false, group: '', ns: '', resource: '', sub: '', name: '' }],
  ])('%s %s?%s', (method, path, query, expected) => {
    expect(info(method, path, query)).toEqual(expected);
  });
});
