// The CLI's saved login: ~/.config/kgw/login.json (or $XDG_CONFIG_HOME/kgw), written by
// `kgw login`, read as the default connection by every command, removed by `kgw logout`.
// It holds a personal access token, so the directory is 0700 and the file 0600, rewritten
// atomically (a reader never sees half a file); the token is never printed.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SavedLogin {
  server: string;
  token: string;
  tokenId: string;
  user: string;
  caFile?: string;
  expiresAt?: string;
}

export function configDir(env: Record<string, string | undefined>): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME ?? '.', '.config');
  return join(base, 'kgw');
}

export function loginFile(env: Record<string, string | undefined>): string {
  return join(configDir(env), 'login.json');
}

export function readSavedLogin(env: Record<string, string | undefined>): SavedLogin | undefined {
  const file = loginFile(env);
  if (!existsSync(file)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<SavedLogin>;
    if (typeof saved.server !== 'string' || typeof saved.token !== 'string') return undefined;
    return saved as SavedLogin;
  } catch {
    return undefined;
  }
}

export function saveLogin(env: Record<string, string | undefined>, login: SavedLogin): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = loginFile(env);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
  return file;
}

export function forgetLogin(env: Record<string, string | undefined>): void {
  rmSync(loginFile(env), { force: true });
}
