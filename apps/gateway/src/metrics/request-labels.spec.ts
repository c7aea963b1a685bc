import type { AuditEvent } from '../audit/audit-event';
import { OTHER_RESOURCE, RequestLabeller } from './request-labels';

function event(fields: Partial<AuditEvent>): AuditEvent {
  return {
    time: new Date(),
    requestId: 'r',
    instance: 'i',
    kubeGroups: [],
    path: '/',
    code: 200,
    decision: 'allow',
    latencyMs: 1,
    bytesIn: 0,
    bytesOut: 0,
    ...fields,
  };
}

describe('RequestLabeller', () => {
  it('labels built-in resources like the API server, with scope from namespace and name', () => {
    const labeller = new RequestLabeller();
    expect(
      labeller.labels(
        event({
          verb: 'get',
          apiVersion: 'v1',
          resource: 'pods',
          namespace: 'default',
          name: 'nginx',
          code: 403,
          decision: 'deny',
        }),
      ),
    ).toEqual({
      verb: 'get',
      group: '',
      version: 'v1',
      resource: 'pods',
      subresource: '',
      scope: 'resource',
      code: '403',
      decision: 'deny',
    });
    expect(
      labeller.labels(event({ verb: 'list', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments' }))
        .scope,
    ).toBe('cluster');
  });

  it.each([
    [
      'a made-up group and resource',
      { apiGroup: 'evil.example', apiVersion: 'v1', resource: 'things', code: 404 },
    ],
    ['a made-up version of a built-in resource', { apiVersion: 'v9beta9', resource: 'pods', code: 404 }],
    ['a made-up subresource', { apiVersion: 'v1', resource: 'pods', subresource: 'x1', code: 404 }],
    ['a denied made-up resource', { apiGroup: 'g', apiVersion: 'v1', resource: 'r', code: 403 }],
  ])('counts %s as "(other)"', (_name, fields) => {
    const labels = new RequestLabeller().labels(event({ verb: 'get', ...fields }));
    expect(labels).toMatchObject({ group: '', version: '', resource: OTHER_RESOURCE, subresource: '' });
  });

  it('learns a custom resource the API server served, up to a bound', () => {
    const labeller = new RequestLabeller(1);
    const crd = { verb: 'list', apiGroup: 'example.com', apiVersion: 'v1', resource: 'widgets' };
    expect(labeller.labels(event({ ...crd, code: 403 })).resource).toBe(OTHER_RESOURCE);
    expect(labeller.labels(event({ ...crd, code: 200 })).resource).toBe('widgets');
    // Once learned, a later denial is labelled with it too.
    expect(labeller.labels(event({ ...crd, code: 403 })).resource).toBe('widgets');
    // The bound is reached: the next one stays "(other)".
    expect(labeller.labels(event({ ...crd, resource: 'gadgets', code: 200 })).resource).toBe(OTHER_RESOURCE);
  });

  it('keeps an unknown verb and an impossible code out of the labels', () => {
    const labels = new RequestLabeller().labels(
      event({ verb: 'brew', code: 0, decision: 'unauthenticated' }),
    );
    expect(labels).toMatchObject({ verb: '', code: '0', resource: '' });
  });
});
