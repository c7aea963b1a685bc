import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createPki } from '@kgw/kube-sim';
import { ExitCode } from './commands/command';
import { resolveGatewayConnection } from './gateway-connection';
import { run } from './main';

function capture(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), env },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

describe('kgw CLI', () => {
  it('prints help listing every command, with the exit codes', async () => {
    for (const argv of [[], ['help'], ['--help']]) {
      const c = capture();
      expect(await run(argv, c.io)).toBe(ExitCode.Ok);
      for (const name of ['login', 'logout', 'whoami', 'audit', 'version'])
        expect(c.out()).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
      if (argv.length) expect(c.out()).toContain('3 not logged in');
    }
  });

  it('prints the version (command and flag)', async () => {
    for (const argv of [['version'], ['--version']]) {
      const c = capture();
      expect(await run(argv, c.io)).toBe(ExitCode.Ok);
      expect(c.out()).toMatch(/^kgw \d+\.\d+\.\d+\n$/);
    }
  });

  it('prints one command’s help, nested commands included', async () => {
    const c = capture();
    expect(await run(['audit', 'tail', '--help'], c.io)).toBe(ExitCode.Ok);
    expect(c.out()).toContain('--namespace <ns>');
    expect(c.out()).toContain('--server <url>');
  });

  it.each([
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown option', ['whoami', '--frobnicate'], /unknown option '--frobnicate'/],
    ['a bad choice', ['whoami', '--output', 'xml'], /Allowed choices are text, json/],
    ['a missing value', ['audit', 'tail', '--count'], /argument missing/],
    ['a bad number', ['audit', 'tail', '--count', '0'], /expected a positive number/],
    ['an unknown subcommand', ['audit', 'frobnicate'], /unknown command 'frobnicate'/],
  ])('refuses %s with the usage exit code', async (_what, argv, message) => {
    const c = capture();
    expect(await run(argv, c.io)).toBe(ExitCode.Usage);
    expect(c.err()).toMatch(message);
  });

  it('says "not logged in" with its own exit code when there is no login', async () => {
    const c = capture({ HOME: mkdtempSync(join(tmpdir(), 'kgw-cli-')) });
    expect(await run(['whoami'], c.io)).toBe(ExitCode.NotLoggedIn);
    expect(c.err()).toMatch(/^kgw whoami: not logged in: run kgw login/);
  });

  it('says the gateway is unreachable with its own exit code', async () => {
    const c = capture({ HOME: mkdtempSync(join(tmpdir(), 'kgw-cli-')) });
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    expect(await run(['whoami', '--server', 'http://127.0.0.1:1', '--token', 'kgw_x'], c.io)).toBe(
      ExitCode.Unreachable,
    );
    expect(c.err()).toMatch(/^kgw whoami: cannot reach http:\/\/127\.0\.0\.1:1/);
  });

  it('suggests --ca / KGW_CA_FILE when the gateway certificate is not trusted', async () => {
    const pki = await createPki(['localhost'], ['127.0.0.1']);
    const server = createServer({ cert: pki.serving.certPem, key: pki.serving.keyPem }, (_req, res) =>
      res.end('{}'),
    );
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // Every command that talks to the gateway: plain HTTPS (whoami) and the tunnel's WebSocket.
      for (const args of [['whoami'], ['forward', 'pod/nginx', '0:80']]) {
        const c = capture({ HOME: mkdtempSync(join(tmpdir(), 'kgw-cli-')) });
        expect(await run([...args, '--server', url, '--token', 'kgw_x'], c.io)).toBe(ExitCode.Unreachable);
        expect(c.err()).toContain(`cannot reach ${url}: unable to verify the first certificate`);
        expect(c.err()).toContain('pass --ca FILE (or set KGW_CA_FILE)');
      }
    } finally {
      server.close();
    }
  });

  it.each([
    ['http://gw.example.com:8080', true],
    ['http://10.0.0.5', true],
    ['http://127.0.0.1:8080', false],
    ['http://localhost:8080', false],
    ['http://[::1]:8080', false],
    ['https://gw.example.com', false],
  ])('warns before sending a token to %s over the network in plain HTTP: %s', (server, warns) => {
    const warnings: string[] = [];
    resolveGatewayConnection(
      { server, token: 'kgw_x' },
      { HOME: mkdtempSync(join(tmpdir(), 'kgw-cli-')) },
      (t) => warnings.push(t),
    );
    expect(warnings.length > 0).toBe(warns);
    if (warns) expect(warnings[0]).toMatch(/is plain HTTP: your token travels readable by anyone/);
  });
});
