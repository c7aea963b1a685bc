// Credentials over plain HTTP, outside demo mode, through real sockets: a gateway without TLS
// behind a "proxy" on loopback (KGW_HTTP_TRUSTED_PROXIES=127.0.0.1, so the peer is judged by its
// X-Forwarded-Proto, as a sidecar's traffic from outside the pod would be). curl and the kgw CLI
// get a 403 that says why and what to set (kubectl sends no token over plain HTTP in the first
// place); a proxy that terminated TLS lets them through; without a trusted proxy a loopback peer
// (kubectl port-forward into the pod) is served, and so is everyone with the explicit setting.
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { loadConfig } from '@kgw/config';
import { startGateway } from '../../apps/gateway/src/gateway';
import { ExitCode, type CliIo } from '../../apps/kgw/src/commands/command';
import { run as kgw } from '../../apps/kgw/src/main';
import { startGatewayStack, type GatewayStack, CALLERS } from '../support/gateway-stack';

const run = promisify(execFile);

/** The stack without TLS: the gateway listens on plain HTTP. */
const PLAIN = { KGW_HTTP_TLS_CERT_FILE: '', KGW_HTTP_TLS_KEY_FILE: '' };

let behindProxy: GatewayStack;

beforeAll(async () => {
  behindProxy = await startGatewayStack({ env: { ...PLAIN, KGW_HTTP_TRUSTED_PROXIES: '127.0.0.1' } });
}, 120_000);
afterAll(async () => {
  await behindProxy?.stop();
});

async function curl(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', url];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await run('curl', args);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

describe('credentials over plain HTTP (outside demo mode)', () => {
  const bearer = { authorization: `Bearer ${CALLERS.alice.token}` };

  it('serves plain HTTP at all (the stack really has no TLS)', () => {
    expect(behindProxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each([
    ['no X-Forwarded-Proto: the proxy does not say the client used TLS', {}],
    ['the proxy says the client spoke plain HTTP', { 'x-forwarded-proto': 'http' }],
    ['a client-made https before the proxy’s own http', { 'x-forwarded-proto': 'https, http' }],
  ])('attack: a bearer token sniffable on the way (%s) → 403 Status naming the settings', async (_why, extra) => {
    const res = await curl(`${behindProxy.url}/api/v1/namespaces/default/pods`, { ...bearer, ...extra });
    expect(res.status).toBe(403);
    const status = JSON.parse(res.body) as { kind: string; reason: string; message: string };
    expect(status).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(status.message).toContain('plain HTTP');
    expect(status.message).toContain('KGW_HTTP_TRUSTED_PROXIES');
    expect(status.message).toContain('KGW_HTTP_ALLOW_PLAIN_CREDENTIALS=true');
  });

  it('attack: a session cookie over plain HTTP on a /kgw/ route → 403 JSON error', async () => {
    const res = await curl(`${behindProxy.url}/kgw/v1/me`, { cookie: 'kgw_session=sniffed-session-cookie' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({
      error: 'forbidden',
      message: expect.stringContaining('KGW_HTTP_ALLOW_PLAIN_CREDENTIALS'),
    });
  });

  it('the kgw CLI shows the reason and the settings (kubectl never sends a token over plain HTTP at all)', async () => {
    let output = '';
    const io: CliIo = { out: (t) => (output += t), err: (t) => (output += t), env: { HOME: behindProxy.dir } };
    const code = await kgw(['whoami', '--server', behindProxy.url, '--token', CALLERS.alice.token], io);
    expect(code).toBe(ExitCode.Forbidden);
    expect(output).toContain('403: credentials are refused over plain HTTP');
    expect(output).toContain('KGW_HTTP_ALLOW_PLAIN_CREDENTIALS=true');
    expect(output).not.toContain(CALLERS.alice.token);
  });

  it('lets them through a trusted proxy that terminated TLS (X-Forwarded-Proto: https)', async () => {
    const res = await curl(`${behindProxy.url}/api/v1/namespaces/default/pods`, {
      ...bearer,
      'x-forwarded-proto': 'https',
    });
    expect(res.status).toBe(200);
    const me = await curl(`${behindProxy.url}/kgw/v1/me`, { ...bearer, 'x-forwarded-proto': 'https' });
    expect(me.status).toBe(200);
  });

  it('answers requests without a credential as before (probes, the login page)', async () => {
    expect((await curl(`${behindProxy.url}/kgw/readyz`, {})).status).toBe(200);
    expect((await curl(`${behindProxy.url}/api/v1/namespaces`, {})).status).toBe(401);
  });
});

describe('credentials over plain HTTP from a loopback peer, or when allowed', () => {
  it.each([
    ['a loopback peer and no trusted proxy (kubectl port-forward into the pod)', { KGW_HTTP_TRUSTED_PROXIES: '' }],
    [
      'KGW_HTTP_ALLOW_PLAIN_CREDENTIALS=true (a mesh encrypts the hop)',
      { KGW_HTTP_TRUSTED_PROXIES: '127.0.0.1', KGW_HTTP_ALLOW_PLAIN_CREDENTIALS: 'true' },
    ],
  ])('serves %s', async (_case, env) => {
    // Another gateway on the same database and simulator (its audit instance is numbered).
    const gateway = await startGateway(loadConfig({ ...behindProxy.env, ...env }), {
      logDestination: new Writable({ write: (_chunk, _enc, done) => done() }),
    });
    try {
      const res = await curl(`${gateway.url}/api/v1/namespaces/team-a/pods`, {
        authorization: `Bearer ${CALLERS.bob.token}`,
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ kind: 'PodList' });
    } finally {
      await gateway.close();
    }
  });
});
