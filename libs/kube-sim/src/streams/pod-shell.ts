// The small built-in shell behind `kubectl exec`: enough of a POSIX sh for what people run against
// nginx-like pods. Input is whatever the exec client sends; it is only ever interpreted here,
// never passed to a real process. Supported: words with '…', "…" and \ quoting, $VAR/${VAR}/$?
// expansion, `;` `&&` `||` lists, newlines, `>&2` / `2>&1` / `>/dev/null` redirections, VAR=value,
// pipes, and the builtins below (text filters such as grep/head/wc and `ps` included, because
// `ps aux | grep nginx` is what people type first). A pipeline's stages run one after another,
// each reading the previous one's whole output: enough for filters, not for `sleep 9 | …`
// streaming. Background jobs and real files are not supported (a clear error says so).
import { KubeStatus } from './kube-status';
import { LineReader, StdinQueue } from './stdin-queue';

export interface TerminalSize {
  width: number;
  height: number;
}

export interface ShellIO {
  readonly tty: boolean;
  /** null when the client did not ask for stdin. */
  readonly stdin: StdinQueue | null;
  writeStdout(data: string | Buffer): void;
  writeStderr(data: string | Buffer): void;
  terminalSize(): TerminalSize | undefined;
  /** Aborts on ^C (TTY) and when the client goes away. */
  onInterrupt(listener: () => void): () => void;
  readonly closed: AbortSignal;
}

/** The container as the shell sees it. */
export interface ShellEnvironment {
  hostname: string;
  env: Record<string, string>;
  /** Absolute path → contents (a function for files that change, such as the rotating token). */
  files: Record<string, string | (() => string)>;
  /** The container's processes as `ps` shows them, PID 1 first: `[user, command line]`. */
  processes?: ReadonlyArray<readonly [user: string, command: string]>;
}

export type CommandResult = { exitCode: number } | { failure: KubeStatus };

const SHELL_NAMES = new Set([
  'sh',
  'bash',
  'ash',
  'dash',
  '/bin/sh',
  '/bin/bash',
  '/bin/ash',
  '/bin/dash',
  '/usr/bin/bash',
]);
const TOP_LEVEL_DIRS = [
  'bin',
  'boot',
  'dev',
  'docker-entrypoint.d',
  'docker-entrypoint.sh',
  'etc',
  'home',
  'lib',
  'media',
  'mnt',
  'opt',
  'proc',
  'root',
  'run',
  'sbin',
  'srv',
  'sys',
  'tmp',
  'usr',
  'var',
];

/** Thrown by `exit` to unwind the running scripts; not a failure. */
class ExitSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

type Token =
  | { kind: 'word'; value: string; quoted: boolean }
  | { kind: 'op'; value: ';' | '&&' | '||' | '|' | '&'; at: number; end: number };

interface Redirects {
  stdoutTo: 'stdout' | 'stderr' | 'null';
  stderrTo: 'stdout' | 'stderr' | 'null';
}

/** One stage of a pipeline: what it reads instead of the exec's stdin, where its stdout goes. */
interface PipeStage {
  /** The previous stage's whole output (undefined for the first stage). */
  input: string | undefined;
  /** Collects this stage's stdout for the next stage (undefined for the last stage). */
  capture: string[] | undefined;
  /** Every stage's command line: `ps` in a pipeline sees its neighbours, as in a real shell. */
  commands: string[];
}

type Builtin = (
  args: string[],
  out: (text: string | Buffer) => void,
  err: (text: string) => void,
  input: string | undefined,
) => number | Promise<number>;

