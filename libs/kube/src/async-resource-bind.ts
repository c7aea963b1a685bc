// Node 20's AsyncResource.prototype.bind() gives every function it binds a deprecated
// `asyncResource` accessor pair (DEP0172), each half built on the spot by util.deprecate(): two
// closures and two prototype changes per call. node:http2's ClientHttp2Session.request() binds
// once per request, so on the HTTP/2 upstream path that wrapper alone was ~4 % of the gateway's
// CPU (bench profile, get-pod). installLeanAsyncResourceBind() replaces bind with one that builds
// the same bound function with the same accessor — still deprecated, still warning once — from
// accessors made once. It changes nothing on a Node whose bind does not build that wrapper.
import { AsyncResource } from 'node:async_hooks';
import { deprecate } from 'node:util';

type Callable = (this: unknown, ...args: unknown[]) => unknown;
/** The resource the `asyncResource` accessor reads and writes (Node keeps it in a closure). */
const SELF = Symbol('asyncResource');
type Bound = Callable & { [SELF]: unknown };

const DEPRECATION = 'The asyncResource property on bound functions is deprecated';
const asyncResourceAccessor = {
  configurable: true,
  enumerable: true,
  get: deprecate(
    function (this: Bound) {
      return this[SELF];
    },
    DEPRECATION,
    'DEP0172',
  ),
  set: deprecate(
    function (this: Bound, value: unknown) {
      this[SELF] = value;
    },
    DEPRECATION,
    'DEP0172',
  ),
};

let installed = false;

export function installLeanAsyncResourceBind(): void {
  if (installed) return;
  installed = true;
  const prototype = AsyncResource.prototype as unknown as {
    bind(this: AsyncResource, fn: unknown, thisArg?: unknown): unknown;
  };
  const original = prototype.bind;
  if (!original.toString().includes('DEP0172')) return;
  prototype.bind = function bind(this: AsyncResource, fn: unknown, thisArg?: unknown): unknown {
    // Anything unusual (not a function: Node's own validation error) goes the original way.
    if (typeof fn !== 'function') return original.call(this, fn, thisArg);
    return leanBind(this, fn as Callable, thisArg);
  };
}

function leanBind(resource: AsyncResource, target: Callable, thisArg: unknown): Bound {
  const bound = (
    thisArg === undefined
      ? function (this: unknown, ...args: unknown[]) {
          return resource.runInAsyncScope(target, this, ...args);
        }
      : resource.runInAsyncScope.bind(resource, target, thisArg)
  ) as Bound;
  Object.defineProperties(bound, {
    length: { configurable: true, enumerable: false, value: target.length, writable: false },
    asyncResource: asyncResourceAccessor,
    [SELF]: { configurable: true, enumerable: false, value: resource, writable: true },
  });
  return bound;
}
