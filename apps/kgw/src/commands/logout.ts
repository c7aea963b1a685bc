// `kgw logout`: revokes the saved login's token at the gateway, then forgets it locally
// (locally even when the gateway cannot be reached, saying so).
import { readFileSync } from 'node:fs';
import { ExitCode, type AddCommand } from './command';
import { gatewayJson } from '../gateway-json';
import { forgetLogin, readSavedLogin } from '../saved-login';

export const addLogoutCommand: AddCommand = (program, { io, act }) => {
  program
    .command('logout')
    .description('revoke and forget the token saved by kgw login')
    .addHelpText(
      'after',
      '\nRevokes the personal token saved by `kgw login` and removes it from ~/.config/kgw.\n',
    )
    .action(
      act(async () => {
        const saved = readSavedLogin(io.env);
        if (!saved) {
          io.out('Not logged in.\n');
          return ExitCode.Ok;
        }
        let code: number = ExitCode.Ok;
        try {
          const caPem = saved.caFile ? readFileSync(saved.caFile, 'utf8') : undefined;
          const res = await gatewayJson(
            { server: new URL(saved.server), caPem, token: saved.token },
            'DELETE',
            `/kgw/v1/tokens/${encodeURIComponent(saved.tokenId)}`,
          );
          // 401/404: already revoked or expired; nothing left to revoke.
          if (res.status !== 200 && res.status !== 401 && res.status !== 404) {
            io.err(`kgw logout: the gateway answered ${res.status}; the token may still be valid\n`);
            code = ExitCode.Failure;
          }
        } catch (err) {
          io.err(`kgw logout: ${(err as Error).message}; the token may still be valid until it expires\n`);
          code = ExitCode.Failure;
        }
        forgetLogin(io.env);
        io.out(`Logged out of ${saved.server}.\n`);
        return code;
      }),
    );
};
