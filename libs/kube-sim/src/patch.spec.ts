import {
  applyConfiguration,
  applyJsonPatch,
  applyMergePatch,
  PatchError,
  strategicMerge,
  type Json,
} from './patch';

describe('JSON patch', () => {
  const doc: Json = { metadata: { labels: { a: '1' } }, spec: { list: [1, 2, 3] } };
  it('adds, replaces, removes, moves, copies and tests', () => {
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/metadata/labels/b', value: '2' },
      { op: 'replace', path: '/metadata/labels/a', value: 'x' },
      { op: 'remove', path: '/spec/list/0' },
      { op: 'add', path: '/spec/list/-', value: 4 },
      { op: 'copy', from: '/metadata/labels/b', path: '/metadata/labels/c' },
      { op: 'move', from: '/metadata/labels/c', path: '/metadata/labels/d' },
      { op: 'test', path: '/metadata/labels/d', value: '2' },
      { op: 'add', path: '/metadata/labels/e~1f', value: 'slash' },
    ]);
    expect(out).toEqual({
      metadata: { labels: { a: 'x', b: '2', d: '2', 'e/f': 'slash' } },
      spec: { list: [2, 3, 4] },
    });
    expect(doc).toEqual({ metadata: { labels: { a: '1' } }, spec: { list: [1, 2, 3] } });
  });
  it('fails a test op and a missing path', () => {
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/spec/list/0', value: 9 }])).toThrow(PatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 1 }])).toThrow(PatchError);
    expect(() => applyJsonPatch(doc, { op: 'add' })).toThrow(PatchError);
  });
});

describe('merge patch', () => {
  it('merges maps, deletes nulls and replaces lists', () => {
    expect(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [9] })).toEqual({
      a: { c: 2, d: 3 },
      l: [9],
    });
  });
});

describe('strategic merge patch', () => {
  const pod: Json = {
    metadata: { labels: { app: 'x' }, finalizers: ['a'] },
    spec: {
      containers: [
        { name: 'a', image: 'nginx:1', ports: [{ containerPort: 80, name: 'http' }] },
        { name: 'b', image: 'busybox' },
      ],
    },
  };
  it('merges containers by name and ports by containerPort', () => {
    const out = strategicMerge(pod, {
      spec: { containers: [{ name: 'a', image: 'nginx:2', ports: [{ containerPort: 81 }] }] },
    }) as never as { spec: { containers: unknown[] } };
    expect(out.spec.containers).toEqual([
      { name: 'a', image: 'nginx:2', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 81 }] },
      { name: 'b', image: 'busybox' },
    ]);
  });
  it('honours $patch: delete, null deletion, $setElementOrder and primitive list merge', () => {
    const out = strategicMerge(pod, {
      metadata: { labels: { app: null, tier: 'web' }, finalizers: ['b'] },
      spec: { $setElementOrder: undefined as never, containers: [{ name: 'b', $patch: 'delete' }] },
    });
    expect(out).toEqual({
      metadata: { labels: { tier: 'web' }, finalizers: ['a', 'b'] },
      spec: { containers: [{ name: 'a', image: 'nginx:1', ports: [{ containerPort: 80, name: 'http' }] }] },
    });
    const ordered = strategicMerge(pod, {
      spec: {
        '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }],
        containers: [{ name: 'a', image: 'nginx:3' }],
      },
    }) as never as { spec: { containers: { name: string }[] } };
    expect(ordered.spec.containers.map((c) => c.name)).toEqual(['b', 'a']);
  });
  it('merges the last-applied annotation like any other map entry', () => {
    const out = strategicMerge(
      { metadata: { annotations: { keep: '1' } } },
      { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } } },
    );
    expect(out).toEqual({
      metadata: { annotations: { keep: '1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    });
  });
  it('service ports merge on port', () => {
    const out = strategicMerge(
      { spec: { ports: [{ port: 80, name: 'http' }] } },
      { spec: { ports: [{ port: 443, name: 'https' }] } },
    );
    expect(out).toEqual({
      spec: {
        ports: [
          { port: 80, name: 'http' },
          { port: 443, name: 'https' },
        ],
      },
    });
  });
});

describe('server-side apply (simplified)', () => {
  it('merges the applied configuration into the live object', () => {
    expect(
      applyConfiguration(
        { spec: { replicas: 1, template: { x: 1 } }, status: { ready: 1 } },
        { spec: { replicas: 3 } },
      ),
    ).toEqual({
      spec: { replicas: 3, template: { x: 1 } },
      status: { ready: 1 },
    });
  });
});
