// Which long-lived exchanges (watches, logs -f, exec/attach/port-forward upgrades, tunnels, the
// audit SSE tail) each credential holds open, so that the credential's end cuts them: revoking a
// personal token, logging a session out (or its refresh being refused), or the credential
// reaching its expiry. A credential that stopped working must not leave a stream it opened
// running for hours.
//
// Guards: the promise that revocation, logout and expiry end every exchange of the credential
// (within 5 s; revocation through NOTIFY takes milliseconds, expiry is a timer per exchange).
// Trusts: the proxy chain, tunnels and SSE routes to register every long exchange they serve.
// Keeps only ids and hashes of credentials (token id, session id hash, ID-token hash), never one.
import type { AuthenticatedCaller } from '../identity/caller';

export interface ClosableStream {
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** The keys a caller's exchanges are filed under: one per credential it stands on. */
export function credentialKeys(caller: AuthenticatedCaller): string[] {
  const keys: string[] = [];
  if (caller.tokenId) keys.push(tokenKey(caller.tokenId));
  if (caller.sessionId) keys.push(sessionKey(caller.sessionId));
  if (caller.idTokenHash) keys.push(idTokenKey(caller.idTokenHash));
  return keys;
}

export const tokenKey = (tokenId: string): string => `token:${tokenId}`;
export const sessionKey = (sessionIdHash: string): string => `session:${sessionIdHash}`;
export const idTokenKey = (idTokenHash: string): string => `idtoken:${idTokenHash}`;

/** setTimeout's longest delay (about 24.8 days); longer expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class OpenStreams {
  private readonly byKey = new Map<string, Set<ClosableStream>>();

  /**
   * Remembers `stream` under each of the caller's credentials until it closes, and destroys it
   * when the credential expires (`caller.expiresAt`). No-op for credentials that can neither be
   * revoked nor expire (the static token file).
   */
  track(caller: AuthenticatedCaller, stream: ClosableStream): void {
    const keys = credentialKeys(caller);
    for (const key of keys) {
      let streams = this.byKey.get(key);
      if (!streams) this.byKey.set(key, (streams = new Set()));
      streams.add(stream);
    }
    let timer: NodeJS.Timeout | undefined;
    stream.once('close', () => {
      if (timer) clearTimeout(timer);
      for (const key of keys) {
        const current = this.byKey.get(key);
        if (!current) continue;
        current.delete(stream);
        if (current.size === 0) this.byKey.delete(key);
      }
    });
    const expiresAt = caller.expiresAt?.getTime();
    if (expiresAt === undefined) return;
    const arm = (): void => {
      const left = expiresAt - Date.now();
      if (left <= 0) return stream.destroy();
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      timer.unref();
    };
    arm();
  }

  /** Destroys every open exchange filed under `key` (tokenKey, sessionKey, idTokenKey); returns how many. */
  closeAll(key: string): number {
    const streams = this.byKey.get(key);
    if (!streams) return 0;
    this.byKey.delete(key);
    for (const stream of streams) stream.destroy();
    return streams.size;
  }

  count(key: string): number {
    return this.byKey.get(key)?.size ?? 0;
  }
}