/** Splits a command line into words and operators, expanding variables as sh would. */
export function tokenize(line: string, lookup: (name: string) => string): Token[] {
  const tokens: Token[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  let i = 0;
  const flush = (): void => {
    if (inWord) tokens.push({ kind: 'word', value: word, quoted });
    word = '';
    inWord = false;
    quoted = false;
  };
  const expandAt = (): void => {
    // At a '$': $NAME, ${NAME}, $?, $$, $0-$9.
    const rest = line.slice(i + 1);
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(rest);
    const plain = /^([A-Za-z_][A-Za-z0-9_]*|[?$#0-9])/.exec(rest);
    if (braced) {
      word += lookup(braced[1]);
      i += braced[0].length + 1;
    } else if (plain) {
      word += lookup(plain[1]);
      i += plain[0].length + 1;
    } else {
      word += '$';
      i += 1;
    }
    inWord = true;
  };
  while (i < line.length) {
    const char = line[i];
    if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new SyntaxError('Syntax error: Unterminated quoted string');
      word += line.slice(i + 1, end);
      inWord = true;
      quoted = true;
      i = end + 1;
    } else if (char === '"') {
      inWord = true;
      quoted = true;
      i += 1;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1])) {
          word += line[i + 1];
          i += 2;
        } else if (line[i] === '$') {
          expandAt();
        } else {
          word += line[i];
          i += 1;
        }
      }
      if (i >= line.length) throw new SyntaxError('Syntax error: Unterminated quoted string');
      i += 1;
    } else if (char === '\\') {
      if (i + 1 < line.length && line[i + 1] !== '\n') {
        word += line[i + 1];
        inWord = true;
      }
      i += 2;
    } else if (char === '$') {
      expandAt();
    } else if (char === '#' && !inWord) {
      const end = line.indexOf('\n', i);
      i = end < 0 ? line.length : end;
    } else if (char === ';' || char === '\n') {
      flush();
      tokens.push({ kind: 'op', value: ';', at: i, end: i + 1 });
      i += 1;
    } else if (char === '&' || char === '|') {
      flush();
      if (line[i + 1] === char) {
        tokens.push({ kind: 'op', value: char === '&' ? '&&' : '||', at: i, end: i + 2 });
        i += 2;
      } else {
        tokens.push({ kind: 'op', value: char, at: i, end: i + 1 });
        i += 1;
      }
    } else if (char === '>' && (!inWord || (!quoted && (word === '1' || word === '2')))) {
      // Redirections glue into one word so the command runner can recognize them: '>&2',
      // '>/dev/null', and with a descriptor written right before the '>': '2>&1'.
      const descriptor = inWord ? word : '';
      word = '';
      inWord = false;
      flush();
      const match = /^>&?\s*[^\s;&|]*/.exec(line.slice(i))!;
      tokens.push({ kind: 'word', value: descriptor + match[0].replace(/\s+/g, ''), quoted: false });
      i += match[0].length;
    } else if (/\s/.test(char)) {
      flush();
      i += 1;
    } else {
      word += char;
      inWord = true;
      i += 1;
    }
  }
  flush();
  return tokens;
}

function sleepFor(ms: number, io: ShellIO): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (completed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stopInterrupt();
      io.closed.removeEventListener('abort', onClosed);
      resolve(completed);
    };
    const timer = setTimeout(() => finish(true), Math.min(ms, 2 ** 31 - 1));
    const stopInterrupt = io.onInterrupt(() => finish(false));
    const onClosed = (): void => finish(false);
    io.closed.addEventListener('abort', onClosed);
  });
}

export class PodShell {
  private readonly vars: Record<string, string>;
  private lastStatus = 0;
  private cwd = '/';
  private lineReader: LineReader | undefined;
  /** The command lines of the pipeline running now, for `ps`. */
  private pipeline: string[] | undefined;

  constructor(
    private readonly environment: ShellEnvironment,
    private readonly io: ShellIO,
    private readonly shellName = 'sh',
  ) {
    this.vars = { ...environment.env };
    if (io.tty && !this.vars.TERM) this.vars.TERM = 'xterm';
  }

