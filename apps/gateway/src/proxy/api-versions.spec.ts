import type * as http from 'node:http';
import { gatewayAddress, isApiVersionsRequest, rewriteApiVersions } from './api-versions';

function request(url: string, host?: string, method = 'GET'): http.IncomingMessage {
  return {
    url,
    method,
    headers: host === undefined ? {} : { host },
    socket: { localAddress: '127.0.0.1', localPort: 8443 },
  } as unknown as http.IncomingMessage;
}

describe('GET /api answered with the gateway as the server address', () => {
  it.each([
    ['/api', 'GET', true],
    ['/api?timeout=32s', 'GET', true],
    ['/apis', 'GET', false],
    ['/api/v1', 'GET', false],
    ['/api', 'POST', false],
  ])('%s %s is the version list: %s', (url, method, expected) => {
    expect(isApiVersionsRequest(request(url, 'x', method))).toBe(expected);
  });

  it.each([
    {
      attack: 'none: the Host the client used',
      host: 'kgw.example.com:8443',
      address: 'kgw.example.com:8443',
    },
    { attack: 'none: an IPv6 literal', host: '[::1]:8443', address: '[::1]:8443' },
    { attack: 'markup smuggled in Host', host: 'evil"><script>', address: '127.0.0.1:8443' },
    { attack: 'a path smuggled in Host', host: 'evil.example/x', address: '127.0.0.1:8443' },
    { attack: 'no Host at all', host: undefined, address: '127.0.0.1:8443' },
  ])('Host $host ($attack) → $address', ({ host, address }) => {
    expect(gatewayAddress(request('/api', host))).toBe(address);
  });

  it('rewrites only a JSON APIVersions', () => {
    const body = Buffer.from(
      JSON.stringify({
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '10.0.0.1:6443' }],
      }),
    );
    expect(JSON.parse(rewriteApiVersions(body, 'kgw:8443')!.toString())).toEqual({
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: 'kgw:8443' }],
    });
    expect(
      rewriteApiVersions(Buffer.from('{"kind":"APIGroupDiscoveryList","items":[]}'), 'kgw'),
    ).toBeUndefined();
    expect(rewriteApiVersions(Buffer.from([0x6b, 0x38, 0x73, 0x00]), 'kgw')).toBeUndefined();
  });
});
