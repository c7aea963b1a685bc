// `kgw login https://gateway`: gets a personal access token for this computer without the CLI
// ever seeing a password. Default: the device flow through the gateway (the CLI prints a URL
// and a code; the user approves in a browser where they are logged in). `--loopback`: the
// browser is sent back to http://127.0.0.1:<port> on this machine with a single-use code,
// bound to a PKCE verifier only this process knows, and a random state it checks. The listener
// answers only requests addressed to it by name (`Host: 127.0.0.1:<port>`): a page on a
// rebinding name (attacker.example resolving to 127.0.0.1) reaches the port but not the login.
// The token is saved to ~/.config/kgw/login.json (0600) and never printed.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { isLoopbackHost } from '../gateway-connection';
import { CliError, ExitCode, positiveNumber, type AddCommand, type CliIo } from './command';
import { gatewayJson } from '../gateway-json';
import { saveLogin } from '../saved-login';

interface IssuedToken {
  access_token: string;
  token_id: string;
  user: string;
  expires_in: number;
}

export const addLoginCommand: AddCommand = (program, { io, act }) => {
  program
    .command('login')
    .description('log in to a gateway and save a personal token for this computer')
    .argument('[url]', 'the gateway (or KGW_SERVER)')
    .option('--ca <file>', 'CA certificate to trust for the gateway (or KGW_CA_FILE)')
    .option('--loopback', 'the browser returns to 127.0.0.1 here instead of the device flow')
    .option('--timeout <seconds>', 'how long to wait for the approval', positiveNumber, 600)
    .addHelpText(
      'after',
      `
Logs this computer in to the gateway at URL and saves a personal access token
(scoped, expiring) in ~/.config/kgw/login.json, used by every other command.

  (default)    device flow: open the printed URL in a browser where you are
               logged in to the gateway and approve the code shown.
  --loopback   open the printed URL; the browser returns to 127.0.0.1 here.
`,
    )
    .action(
      act(
        async (server: string | undefined, options: { ca?: string; loopback?: boolean; timeout: number }) => {
          const caFile = options.ca ?? io.env.KGW_CA_FILE;
          server ??= io.env.KGW_SERVER;
          if (!server) throw new CliError('which gateway? kgw login https://gateway.example', ExitCode.Usage);
          let url: URL;
          try {
            url = new URL(server);
          } catch {
            throw new CliError(`not a URL: ${server}`, ExitCode.Usage);
          }
          let caPem: string | undefined;
          try {
            caPem = caFile ? readFileSync(caFile, 'utf8') : undefined;
          } catch (err) {
            throw new CliError(`--ca: cannot read ${caFile}: ${(err as Error).message}`, ExitCode.Usage);
          }
          if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
            io.err(
              `kgw: warning: ${url.origin} is plain HTTP: the token this login saves travels readable by anyone on the network. Use the gateway's https:// URL.\n`,
            );
          const connection = { server: url, caPem };
          const issued = options.loopback
            ? await loopbackLogin(connection, io, options.timeout)
            : await deviceLogin(connection, io, options.timeout);
          const file = saveLogin(io.env, {
            server: url.origin,
            token: issued.access_token,
            tokenId: issued.token_id,
            user: issued.user,
            caFile: caFile ? resolve(caFile) : undefined,
            expiresAt: new Date(Date.now() + issued.expires_in * 1000).toISOString(),
          });
          io.out(
            `Logged in to ${url.origin} as ${issued.user} (token ${issued.token_id}, saved in ${file}).\n`,
          );
        },
      ),
    );
};

async function deviceLogin(
  connection: { server: URL; caPem?: string },
  io: CliIo,
  timeoutSeconds: number,
): Promise<IssuedToken> {
  const start = await gatewayJson(connection, 'POST', '/kgw/auth/device', { client_name: 'kgw CLI' });
  if (start.status !== 200) throw new CliError(`the gateway refused to start a login (${start.status})`);
  const grant = start.body as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete: string;
    interval: number;
  };
  io.out(
    `Open ${grant.verification_uri_complete}\nand approve the code ${grant.user_code} (logged in as yourself).\n`,
  );
  let interval = Math.max(1, grant.interval) * 1000;
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, interval));
    const poll = await gatewayJson(connection, 'POST', '/kgw/auth/device/token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: grant.device_code,
    });
    if (poll.status === 200) return poll.body as IssuedToken;
    const error = (poll.body as { error?: string } | undefined)?.error;
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      interval += 1000;
      continue;
    }
    throw new CliError(
      error === 'access_denied'
        ? 'the login was denied in the browser'
        : `login failed (${error ?? poll.status})`,
    );
  }
  throw new CliError('timed out waiting for approval');
}

async function loopbackLogin(
  connection: { server: URL; caPem?: string },
  io: CliIo,
  timeoutSeconds: number,
): Promise<IssuedToken> {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(24).toString('base64url');
  const listener = await startLoopbackListener(state, timeoutSeconds);
  const redirectUri = listener.redirectUri;
  try {
    const code = await new Promise<string>((done, fail) => {
      listener.code.then(done, fail);
      const authorize = new URL('/kgw/auth/cli', connection.server);
      authorize.search = new URLSearchParams({
        redirect_uri: redirectUri,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        state,
        client_name: 'kgw CLI',
      }).toString();
      io.out(`Open ${authorize.href}\nin your browser and approve the login.\n`);
    });
    const issued = await gatewayJson(connection, 'POST', '/kgw/auth/cli/token', {
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
    });
    if (issued.status !== 200)
      throw new CliError(
        `the gateway refused the login (${(issued.body as { error?: string } | undefined)?.error ?? issued.status})`,
      );
    return issued.body as IssuedToken;
  } finally {
    listener.close();
  }
}

/**
 * The loopback redirect's listener on 127.0.0.1: resolves with the code of the first request to
 * `/callback` that carries our state and names us in `Host`; everything else is answered and
 * ignored (421 for another Host, 404 for another path, 400 for another state).
 */
export async function startLoopbackListener(
  state: string,
  timeoutSeconds: number,
): Promise<{ redirectUri: string; code: Promise<string>; close(): void }> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const authority = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUri = `http://${authority}/callback`;
  let timer: NodeJS.Timeout | undefined;
  const code = new Promise<string>((done, fail) => {
    timer = setTimeout(() => fail(new CliError('timed out waiting for the browser')), timeoutSeconds * 1000);
    server.on('request', (req, res) => {
      // DNS rebinding: a page on attacker.example (resolving to 127.0.0.1) reaches this port with
      // its own name in Host. The redirect we handed out names 127.0.0.1:<port> exactly.
      if (req.headers.host !== authority) return void res.writeHead(421).end('misdirected request');
      if (req.method !== 'GET') return void res.writeHead(405).end();
      const back = new URL(req.url ?? '/', redirectUri);
      if (back.pathname !== '/callback') return void res.writeHead(404).end();
      // A page another site sent here without our state is not our login.
      if (back.searchParams.get('state') !== state) return void res.writeHead(400).end('state mismatch');
      clearTimeout(timer);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('kgw: you can close this window.');
      const error = back.searchParams.get('error');
      const given = back.searchParams.get('code');
      if (error || !given) fail(new CliError(`the login was not approved (${error ?? 'no code'})`));
      else done(given);
    });
  });
  // The caller awaits `code`; until then a rejection (timeout) must not count as unhandled.
  code.catch(() => undefined);
  return {
    redirectUri,
    code,
    close: () => {
      clearTimeout(timer);
      server.close();
    },
  };
}
