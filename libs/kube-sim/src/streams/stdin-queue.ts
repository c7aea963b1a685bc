// Input plumbing for exec/attach: a byte queue the shell reads from, and the terminal line
// discipline (echo, erase, ^C, ^D) a real pty would apply in TTY mode.

/** Bytes from the client, read asynchronously; null once the client closed stdin. */
export class StdinQueue {
  private readonly chunks: Buffer[] = [];
  private waiter: ((chunk: Buffer | null) => void) | undefined;
  private ended = false;
  private queuedBytes = 0;

  /** Bound on unread input: a client that writes without anyone reading is cut off, not buffered forever. */
  constructor(private readonly maxQueuedBytes = 16 * 1024 * 1024) {}

  push(chunk: Buffer): void {
    if (this.ended || chunk.length === 0) return;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(chunk);
      return;
    }
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > this.maxQueuedBytes) {
      this.end();
      return;
    }
    this.chunks.push(chunk);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(null);
    }
  }

  /** Makes a pending read return an empty chunk, so the reader can look at its flags (^C). */
  wake(): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(Buffer.alloc(0));
    }
  }

  get isEnded(): boolean {
    return this.ended && this.chunks.length === 0;
  }

  read(): Promise<Buffer | null> {
    const chunk = this.chunks.shift();
    if (chunk) {
      this.queuedBytes -= chunk.length;
      return Promise.resolve(chunk);
    }
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}

/** Reads whole lines (with their newline) from a StdinQueue. */
export class LineReader {
  private pending = '';

  constructor(private readonly input: StdinQueue) {}

  async readLine(): Promise<string | null> {
    for (;;) {
      const newline = this.pending.indexOf('\n');
      if (newline >= 0) {
        const line = this.pending.slice(0, newline + 1);
        this.pending = this.pending.slice(newline + 1);
        return line;
      }
      const chunk = await this.input.read();
      if (chunk === null) {
        if (this.pending === '') return null;
        const rest = this.pending;
        this.pending = '';
        return rest;
      }
      this.pending += chunk.toString('utf8');
    }
  }

  /** Whatever is buffered but not yet returned as a line (for raw readers after line reads). */
  takePending(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}

/**
 * Cooked-mode terminal input: echoes what is typed, handles backspace, turns Enter into a line,
 * ^C into an interrupt (the line is dropped) and ^D on an empty line into end of input.
 */
export class TtyLineDiscipline {
  private line = '';
  private skipEscape = 0;

  constructor(
    private readonly echo: (text: string) => void,
    private readonly deliver: StdinQueue,
    private readonly interrupt: () => void,
  ) {}

  input(chunk: Buffer): void {
    for (const char of chunk.toString('utf8')) {
      if (this.skipEscape > 0) {
        // Swallow ESC [ X (arrow keys and friends): a real shell would edit history with them.
        this.skipEscape = char === '[' || char === 'O' ? 1 : 0;
        continue;
      }
      switch (char) {
        case '\x1b':
          this.skipEscape = 2;
          break;
        case '\r':
        case '\n':
          this.echo('\r\n');
          this.deliver.push(Buffer.from(`${this.line}\n`));
          this.line = '';
          break;
        case '\x7f':
        case '\b':
          if (this.line.length > 0) {
            this.line = [...this.line].slice(0, -1).join('');
            this.echo('\b \b');
          }
          break;
        case '\x03':
          this.echo('^C\r\n');
          this.line = '';
          this.interrupt();
          break;
        case '\x04':
          if (this.line === '') this.deliver.end();
          break;
        case '\x15': // ^U: kill the line
          this.echo('\b \b'.repeat([...this.line].length));
          this.line = '';
          break;
        default:
          if (char >= ' ' || char === '\t') {
            this.line += char;
            this.echo(char);
          }
      }
    }
  }
}