  /** Runs an exec's argv; an unknown binary fails like containerd's OCI error. */
  async exec(argv: string[]): Promise<CommandResult> {
    if (argv.length === 0) return { exitCode: 0 };
    const [program] = argv;
    if (!SHELL_NAMES.has(program) && !this.isBuiltin(program)) {
      const message =
        `error executing command in container: failed to exec in container: failed to start exec: OCI runtime exec failed: ` +
        `exec failed: unable to start container process: exec: "${program}": executable file not found in $PATH: unknown`;
      return {
        failure: {
          metadata: {},
          status: 'Failure',
          message: `Internal error occurred: ${message}`,
          reason: 'InternalError',
          details: { causes: [{ message }] },
          code: 500,
        },
      };
    }
    try {
      const code = await this.runArgv(argv, { stdoutTo: 'stdout', stderrTo: 'stderr' });
      return { exitCode: code };
    } catch (error) {
      if (error instanceof ExitSignal) return { exitCode: error.code };
      throw error;
    }
  }

  private isBuiltin(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.builtins, name.replace(/^\/(usr\/)?s?bin\//, ''));
  }

  /** Runs a script (sh -c or one interactive line). Throws ExitSignal on `exit`. */
  async runScript(script: string): Promise<number> {
    // First pass only finds the list operators (and syntax errors); each command is expanded
    // right before it runs, so `X=1; echo $X` sees the assignment.
    let structure: Token[];
    try {
      structure = tokenize(script, () => '');
    } catch (error) {
      this.io.writeStderr(`${this.shellName}: 1: ${(error as Error).message}\n`);
      return 2;
    }
    let status = this.lastStatus;
    let skip: '&&' | '||' | undefined;
    let segmentStart = 0;
    const runSegment = async (end: number): Promise<void> => {
      const text = script.slice(segmentStart, end);
      if (skip === '&&' && status !== 0) return;
      if (skip === '||' && status === 0) return;
      const stages: string[][] = [[]];
      for (const token of tokenize(text, (name) => this.lookup(name))) {
        if (token.kind === 'word') stages[stages.length - 1].push(token.value);
        else stages.push([]);
      }
      if (stages.length === 1 && stages[0].length === 0) return;
      if (stages.some((stage) => stage.length === 0)) {
        this.io.writeStderr(`${this.shellName}: 1: Syntax error: "|" unexpected\n`);
        status = 2;
      } else status = await this.runPipeline(stages);
      this.lastStatus = status;
    };
    for (const token of structure) {
      // A pipe joins stages within one list element; only the list operators end it.
      if (token.kind === 'word' || token.value === '|') continue;
      if (token.value === '&') {
        this.io.writeStderr(`${this.shellName}: background jobs are not supported by the kube-sim shell\n`);
        return 2;
      }
      await runSegment(token.at);
      segmentStart = token.end;
      // A skipped command keeps the list going with the previous status, as in sh.
      skip = token.value === ';' ? undefined : token.value;
    }
    await runSegment(script.length);
    return status;
  }

  /** Runs `a | b | c`: each stage gets the previous one's output; the last one's status counts. */
  private async runPipeline(stages: string[][]): Promise<number> {
    if (stages.length === 1) return this.runSimple(stages[0]);
    const commands = stages.map((words) => words.join(' '));
    let input: string | undefined;
    let status = 0;
    for (const [index, words] of stages.entries()) {
      const capture = index < stages.length - 1 ? [] : undefined;
      status = await this.runSimple(words, { input, capture, commands });
      input = capture?.join('');
    }
    return status;
  }

  private async runSimple(words: string[], pipe?: PipeStage): Promise<number> {
    const redirects: Redirects = { stdoutTo: 'stdout', stderrTo: 'stderr' };
    const argv: string[] = [];
    const assignments: Array<[string, string]> = [];
    for (const word of words) {
      const redirect = /^([12]?)>(&?)(.*)$/.exec(word);
      if (redirect) {
        const stream = redirect[1] === '2' ? 'stderrTo' : 'stdoutTo';
        const target = redirect[3];
        if (redirect[2] === '&' && (target === '1' || target === '2'))
          redirects[stream] = target === '1' ? 'stdout' : 'stderr';
        else if (target === '/dev/null') redirects[stream] = 'null';
        else {
          this.io.writeStderr(`${this.shellName}: 1: cannot create ${target}: Read-only file system\n`);
          return 2;
        }
        continue;
      }
      const assignment = argv.length === 0 ? /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(word) : null;
      if (assignment) assignments.push([assignment[1], assignment[2]]);
      else argv.push(word);
    }
    if (argv.length === 0) {
      for (const [name, value] of assignments) this.vars[name] = value;
      return 0;
    }
    const saved = assignments.map(([name]) => [name, this.vars[name]] as const);
    for (const [name, value] of assignments) this.vars[name] = value;
    try {
      return await this.runArgv(argv, redirects, pipe);
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete this.vars[name];
        else this.vars[name] = value;
      }
    }
  }

