// The terminal status line of `kgw forward`: open connections, bytes each way, reconnects, and
// "reconnecting…" while the gateway is out of reach — redrawn in place on stderr once a second.
// Only on a terminal: piped or redirected output stays exactly kubectl's lines. Every other line
// the command prints clears the status line first and redraws it after, so they never mix.
import type { CliIo } from '../cli-outcome';
import type { ForwardStatus } from './tunnel-client';

const CLEAR_LINE = '\r\x1b[2K';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatStatus(s: ForwardStatus): string {
  const parts = [
    s.reconnecting ? 'reconnecting…' : 'connected',
    `${s.open} open`,
    `↑ ${formatBytes(s.bytesUp)}`,
    `↓ ${formatBytes(s.bytesDown)}`,
  ];
  if (s.reconnects > 0) parts.push(`${s.reconnects} reconnect${s.reconnects === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

export class StatusLine {
  private timer: NodeJS.Timeout | undefined;
  private shown = '';
  private source: (() => ForwardStatus) | undefined;

  constructor(
    private readonly io: CliIo,
    /** The terminal's width (the line is cut to fit, so it never wraps). */
    private readonly columns: () => number,
  ) {}

  /** An io whose lines (stdout and stderr alike) clear the status line and redraw it after. */
  wrap(): CliIo {
    return {
      env: this.io.env,
      out: (text) => this.around(() => this.io.out(text)),
      err: (text) => this.around(() => this.io.err(text)),
    };
  }

  start(source: () => ForwardStatus, everyMs = 1000): void {
    this.source = source;
    this.draw();
    this.timer = setInterval(() => this.draw(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.source = undefined;
    if (this.shown) this.io.err(CLEAR_LINE);
    this.shown = '';
  }

  private around(print: () => void): void {
    if (this.shown) this.io.err(CLEAR_LINE);
    this.shown = '';
    print();
    this.draw();
  }

  private draw(): void {
    if (!this.source) return;
    const line = formatStatus(this.source()).slice(0, Math.max(10, this.columns() - 1));
    this.io.err(`${CLEAR_LINE}${line}`);
    this.shown = line;
  }
}
