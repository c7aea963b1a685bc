import { run } from './main';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), env: {} }, out, err };
}

describe('kgw CLI', () => {
  it('prints help listing every command', async () => {
    const c = capture();
    expect(await run([], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/Commands:\n\s+version\s+Print the kgw version/);
  });

  it('prints the version', async () => {
    const c = capture();
    expect(await run(['version'], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/^kgw \d+\.\d+\.\d+\n$/);
  });

  it('refuses an unknown command with exit code 2', async () => {
    const c = capture();
    expect(await run(['frobnicate'], c.io)).toBe(2);
    expect(c.err.join('')).toContain('unknown command "frobnicate"');
  });
});
