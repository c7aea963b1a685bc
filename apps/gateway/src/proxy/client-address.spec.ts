import type { IncomingMessage } from 'node:http';
import { ClientAddressResolver } from './client-address';

function request(peer: string, forwardedFor?: string): IncomingMessage {
  return {
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
}

describe('ClientAddressResolver', () => {
  const rows = [
    {
      attack: 'a direct client spoofing X-Forwarded-For',
      trusted: [],
      peer: '198.51.100.7',
      xff: '10.0.0.1',
      expected: '198.51.100.7',
    },
    {
      attack: 'IPv4-mapped IPv6 peer shown as IPv4',
      trusted: [],
      peer: '::ffff:127.0.0.1',
      xff: undefined,
      expected: '127.0.0.1',
    },
    {
      attack: 'none: a trusted proxy reports the client',
      trusted: ['10.0.0.2'],
      peer: '10.0.0.2',
      xff: '203.0.113.5',
      expected: '203.0.113.5',
    },
    {
      attack: 'a client prepending a fake hop through a trusted proxy',
      trusted: ['10.0.0.2'],
      peer: '10.0.0.2',
      xff: '1.1.1.1, 203.0.113.5',
      expected: '203.0.113.5',
    },
    {
      attack: 'garbage in X-Forwarded-For',
      trusted: ['10.0.0.2'],
      peer: '10.0.0.2',
      xff: 'not-an-ip',
      expected: '10.0.0.2',
    },
    {
      attack: 'none: two trusted proxies in a row',
      trusted: ['10.0.0.2', '10.0.0.3'],
      peer: '10.0.0.2',
      xff: '203.0.113.5, 10.0.0.3',
      expected: '203.0.113.5',
    },
    {
      attack: 'none: a proxy inside a trusted CIDR range (an ingress controller pod)',
      trusted: ['10.244.0.0/16'],
      peer: '10.244.3.17',
      xff: '203.0.113.5',
      expected: '203.0.113.5',
    },
    {
      attack: 'a client just outside the trusted range spoofing X-Forwarded-For',
      trusted: ['10.244.0.0/16'],
      peer: '10.245.0.1',
      xff: '203.0.113.5',
      expected: '10.245.0.1',
    },
    {
      attack: 'none: an IPv6 range',
      trusted: ['fd00::/8'],
      peer: 'fd00::1',
      xff: '2001:db8::5',
      expected: '2001:db8::5',
    },
  ];
  it.each(rows)('$attack', ({ trusted, peer, xff, expected }) => {
    expect(new ClientAddressResolver(trusted).resolve(request(peer, xff))).toBe(expected);
  });

  it.each(['10.0.0.0/33', 'not-an-ip', '10.0.0.0/8/1', '10.0.0.0/x'])(
    'refuses the setting entry %s at boot',
    (entry) => {
      expect(() => new ClientAddressResolver([entry])).toThrow(`KGW_HTTP_TRUSTED_PROXIES: "${entry}"`);
    },
  );
});
