// `kgw logout`: revokes the saved login's token at the gateway, then forgets it locally
// (locally even when the gateway cannot be reached, saying so).
import type { CliCommand } from './command';
import { gatewayJson } from '../gateway-json';
import { forgetLogin, readSavedLogin } from '../saved-login';
import { readFileSync } from 'node:fs';

export const logoutCommand: CliCommand = {
  name: 'logout',
  summary: 'Revoke and forget the token saved by kgw login',
  usage: 'kgw logout\n\nRevokes the personal token saved by `kgw login` and removes it from ~/.config/kgw.',
  async run(_args, io) {
    const saved = readSavedLogin(io.env);
    if (!saved) {
      io.out('Not logged in.\n');
      return 0;
    }
    let code = 0;
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
        code = 1;
      }
    } catch (err) {
      io.err(`kgw logout: ${(err as Error).message}; the token may still be valid until it expires\n`);
      code = 1;
    }
    forgetLogin(io.env);
    io.out(`Logged out of ${saved.server}.\n`);
    return code;
  },
};
