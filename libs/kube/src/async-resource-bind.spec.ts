import { AsyncResource, executionAsyncId } from 'node:async_hooks';
import { installLeanAsyncResourceBind } from './async-resource-bind';

describe('the lean AsyncResource.prototype.bind (no DEP0172 wrapper built per call)', () => {
  const originalBind = AsyncResource.prototype.bind;
  beforeAll(() => installLeanAsyncResourceBind());

  it('replaces bind only where Node builds the DEP0172 wrappers on every call (Node 20)', () => {
    expect(AsyncResource.prototype.bind !== originalBind).toBe(originalBind.toString().includes('DEP0172'));
  });

  it.each([
    ['without thisArg: the caller’s this', undefined],
    ['with thisArg: that this', { mine: true }],
  ])('binds like Node’s: runs in the resource’s scope, %s, arguments, result, length', (_name, thisArg) => {
    const resource = new AsyncResource('kgw-test');
    const seen: Array<{ scope: number; self: unknown; args: unknown[] }> = [];
    const fn = function (this: unknown, a: number, b: number): number {
      seen.push({ scope: executionAsyncId(), self: this, args: [a, b] });
      return a + b;
    };
    // @types/node leaves out bind's second parameter (thisArg), which Node has had since 16.
    const bindWith = (impl: unknown): typeof fn =>
      (impl as (this: AsyncResource, f: typeof fn, t: unknown) => typeof fn).call(resource, fn, thisArg);
    const bound = bindWith(AsyncResource.prototype.bind);
    const receiver = { receiver: true };
    expect(bound.call(receiver, 2, 3)).toBe(5);
    expect(seen).toEqual([{ scope: resource.asyncId(), self: thisArg ?? receiver, args: [2, 3] }]);
    expect(bound.length).toBe(2);
    const node = bindWith(originalBind);
    expect(Object.keys(bound)).toEqual(Object.keys(node));
  });

  it('keeps the deprecated asyncResource accessor: reads the resource, can be set', () => {
    const resource = new AsyncResource('kgw-test');
    const other = new AsyncResource('kgw-other');
    const bound = resource.bind(() => 1) as (() => number) & { asyncResource: AsyncResource };
    expect(bound.asyncResource).toBe(resource);
    bound.asyncResource = other;
    expect(bound.asyncResource).toBe(other);
    expect(bound()).toBe(1);
  });

  it('leaves Node’s own validation to Node', () => {
    expect(() => new AsyncResource('kgw-test').bind(42 as unknown as () => void)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });
});