  private async runArgv(argv: string[], redirects: Redirects, pipe?: PipeStage): Promise<number> {
    const name = argv[0].replace(/^\/(usr\/)?s?bin\//, '');
    const send = (target: Redirects['stdoutTo'], text: string | Buffer): void => {
      if (target === 'stdout' && pipe?.capture) pipe.capture.push(text.toString());
      else this.emit(target, text);
    };
    const out = (text: string | Buffer): void => send(redirects.stdoutTo, text);
    const err = (text: string | Buffer): void => send(redirects.stderrTo, text);
    if (SHELL_NAMES.has(argv[0]) || SHELL_NAMES.has(name))
      return this.runShell(name, argv.slice(1), out, err);
    const builtin = this.builtins[name];
    if (!builtin) {
      err(
        this.shellName === 'bash'
          ? `bash: ${argv[0]}: command not found\n`
          : `${this.shellName}: 1: ${argv[0]}: not found\n`,
      );
      return 127;
    }
    this.pipeline = pipe?.commands;
    try {
      return await builtin(argv.slice(1), out, err, pipe?.input);
    } finally {
      this.pipeline = undefined;
    }
  }

  private emit(target: 'stdout' | 'stderr' | 'null', text: string | Buffer): void {
    if (target === 'stdout') this.io.writeStdout(text);
    else if (target === 'stderr') this.io.writeStderr(text);
  }

  private async runShell(
    name: string,
    args: string[],
    out: (text: string | Buffer) => void,
    err: (text: string | Buffer) => void,
  ): Promise<number> {
    // The nested shell writes where this command's output goes (a pipe, /dev/null, 2>&1).
    const io: ShellIO = {
      tty: this.io.tty,
      stdin: this.io.stdin,
      writeStdout: out,
      writeStderr: err,
      terminalSize: () => this.io.terminalSize(),
      onInterrupt: (listener) => this.io.onInterrupt(listener),
      closed: this.io.closed,
    };
    const nested = new PodShell({ ...this.environment, env: { ...this.vars } }, io, name);
    nested.lineReader = this.lineReader;
    nested.cwd = this.cwd;
    const dashC = args.indexOf('-c');
    try {
      if (dashC >= 0) {
        const script = args[dashC + 1];
        if (script === undefined) {
          this.io.writeStderr(`${name}: 0: -c requires an argument\n`);
          return 2;
        }
        return await nested.runScript(script);
      }
      return await nested.interactive(args.includes('-i'));
    } catch (error) {
      if (error instanceof ExitSignal) return error.code;
      throw error;
    } finally {
      this.lineReader = nested.lineReader;
    }
  }

  /** Reads commands from stdin until EOF or exit; prompts in a TTY (or with -i). */
  private async interactive(forcePrompt: boolean): Promise<number> {
    const stdin = this.io.stdin;
    if (!stdin) return 0;
    this.lineReader ??= new LineReader(stdin);
    const prompting = this.io.tty || forcePrompt;
    const prompt = (): string =>
      this.shellName === 'bash' ? `root@${this.environment.hostname}:${this.cwd}# ` : '# ';
    let atPrompt = false;
    // ^C at the prompt gives a fresh prompt, as in a real shell.
    const stopInterrupt = this.io.onInterrupt(() => {
      if (atPrompt && prompting) this.io.writeStdout(prompt());
    });
    try {
      for (;;) {
        if (prompting) (this.io.tty ? this.io.writeStdout : this.io.writeStderr).call(this.io, prompt());
        atPrompt = true;
        const line = await this.lineReader.readLine();
        atPrompt = false;
        if (line === null) {
          if (this.io.tty) this.io.writeStdout('exit\n');
          return this.lastStatus;
        }
        if (line.trim() === '') continue;
        this.lastStatus = await this.runScript(line);
      }
    } finally {
      stopInterrupt();
    }
  }

  private lookup(name: string): string {
    if (name === '?') return String(this.lastStatus);
    if (name === '$') return '1';
    if (name === '#') return '0';
    if (name === '0') return this.shellName;
    return this.vars[name] ?? '';
  }

  private resolvePath(path: string): string {
    const absolute = path.startsWith('/') ? path : `${this.cwd.replace(/\/$/, '')}/${path}`;
    const parts: string[] = [];
    for (const part of absolute.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') parts.pop();
      else parts.push(part);
    }
    return `/${parts.join('/')}`;
  }

  private readFile(path: string): string | undefined {
    const file = this.environment.files[path];
    return typeof file === 'function' ? file() : file;
  }

  /** Entries directly under a directory, or undefined when it is not one. */
  private listDirectory(path: string): string[] | undefined {
    const prefix = path === '/' ? '/' : `${path}/`;
    const entries = new Set<string>(path === '/' ? TOP_LEVEL_DIRS : []);
    for (const file of Object.keys(this.environment.files)) {
      if (file.startsWith(prefix)) entries.add(file.slice(prefix.length).split('/')[0]);
    }
    if (
      entries.size === 0 &&
      !(path === '/tmp' || path === '/root' || TOP_LEVEL_DIRS.includes(path.slice(1)))
    )
      return undefined;
    return [...entries].sort();
  }

  /**
   * What a filter reads: its files, else the previous stage's output, else the exec's stdin to
   * EOF. Undefined (after an error on stderr) when a file is missing.
   */
  private async filterInput(
    command: string,
    files: string[],
    input: string | undefined,
    err: (text: string) => void,
  ): Promise<string | undefined> {
    if (files.length > 0) {
      let text = '';
      for (const raw of files) {
        const contents = this.readFile(this.resolvePath(raw));
        if (contents === undefined) {
          err(`${command}: ${raw}: No such file or directory\n`);
          return undefined;
        }
        text += contents;
      }
      return text;
    }
    if (input !== undefined) return input;
    const chunks: string[] = [];
    await this.copyStdin((chunk) => chunks.push(chunk.toString()));
    return chunks.join('');
  }

  /** `-n N`, `-nN` or `-N` (head/tail); the rest of the arguments are files. */
  private static lineCount(args: string[]): { count: number; files: string[] } | undefined {
    let count = 10;
    const files: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      const value = arg === '-n' ? args[++i] : (/^-n(.+)$/.exec(arg)?.[1] ?? /^-(\d+)$/.exec(arg)?.[1]);
      if (value !== undefined) {
        count = Number(value);
        if (!Number.isInteger(count) || count < 0) return undefined;
      } else files.push(arg);
    }
    return { count, files };
  }

