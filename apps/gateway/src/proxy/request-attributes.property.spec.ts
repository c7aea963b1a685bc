// Property (issue #17, fidelity): for random paths, query strings and headers, the attributes
// the gateway authorizes (libs/kube resolveRequestInfo) are the ones the API server will act
// on — here the simulator's independent reading (libs/kube-sim), which follows the API
// server's own code — or the gateway refuses the request. A difference means the gateway
// could authorize one thing and forward another.
import fc from 'fast-check';
import { isRequestRejection, resolveRequestInfo } from '@kgw/kube';
import { resolveRequestInfo as simRequestInfo } from '@kgw/kube-sim';

const SEGMENTS = [
  'api',
  'apis',
  'v1',
  'apps',
  'namespaces',
  'team-a',
  'default',
  'pods',
  'nginx',
  'exec',
  'proxy',
  'watch',
  'status',
  'finalize',
  'log',
  'deployments',
  'scale',
  'nodes',
  'node-1',
  'services',
  'my-nginx:80',
  'secrets',
  'x.y',
  '',
];

/** A segment as a client may spell it: plain, percent-encoded (any letters), or odd. */
const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9.:-]{1,8}$/) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...SEGMENTS), fc.nat())
      .map(([s, n]) =>
        [...s].map((c, i) => ((n >> i) & 1 ? `%${c.charCodeAt(0).toString(16)}` : c)).join(''),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('.', '..', '%2e', '%2F', 'a;b', '%25', 'a%5cb', '%00', 'é', '%C3%A9'),
  },
);

const QUERY_KEYS = [
  'watch',
  'fieldSelector',
  'labelSelector',
  'limit',
  'timeoutSeconds',
  'follow',
  'resourceVersion',
  'x',
];
const QUERY_VALUES = [
  '',
  'true',
  'false',
  'FALSE',
  'False',
  'fAlSe',
  '0',
  '1',
  'falſe',
  'FALſE',
  'yes',
  'no',
  't',
  'f',
  ' 5 ',
  '5',
  '-1',
  '99999999999999999999',
  'metadata.name=foo',
  'metadata.name==bar',
  'metadata.name!=baz',
  'a=b,metadata.name=c',
  'metadata.name=a,metadata.name=b',
  'metadata.name=x\\,y',
  'metadata.name=..',
  'metadata.name=a%2Fb',
  'app=web',
  'app in (a,b)',
  'status.phase=Running',
];

const queryValue = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...QUERY_VALUES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);

/** Encodes as a client might: fully, minimally, or with `+` for spaces. */
const encoded = (value: string, style: number): string =>
  style === 0
    ? encodeURIComponent(value)
    : style === 1
      ? value.replace(/[ #&%]/g, encodeURIComponent)
      : encodeURIComponent(value).replace(/%20/g, '+');

const query = fc
  .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), queryValue, fc.integer({ min: 0, max: 2 })), {
    maxLength: 4,
  })
  .map((pairs) => pairs.map(([k, v, style]) => `${k}=${encoded(v, style)}`).join('&'));

const target = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 8 }), fc.boolean(), query)
  .map(([segments, slash, q]) => `/${segments.join('/')}${slash ? '/' : ''}${q ? `?${q}` : ''}`);

const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS');

describe("request attributes: gateway vs the simulator's independent reading (fast-check)", () => {
  it('are equal, or the gateway rejects the request', () => {
    fc.assert(
      fc.property(method, target, (verb, raw) => {
        const gateway = resolveRequestInfo(verb, raw);
        if (isRequestRejection(gateway)) return;
        const url = new URL(raw, 'https://sim.invalid');
        let sim;
        try {
          sim = simRequestInfo(verb, url.pathname, url.searchParams);
        } catch {
          // The API server fails the request (500): the gateway must have refused it.
          throw new Error(`the gateway accepted ${verb} ${raw}, which the API server fails`);
        }
        const pick = (info: typeof gateway | typeof sim) => ({
          isResourceRequest: info.isResourceRequest,
          verb: info.verb,
          apiPrefix: info.apiPrefix,
          apiGroup: info.apiGroup,
          apiVersion: info.apiVersion,
          namespace: info.namespace,
          resource: info.resource,
          subresource: info.subresource,
          name: info.name,
        });
        expect({ target: `${verb} ${raw}`, ...pick(gateway) }).toEqual({
          target: `${verb} ${raw}`,
          ...pick(sim),
        });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('query parameters converted as the API server converts them', () => {
  it.each([
    { query: 'watch=true', verb: 'watch' },
    { query: 'watch=yes', verb: 'watch' },
    { query: 'watch=', verb: 'watch' },
    { query: 'watch=FaLsE', verb: 'list' },
    { query: 'watch=0', verb: 'list' },
    // strings.EqualFold folds ſ (U+017F) to s: the codec reads `falſe` as false.
    { query: 'watch=fal%C5%BFe', verb: 'list' },
    // ListOptions fail to decode (limit is no integer): requestinfo.go lowers `watch` with
    // strings.ToLower instead, which leaves ſ alone — now it is a watch.
    { query: 'watch=fal%C5%BFe&limit=x', verb: 'watch' },
    { query: 'watch=FALSE&limit=x', verb: 'list' },
  ])('GET pods?$query → $verb (gateway and simulator agree)', ({ query, verb }) => {
    const raw = `/api/v1/namespaces/team-a/pods?${query}`;
    const gateway = resolveRequestInfo('GET', raw);
    const url = new URL(raw, 'https://sim.invalid');
    expect(isRequestRejection(gateway) ? 'rejected' : gateway.verb).toBe(verb);
    expect(simRequestInfo('GET', url.pathname, url.searchParams).verb).toBe(verb);
  });
});
