// A static token file, like kube-apiserver's --token-auth-file: one `token,user,uid,"g1,g2"` per
// line. Off unless configured; demo mode and tests use it.
//
// Guards: the Kubernetes paths, for callers presenting `Authorization: Bearer <token>`.
// Trusts: the file (the operator wrote it). Refuses: unknown tokens (401), never falls back to
// any other identity. Tokens are kept only as SHA-256 digests, so a heap dump or a log of this
// object shows no token, and lookup time does not depend on how much of a token matched.
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { parse as parseCsvLine } from './csv-line';
import { bearerTokenOf, type AuthenticationResult, type Authenticator } from './authenticator';
import { type AuthenticatedCaller } from '../identity/caller';

export class StaticTokenFileError extends Error {
  override name = 'StaticTokenFileError';
}

export class StaticTokenAuthenticator implements Authenticator {
  private readonly byDigest = new Map<string, AuthenticatedCaller>();

  constructor(entries: Array<{ token: string; user: string; uid?: string; groups: string[] }>) {
    for (const entry of entries) {
      this.byDigest.set(digest(entry.token), {
        name: entry.user,
        uid: entry.uid,
        groups: entry.groups,
        method: 'static-token',
      });
    }
  }

  static fromFile(path: string): StaticTokenAuthenticator {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new StaticTokenFileError(`cannot read the static token file ${path}: ${(err as Error).message}`);
    }
    const entries: Array<{ token: string; user: string; uid?: string; groups: string[] }> = [];
    text.split('\n').forEach((line, index) => {
      if (!line.trim() || line.trimStart().startsWith('#')) return;
      const fields = parseCsvLine(line);
      const [token, user, uid, groups] = fields;
      // Line numbers only: the token itself must not reach an error message.
      if (!token || !user)
        throw new StaticTokenFileError(`${path}:${index + 1}: expected token,user[,uid[,"group1,group2"]]`);
      entries.push({
        token,
        user,
        uid: uid || undefined,
        groups: groups
          ? groups
              .split(',')
              .map((g) => g.trim())
              .filter(Boolean)
          : [],
      });
    });
    return new StaticTokenAuthenticator(entries);
  }

  get size(): number {
    return this.byDigest.size;
  }

  authenticate(req: IncomingMessage): AuthenticationResult {
    const token = bearerTokenOf(req);
    if (token === undefined) return { outcome: 'no-credential' };
    const caller = this.byDigest.get(digest(token));
    if (!caller) return { outcome: 'rejected', message: 'Unauthorized' };
    return { outcome: 'authenticated', caller: { ...caller, groups: [...caller.groups] } };
  }
}

function digest(token: string): string {
  // One-shot: about twice as fast as createHash().update().digest() for a token this small.
  return hash('sha256', token, 'hex');
}
