import { StatusLine, formatBytes, formatStatus } from './status-line';
import type { ForwardStatus } from './tunnel-client';

const status = (over: Partial<ForwardStatus> = {}): ForwardStatus => ({
  open: 2,
  bytesUp: 1536,
  bytesDown: 3 * 1024 * 1024,
  reconnects: 0,
  reconnecting: false,
  ...over,
});

describe('formatStatus', () => {
  it.each([
    [status(), 'connected · 2 open · ↑ 1.5 KiB · ↓ 3.0 MiB'],
    [
      status({ reconnecting: true, reconnects: 1 }),
      'reconnecting… · 2 open · ↑ 1.5 KiB · ↓ 3.0 MiB · 1 reconnect',
    ],
    [
      status({ open: 0, bytesUp: 0, bytesDown: 12, reconnects: 3 }),
      'connected · 0 open · ↑ 0 B · ↓ 12 B · 3 reconnects',
    ],
  ])('%j → %s', (s, line) => expect(formatStatus(s)).toBe(line));

  it('formats sizes up to TiB', () => {
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(200 * 1024 ** 3)).toBe('200 GiB');
    expect(formatBytes(5 * 1024 ** 5)).toBe('5120 TiB');
  });
});

describe('StatusLine', () => {
  it('clears itself before every other line and redraws after, cut to the terminal width', () => {
    const written: string[] = [];
    const io = {
      out: (t: string) => written.push(`out:${t}`),
      err: (t: string) => written.push(`err:${t}`),
      env: {},
    };
    const line = new StatusLine(io, () => 20);
    const wrapped = line.wrap();
    line.start(() => status(), 60_000);
    wrapped.out('Handling connection for 28000\n');
    line.stop();
    expect(written).toEqual([
      'err:\r\x1b[2Kconnected · 2 open ',
      'err:\r\x1b[2K',
      'out:Handling connection for 28000\n',
      'err:\r\x1b[2Kconnected · 2 open ',
      'err:\r\x1b[2K',
    ]);
  });

  it('prints nothing of its own before start', () => {
    const written: string[] = [];
    const io = { out: (t: string) => written.push(t), err: (t: string) => written.push(t), env: {} };
    new StatusLine(io, () => 80).wrap().err('kgw: reconnecting\n');
    expect(written).toEqual(['kgw: reconnecting\n']);
  });
});
