// The single-file kgw CLI as a user without the repository gets it: GET /kgw/cli/ (version,
// SHA-256, install lines), the file and its checksum with real curl and sha256sum, then the
// downloaded file run by plain node — `kgw token create|list|revoke`, `kgw kubeconfig` whose
// credential plugin is that file (kubectl through it), and a `kgw forward` under the new token
// that revocation cuts with a clear message.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ExitCode } from '../../apps/kgw/src/commands/command';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';

const run = promisify(execFile);
const version = (
  JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string }
).version;

let stack: GatewayStack;
let home: string;
let caFile: string;

beforeAll(async () => {
  stack = await startGatewayStack();
  home = mkdtempSync(join(tmpdir(), 'kgw-cli-download-'));
  caFile = join(home, 'ca.crt');
  writeFileSync(caFile, stack.caPem);
});

afterAll(async () => {
  await stack?.stop();
  rmSync(home, { recursive: true, force: true });
});

const env = (token: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: home,
  KGW_SERVER: stack.url,
  KGW_TOKEN: token,
  KGW_CA_FILE: caFile,
});

describe('/kgw/cli/', () => {
  it('describes the download: version, SHA-256, size and install lines with the gateway URL', async () => {
    const res = await stack.request(undefined, '/kgw/cli/');
    expect(res.status).toBe(200);
    const manifest = JSON.parse(res.body) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      name: 'kgw',
      version,
      url: `${stack.url}/kgw/cli/kgw`,
      checksumUrl: `${stack.url}/kgw/cli/kgw.sha256`,
    });
    expect(manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((manifest.install as string[]).join('\n')).toContain('sha256sum -c');
    // The bare path goes to the slash form.
    const bare = await stack.request(undefined, '/kgw/cli');
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe('/kgw/cli/');
  });

  it.each([
    ['another name under /kgw/cli/', '/kgw/cli/kgw.exe'],
    ['path traversal', '/kgw/cli/..%2f..%2fpackage.json'],
    ['a dot segment', '/kgw/cli/./kgw/x'],
  ])('refuses %s with a JSON 404', async (_attack, path) => {
    const res = await stack.request(undefined, path);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'not_found' });
  });

  it('curl downloads a file that sha256sum -c accepts, sent as a download (never a page script)', async () => {
    const dir = mkdtempSync(join(home, 'dl-'));
    const curl = (path: string, out: string) =>
      run('curl', ['-fsS', '--cacert', caFile, '-o', out, '-D', `${out}.headers`, `${stack.url}${path}`], {
        cwd: dir,
      });
    await curl('/kgw/cli/kgw', 'kgw');
    await curl('/kgw/cli/kgw.sha256', 'kgw.sha256');
    const check = await run('sha256sum', ['-c', 'kgw.sha256'], { cwd: dir });
    expect(check.stdout).toBe('kgw: OK\n');
    const headers = readFileSync(join(dir, 'kgw.headers'), 'utf8').toLowerCase();
    expect(headers).toContain('content-type: application/octet-stream');
    expect(headers).toContain('content-disposition: attachment; filename="kgw"');
    expect(headers).toContain('x-content-type-options: nosniff');
    chmodSync(join(dir, 'kgw'), 0o755);
    // Runs on its own: a directory with nothing but the file, plain node.
    const { stdout } = await run(join(dir, 'kgw'), ['version'], { env: env('') });
    expect(stdout).toBe(`kgw ${version}\n`);
  });
});

describe('the downloaded CLI', () => {
  let cli: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(home, 'bin-'));
    cli = join(dir, 'kgw');
    await run('curl', ['-fsS', '--cacert', caFile, '-o', cli, `${stack.url}/kgw/cli/kgw`]);
    chmodSync(cli, 0o755);
  });

  it('kgw token create|list|revoke: the token once on stdout, a table, then revoked', async () => {
    const created = await run(cli, ['token', 'create', '--name', 'e2e-list', '--scope', 'read-only'], {
      env: env(CALLERS.alice.token),
    });
    const token = created.stdout.trim();
    expect(token).toMatch(/^kgw_[0-9A-Za-z]{43}$/);
    const id = /token (tok_\w+)/.exec(created.stderr)?.[1];
    expect(id).toBeDefined();
    expect(created.stderr).toContain('scopes read-only');

    const listed = await run(cli, ['token', 'list'], { env: env(CALLERS.alice.token) });
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+SCOPES\s+NAMESPACES\s+EXPIRES\s+LAST USED\n/);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+e2e-list\\s+read-only\\s+all`));
    expect(listed.stdout).not.toContain(token);

    // The new token works (whoami), then not after revoke.
    expect((await run(cli, ['whoami'], { env: env(token) })).stdout).toContain('user:        alice');
    const revoked = await run(cli, ['token', 'revoke', id!], { env: env(CALLERS.alice.token) });
    expect(revoked.stdout).toBe(`token ${id} revoked\n`);
    await expect(run(cli, ['whoami'], { env: env(token) })).rejects.toMatchObject({
      code: ExitCode.NotLoggedIn,
    });
    await expect(run(cli, ['token', 'revoke', id!], { env: env(CALLERS.alice.token) })).rejects.toMatchObject(
      { code: ExitCode.NotFound },
    );
  });

  it('kgw kubeconfig names the downloaded file itself as the credential plugin; kubectl works through it', async () => {
    const file = join(home, 'kubeconfig-downloaded');
    const written = await run(cli, ['kubeconfig', '--kubeconfig', file, '-n', 'default'], {
      env: env(CALLERS.alice.token),
    });
    expect(written.stdout).toMatch(/Context "kgw-127\.0\.0\.1-\d+" written/);
    const config = parseYaml(readFileSync(file, 'utf8')) as {
      users: Array<{ user: { exec: { command: string; args: string[] } } }>;
    };
    const exec = config.users[0].user.exec;
    // The file that ran, by its real path (there is no main.js next to a downloaded CLI), and node.
    expect(exec.command).toBe(process.execPath);
    expect(exec.args[0]).toBe(realpathSync(cli));
    expect(readFileSync(file, 'utf8')).not.toContain(CALLERS.alice.token);
    const pods = await run('kubectl', ['--kubeconfig', file, 'get', 'pods', '-o', 'name'], {
      env: { ...env(CALLERS.alice.token), HOME: mkdtempSync(join(home, 'kubectl-home-')) },
    });
    expect(pods.stdout).toContain('pod/nginx');
  });

  it('kgw forward under a PAT: revoking the token cuts the tunnel at once with a clear message', async () => {
    const created = await run(cli, ['token', 'create', '--name', 'e2e-forward', '--scope', 'forward'], {
      env: env(CALLERS.alice.token),
    });
    const token = created.stdout.trim();
    const id = /token (tok_\w+)/.exec(created.stderr)![1];
    const child = spawn(cli, ['forward', 'pod/nginx', ':80'], {
      env: env(token),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      const port = await new Promise<number>((found, fail) => {
        child.stdout.on('data', () => {
          const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 80/.exec(out);
          if (m) found(Number(m[1]));
        });
        void exited.then(() => fail(new Error(`kgw forward exited: ${err}`)));
      });
      const page = await run('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${port}/`]);
      expect(page.stdout).toContain('Welcome to nginx!');
      await run(cli, ['token', 'revoke', id], { env: env(CALLERS.alice.token) });
      expect(await exited).toBe(ExitCode.NotLoggedIn);
      expect(err).toContain('the gateway closed the tunnel: the credential was revoked or has expired');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