  private readonly builtins: Record<string, Builtin> = {
    echo: (args, out) => {
      const noNewline = args[0] === '-n';
      out(`${(noNewline ? args.slice(1) : args).join(' ')}${noNewline ? '' : '\n'}`);
      return 0;
    },
    printf: (args, out) => {
      const [format = '', ...values] = args;
      let index = 0;
      const text = format
        .replace(/%([sd%])/g, (_all, kind: string) => (kind === '%' ? '%' : (values[index++] ?? '')))
        .replace(/\\n/g, '\n')
        .replace(/\\t/g, '\t');
      out(text);
      return 0;
    },
    true: () => 0,
    false: () => 1,
    ':': () => 0,
    exit: (args) => {
      const code = args.length > 0 ? Number.parseInt(args[0], 10) : this.lastStatus;
      throw new ExitSignal(Number.isNaN(code) ? 2 : code & 0xff);
    },
    export: (args) => {
      for (const arg of args) {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(arg);
        if (match) this.vars[match[1]] = match[2];
      }
      return 0;
    },
    env: (_args, out) => {
      out(
        Object.entries(this.vars)
          .map(([name, value]) => `${name}=${value}\n`)
          .join(''),
      );
      return 0;
    },
    printenv: (args, out) => {
      if (args.length === 0) {
        out(
          Object.entries(this.vars)
            .map(([name, value]) => `${name}=${value}\n`)
            .join(''),
        );
        return 0;
      }
      let status = 0;
      for (const name of args) {
        if (name in this.vars) out(`${this.vars[name]}\n`);
        else status = 1;
      }
      return status;
    },
    hostname: (_args, out) => {
      out(`${this.environment.hostname}\n`);
      return 0;
    },
    whoami: (_args, out) => {
      out('root\n');
      return 0;
    },
    id: (_args, out) => {
      out('uid=0(root) gid=0(root) groups=0(root)\n');
      return 0;
    },
    pwd: (_args, out) => {
      out(`${this.cwd}\n`);
      return 0;
    },
    cd: (args, _out, err) => {
      const target = this.resolvePath(args[0] ?? this.vars.HOME ?? '/');
      if (!this.listDirectory(target)) {
        err(`${this.shellName}: 1: cd: can't cd to ${args[0]}\n`);
        return 2;
      }
      this.cwd = target;
      return 0;
    },
    uname: (args, out) => {
      out(
        args.includes('-a')
          ? `Linux ${this.environment.hostname} 6.1.0-kube-sim #1 SMP x86_64 GNU/Linux\n`
          : 'Linux\n',
      );
      return 0;
    },
    date: (_args, out) => {
      out(`${new Date().toUTCString().replace('GMT', 'UTC')}\n`);
      return 0;
    },
    nginx: (args, _out, err) => {
      if (args.includes('-v') || args.includes('-V')) {
        err('nginx version: nginx/1.27.3\n');
        return 0;
      }
      err('nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)\n');
      return 1;
    },
    ls: (args, out, err) => {
      const paths = args.filter((arg) => !arg.startsWith('-'));
      const long = args.some((arg) => arg.startsWith('-') && arg.includes('l'));
      let status = 0;
      const targets = paths.length > 0 ? paths : ['.'];
      for (const raw of targets) {
        const path = this.resolvePath(raw);
        const listing = this.listDirectory(path);
        if (targets.length > 1 && listing) out(`${raw}:\n`);
        if (listing) {
          out(
            listing
              .map((entry) => (long ? `-rw-r--r-- 1 root root 0 Jan  1 00:00 ${entry}` : entry))
              .join('\n') + (listing.length ? '\n' : ''),
          );
        } else if (this.readFile(path) !== undefined) {
          out(`${raw}\n`);
        } else {
          err(`ls: cannot access '${raw}': No such file or directory\n`);
          status = 2;
        }
      }
      return status;
    },
    cat: async (args, out, err, input) => {
      const files = args.filter((arg) => arg !== '-u');
      if (files.length === 0 || files.includes('-')) {
        if (input === undefined) return this.copyStdin(out);
        out(input);
        return 0;
      }
      let status = 0;
      for (const raw of files) {
        const path = this.resolvePath(raw);
        const contents = this.readFile(path);
        if (contents !== undefined) out(contents);
        else if (this.listDirectory(path)) {
          err(`cat: ${raw}: Is a directory\n`);
          status = 1;
        } else {
          err(`cat: ${raw}: No such file or directory\n`);
          status = 1;
        }
      }
      return status;
    },
    sleep: async (args, _out, err) => {
      const seconds = args[0] === 'infinity' ? Number.POSITIVE_INFINITY : Number.parseFloat(args[0] ?? '');
      if (Number.isNaN(seconds)) {
        err(`sleep: invalid time interval '${args[0] ?? ''}'\n`);
        return 1;
      }
      const completed = await sleepFor(seconds * 1000, this.io);
      return completed ? 0 : 130;
    },
    stty: (args, out, err) => {
      const size = this.io.terminalSize();
      if (!size) {
        err("stty: 'standard input': Inappropriate ioctl for device\n");
        return 1;
      }
      if (args[0] === 'size') out(`${size.height} ${size.width}\n`);
      return 0;
    },
    grep: async (args, out, err, input) => {
      const flags = new Set<string>();
      const rest: string[] = [];
      for (const arg of args) {
        if (/^-[a-zA-Z]+$/.test(arg)) for (const flag of arg.slice(1)) flags.add(flag);
        else rest.push(arg);
      }
      const [pattern, ...files] = rest;
      if (pattern === undefined) {
        err('Usage: grep [OPTION]... PATTERNS [FILE]...\n');
        return 2;
      }
      const text = await this.filterInput('grep', files, input, err);
      if (text === undefined) return 2;
      // JavaScript regular expressions stand in for POSIX ones; a pattern that is not one is
      // matched literally rather than failing.
      const literal = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      let matcher: RegExp;
      try {
        matcher = new RegExp(flags.has('F') ? literal : pattern, flags.has('i') ? 'i' : '');
      } catch {
        matcher = new RegExp(literal, flags.has('i') ? 'i' : '');
      }
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      const matched = lines
        .map((line, index) => ({ line, number: index + 1 }))
        .filter(({ line }) => matcher.test(line) !== flags.has('v'));
      if (flags.has('q')) return matched.length > 0 ? 0 : 1;
      if (flags.has('c')) out(`${matched.length}\n`);
      else
        out(
          matched.map(({ line, number }) => (flags.has('n') ? `${number}:${line}\n` : `${line}\n`)).join(''),
        );
      return matched.length > 0 ? 0 : 1;
    },
    head: async (args, out, err, input) => {
      const parsed = PodShell.lineCount(args);
      if (!parsed) {
        err(`head: invalid number of lines\n`);
        return 1;
      }
      const text = await this.filterInput('head', parsed.files, input, err);
      if (text === undefined) return 1;
      out(
        text
          .split(/(?<=\n)/)
          .slice(0, parsed.count)
          .join(''),
      );
      return 0;
    },
    tail: async (args, out, err, input) => {
      const parsed = PodShell.lineCount(args);
      if (!parsed) {
        err(`tail: invalid number of lines\n`);
        return 1;
      }
      const text = await this.filterInput('tail', parsed.files, input, err);
      if (text === undefined) return 1;
      out(
        parsed.count === 0
          ? ''
          : text
              .split(/(?<=\n)/)
              .slice(-parsed.count)
              .join(''),
      );
      return 0;
    },
    wc: async (args, out, err, input) => {
      const flags = args.filter((arg) => arg.startsWith('-')).join('');
      const text = await this.filterInput(
        'wc',
        args.filter((arg) => !arg.startsWith('-')),
        input,
        err,
      );
      if (text === undefined) return 1;
      const counts = {
        l: (text.match(/\n/g) ?? []).length,
        w: text.split(/\s+/).filter(Boolean).length,
        c: Buffer.byteLength(text),
      };
      const chosen = (['l', 'w', 'c'] as const).filter((flag) => flags.includes(flag));
      // GNU wc: a lone count from stdin unpadded, several in columns of 7.
      if (chosen.length === 1) out(`${counts[chosen[0]]}\n`);
      else
        out(
          `${(chosen.length ? chosen : (['l', 'w', 'c'] as const)).map((f) => String(counts[f]).padStart(7)).join(' ')}\n`,
        );
      return 0;
    },
    sort: async (args, out, err, input) => {
      const flags = args.filter((arg) => arg.startsWith('-')).join('');
      const text = await this.filterInput(
        'sort',
        args.filter((arg) => !arg.startsWith('-')),
        input,
        err,
      );
      if (text === undefined) return 2;
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      lines.sort(
        flags.includes('n') ? (a, b) => parseFloat(a) - parseFloat(b) || a.localeCompare(b) : undefined,
      );
      if (flags.includes('r')) lines.reverse();
      out(lines.map((line) => `${line}\n`).join(''));
      return 0;
    },
    ps: (args, out) => {
      // procps' formats for `ps`, `ps aux` and `ps -ef`: the container's processes, then this shell
      // and the commands of the pipeline running now (so `ps aux | grep nginx` lists the grep too).
      const tty = this.io.tty ? 'pts/0' : '?';
      const own: Array<[string, string]> = [
        ['root', this.shellName],
        ...(this.pipeline ?? [`ps ${args.join(' ')}`.trim()]).map((c): [string, string] => ['root', c]),
      ];
      const rows = [...(this.environment.processes ?? []), ...own].map(([user, command], index) => ({
        user,
        pid: index === 0 ? 1 : 7 * index + 22,
        ppid: index === 0 ? 0 : 1,
        tty: index < (this.environment.processes?.length ?? 0) ? '?' : tty,
        command,
      }));
      const style = args.join(' ');
      if (/^-?[a-z]*a[a-z]*u|^-?[a-z]*u[a-z]*a/.test(style) || style.includes('aux')) {
        out('USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n');
        for (const row of rows)
          out(
            `${row.user.padEnd(8)} ${String(row.pid).padStart(6)}  0.0  0.1  11404  7432 ${row.tty.padEnd(8)} ${row.pid === 1 ? 'Ss  ' : 'S   '} 00:00   0:00 ${row.command}\n`,
          );
      } else if (/-[a-z]*e/.test(style) || style.includes('-A')) {
        out('UID          PID    PPID  C STIME TTY          TIME CMD\n');
        for (const row of rows)
          out(
            `${row.user.padEnd(8)} ${String(row.pid).padStart(6)} ${String(row.ppid).padStart(7)}  0 00:00 ${row.tty.padEnd(8)} 00:00:00 ${row.command}\n`,
          );
      } else {
        out('    PID TTY          TIME CMD\n');
        for (const row of rows.filter((r) => r.tty !== '?' || !this.io.tty))
          out(`${String(row.pid).padStart(7)} ${row.tty.padEnd(8)} 00:00:00 ${row.command.split(' ')[0]}\n`);
      }
      return 0;
    },
    tput: (args, out, err) => {
      const size = this.io.terminalSize() ?? { width: 80, height: 24 };
      if (args[0] === 'cols') out(`${size.width}\n`);
      else if (args[0] === 'lines') out(`${size.height}\n`);
      else {
        err(`tput: unknown terminfo capability '${args[0] ?? ''}'\n`);
        return 4;
      }
      return 0;
    },
  };

  /** `cat` with no file: stdin to stdout until EOF (or ^C). */
  private async copyStdin(out: (text: string | Buffer) => void): Promise<number> {
    const stdin = this.io.stdin;
    if (!stdin) return 0;
    let interrupted = false;
    const wake = (): void => stdin.wake();
    const stopInterrupt = this.io.onInterrupt(() => {
      interrupted = true;
      wake();
    });
    this.io.closed.addEventListener('abort', wake);
    try {
      // Lines already read by an interactive shell come first.
      const pending = this.lineReader?.takePending();
      if (pending) out(pending);
      while (!interrupted && !this.io.closed.aborted) {
        const chunk = await stdin.read();
        if (chunk === null) break;
        if (chunk.length > 0) out(chunk);
      }
      return interrupted ? 130 : 0;
    } finally {
      stopInterrupt();
      this.io.closed.removeEventListener('abort', wake);
    }
  }
}

/** Splits `sh -c` style argv to decide what an exec runs (used for the status message). */
export function isShell(program: string): boolean {
  return SHELL_NAMES.has(program);
}
