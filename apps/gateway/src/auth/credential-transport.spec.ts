import type { IncomingMessage } from 'node:http';
import { ClientAddressResolver } from '../proxy/client-address';
import { CredentialTransport, PLAIN_HTTP_REFUSAL } from './credential-transport';

interface Row {
  peer: string;
  tls?: boolean;
  headers?: Record<string, string>;
  trusted?: string[];
  allowPlain?: boolean;
}

function requestFrom({ peer, tls = false, headers = {} }: Row): IncomingMessage {
  return { socket: { remoteAddress: peer, encrypted: tls }, headers } as unknown as IncomingMessage;
}

function refusal(row: Row): string | undefined {
  const proxies = new ClientAddressResolver(row.trusted ?? []);
  const transport = new CredentialTransport({
    allowPlain: row.allowPlain ?? false,
    fromTrustedProxy: (req) => proxies.fromTrustedProxy(req),
  });
  return transport.refusal(requestFrom(row));
}

const BEARER = { authorization: 'Bearer kgw_sniffed' };
const SESSION = { cookie: 'theme=dark; kgw_session=stolen' };

describe('CredentialTransport: credentials that crossed the network in clear', () => {
  it.each<[string, Row]>([
    ['a bearer token sniffed on the way over plain HTTP from another host', { peer: '10.1.2.3', headers: BEARER }],
    ['a session cookie sniffed on the way over plain HTTP', { peer: '10.1.2.3', headers: SESSION }],
    ['the prefixed session cookie over plain HTTP', { peer: '10.1.2.3', headers: { cookie: '__Host-kgw_session=x' } }],
    ['Basic credentials over plain HTTP', { peer: '192.0.2.7', headers: { authorization: 'Basic YTpi' } }],
    ['an IPv4-mapped remote peer posing as local', { peer: '::ffff:10.1.2.3', headers: BEARER }],
    ['an IPv6 peer from the network', { peer: '2001:db8::1', headers: BEARER }],
    [
      'a client that sends X-Forwarded-Proto: https itself (no trusted proxy)',
      { peer: '10.1.2.3', headers: { ...BEARER, 'x-forwarded-proto': 'https' } },
    ],
    [
      'a client-supplied https before the trusted proxy’s own http',
      { peer: '10.0.0.9', trusted: ['10.0.0.0/24'], headers: { ...BEARER, 'x-forwarded-proto': 'https, http' } },
    ],
    [
      'a trusted proxy that says the client spoke plain HTTP',
      { peer: '10.0.0.9', trusted: ['10.0.0.0/24'], headers: { ...BEARER, 'x-forwarded-proto': 'http' } },
    ],
    [
      'a trusted proxy that does not say (no X-Forwarded-Proto)',
      { peer: '10.0.0.9', trusted: ['10.0.0.0/24'], headers: BEARER },
    ],
    [
      'a trusted sidecar on loopback passing on plain HTTP from outside the pod',
      { peer: '127.0.0.1', trusted: ['127.0.0.1'], headers: { ...BEARER, 'x-forwarded-proto': 'http' } },
    ],
  ])('attack: %s → refused (403, naming the settings)', (_attack, row) => {
    expect(refusal(row)).toBe(PLAIN_HTTP_REFUSAL);
  });

  it.each<[string, Row]>([
    ['TLS from anywhere', { peer: '203.0.113.5', tls: true, headers: BEARER }],
    ['a loopback peer (kubectl port-forward into the pod, a local curl)', { peer: '127.0.0.1', headers: BEARER }],
    ['anywhere in 127/8', { peer: '127.8.9.10', headers: SESSION }],
    ['IPv6 loopback', { peer: '::1', headers: BEARER }],
    ['IPv4-mapped loopback', { peer: '::ffff:127.0.0.1', headers: BEARER }],
    [
      'a trusted proxy that terminated TLS',
      { peer: '10.0.0.9', trusted: ['10.0.0.0/24'], headers: { ...BEARER, 'x-forwarded-proto': 'HTTPS' } },
    ],
    [
      'a chain of proxies whose nearest one terminated TLS',
      { peer: '10.0.0.9', trusted: ['10.0.0.0/24'], headers: { ...BEARER, 'x-forwarded-proto': 'http, https' } },
    ],
    ['KGW_HTTP_ALLOW_PLAIN_CREDENTIALS=true', { peer: '10.1.2.3', headers: BEARER, allowPlain: true }],
    ['no credential at all (it gets its 401 later)', { peer: '10.1.2.3' }],
    ['cookies that are not the session', { peer: '10.1.2.3', headers: { cookie: 'theme=dark; kgw_login=x' } }],
  ])('accepted: %s', (_case, row) => {
    expect(refusal(row)).toBeUndefined();
  });

  it('says why and which settings change it', () => {
    expect(PLAIN_HTTP_REFUSAL).toMatch(/plain HTTP/);
    expect(PLAIN_HTTP_REFUSAL).toContain('KGW_HTTP_TRUSTED_PROXIES');
    expect(PLAIN_HTTP_REFUSAL).toContain('X-Forwarded-Proto: https');
    expect(PLAIN_HTTP_REFUSAL).toContain('KGW_HTTP_ALLOW_PLAIN_CREDENTIALS=true');
  });
});
