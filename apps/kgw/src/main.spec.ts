import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from './commands/command';
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
});
