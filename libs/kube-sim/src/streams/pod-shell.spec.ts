import { PodShell, ShellEnvironment, ShellIO, tokenize } from './pod-shell';
import { StdinQueue } from './stdin-queue';

function harness(options: { stdin?: string; tty?: boolean } = {}): {
  io: ShellIO;
  out: () => string;
  err: () => string;
} {
  let stdout = '';
  let stderr = '';
  const stdin = options.stdin === undefined ? null : new StdinQueue();
  if (stdin && options.stdin) stdin.push(Buffer.from(options.stdin));
  stdin?.end();
  const io: ShellIO = {
    tty: options.tty ?? false,
    stdin,
    writeStdout: (data) => (stdout += data.toString()),
    writeStderr: (data) => (stderr += data.toString()),
    terminalSize: () => (options.tty ? { width: 120, height: 40 } : undefined),
    onInterrupt: () => () => undefined,
    closed: new AbortController().signal,
  };
  return { io, out: () => stdout, err: () => stderr };
}

const environment: ShellEnvironment = {
  hostname: 'nginx',
  env: { HOSTNAME: 'nginx', KUBERNETES_SERVICE_HOST: '10.96.0.1' },
  files: { '/etc/hostname': 'nginx\n', '/var/run/secrets/kubernetes.io/serviceaccount/token': () => 'tok' },
  processes: [
    ['root', 'nginx: master process nginx -g daemon off;'],
    ['nginx', 'nginx: worker process'],
  ],
};

describe('PodShell', () => {
  it.each([
    [['echo', 'hello', 'world'], 'hello world\n', 0],
    [['sh', '-c', 'echo "$HOSTNAME:$KUBERNETES_SERVICE_HOST"; exit 3'], 'nginx:10.96.0.1\n', 3],
    [['sh', '-c', 'false || echo fallback && echo chained'], 'fallback\nchained\n', 0],
    [['sh', '-c', "X=1; echo ${X}$? 'single $X'"], '10 single $X\n', 0],
    [['cat', '/etc/hostname', '/var/run/secrets/kubernetes.io/serviceaccount/token'], 'nginx\ntok', 0],
    [['hostname'], 'nginx\n', 0],
    [['ls', '/var/run/secrets/kubernetes.io/serviceaccount'], 'token\n', 0],
    [['sh', '-c', 'echo hidden >/dev/null; echo shown'], 'shown\n', 0],
    [['sleep', '0'], '', 0],
  ])('%j prints %j and exits %d', async (argv, expected, code) => {
    const { io, out } = harness();
    expect(await new PodShell(environment, io).exec(argv)).toEqual({ exitCode: code });
    expect(out()).toBe(expected);
  });

  it('sends >&2 to stderr and reports unknown commands like dash', async () => {
    const { io, out, err } = harness();
    expect(await new PodShell(environment, io).exec(['sh', '-c', 'echo oops >&2; nosuch'])).toEqual({
      exitCode: 127,
    });
    expect(out()).toBe('');
    expect(err()).toBe('oops\nsh: 1: nosuch: not found\n');
  });

  it('fails an unknown binary the way containerd does', async () => {
    const { io } = harness();
    const result = await new PodShell(environment, io).exec(['nosuch']);
    expect(result).toMatchObject({ failure: { reason: 'InternalError', code: 500 } });
  });

  it('cat with no file copies stdin until EOF; sh reads commands from stdin', async () => {
    const cat = harness({ stdin: 'a\nb\n' });
    expect(await new PodShell(environment, cat.io).exec(['cat'])).toEqual({ exitCode: 0 });
    expect(cat.out()).toBe('a\nb\n');
    const sh = harness({ stdin: 'echo one\nexit 5\necho never\n' });
    expect(await new PodShell(environment, sh.io).exec(['sh'])).toEqual({ exitCode: 5 });
    expect(sh.out()).toBe('one\n');
  });

  it.each([
    ['printf "b\\na\\nc\\n" | sort | head -n 2', 'a\nb\n', 0],
    ['printf "x1\\ny2\\nx3\\n" | grep x | wc -l', '2\n', 0],
    ['printf "x1\\ny2\\n" | grep -v x', 'y2\n', 0],
    ['echo hi | grep -q nope || echo none', 'none\n', 0],
    ['printf "1\\n2\\n3\\n" | tail -1', '3\n', 0],
    ['echo one two | wc', '      1       2       8\n', 0],
    ['cat /etc/hostname | cat', 'nginx\n', 0],
    ['echo out; echo err >&2 | wc -l', 'out\n0\n', 0],
    ['sh -c "echo err >&2" 2>&1 | wc -l', '1\n', 0],
    ['echo a | grep b', '', 1],
  ])('pipes: %s', async (script, expected, code) => {
    const { io, out } = harness();
    expect(await new PodShell(environment, io).exec(['sh', '-c', script])).toEqual({ exitCode: code });
    expect(out()).toBe(expected);
  });

  it('ps aux | grep nginx lists the master, the workers and the grep itself', async () => {
    const { io, out } = harness();
    expect(await new PodShell(environment, io).exec(['sh', '-c', 'ps aux | grep nginx'])).toEqual({
      exitCode: 0,
    });
    const lines = out().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^root\s+1\s.*nginx: master process nginx -g daemon off;$/);
    expect(lines[1]).toMatch(/^nginx\s+\d+\s.*nginx: worker process$/);
    expect(lines[2]).toMatch(/^root\s+\d+\s.*grep nginx$/);
    const ps = harness();
    await new PodShell(environment, ps.io).exec(['ps', '-ef']);
    expect(ps.out()).toMatch(/^UID\s+PID\s+PPID\s+C STIME TTY\s+TIME CMD\n/);
  });

  it('a pipe with a missing stage is a syntax error; & stays refused', async () => {
    const { io, err } = harness();
    expect(await new PodShell(environment, io).exec(['sh', '-c', 'echo a |'])).toEqual({ exitCode: 2 });
    expect(err()).toBe('sh: 1: Syntax error: "|" unexpected\n');
  });

  it('knows the terminal size in a TTY', async () => {
    const { io, out } = harness({ tty: true });
    await new PodShell(environment, io).exec(['sh', '-c', 'stty size; tput cols']);
    expect(out()).toBe('40 120\n120\n');
  });

  it('tokenizes quotes, escapes and operators', () => {
    const words = tokenize(`a "b c" 'd $X' e\\ f;g&&h`, () => '');
    expect(words.map((token) => token.value)).toEqual(['a', 'b c', 'd $X', 'e f', ';', 'g', '&&', 'h']);
    expect(() => tokenize('"open', () => '')).toThrow(/Unterminated/);
  });
});
