import { EventEmitter } from 'node:events';
import type { AuthenticatedCaller } from '../identity/caller';
import { OpenStreams, idTokenKey, sessionKey, tokenKey } from './open-streams';

/** A stream that records its destruction and closes, as a socket does. */
function stream(): EventEmitter & { destroy(): void; destroyed: boolean } {
  const s = Object.assign(new EventEmitter(), {
    destroyed: false,
    destroy() {
      s.destroyed = true;
      s.emit('close');
    },
  });
  return s;
}

const base: AuthenticatedCaller = { name: 'alice', groups: [], method: 'pat' };

describe('OpenStreams: a credential ends → its open exchanges end', () => {
  afterEach(() => jest.useRealTimers());

  it.each([
    { credential: 'a personal token (revoked)', caller: { ...base, tokenId: 'tok_1' }, key: tokenKey('tok_1') },
    {
      credential: 'a browser session (logged out)',
      caller: { ...base, method: 'session', sessionId: 'h1' },
      key: sessionKey('h1'),
    },
    {
      credential: 'a bearer ID token (its session logged out)',
      caller: { ...base, method: 'jwt', idTokenHash: 'j1' },
      key: idTokenKey('j1'),
    },
  ])('closeAll cuts the exchanges of $credential and only those', ({ caller, key }) => {
    const streams = new OpenStreams();
    const mine = stream();
    const other = stream();
    streams.track(caller, mine);
    streams.track({ ...base, tokenId: 'tok_other' }, other);
    expect(streams.closeAll(key)).toBe(1);
    expect(mine.destroyed).toBe(true);
    expect(other.destroyed).toBe(false);
    expect(streams.count(key)).toBe(0);
  });

  it('cuts an exchange when its credential expires, and forgets it when it closes first', () => {
    jest.useFakeTimers();
    const streams = new OpenStreams();
    const expiring = stream();
    const closed = stream();
    const expiresAt = new Date(Date.now() + 60_000);
    streams.track({ ...base, tokenId: 'tok_2', expiresAt }, expiring);
    streams.track({ ...base, tokenId: 'tok_2', expiresAt }, closed);
    closed.emit('close');
    expect(streams.count(tokenKey('tok_2'))).toBe(1);
    jest.advanceTimersByTime(59_999);
    expect(expiring.destroyed).toBe(false);
    jest.advanceTimersByTime(1);
    expect(expiring.destroyed).toBe(true);
    expect(streams.count(tokenKey('tok_2'))).toBe(0);
  });

  it('an expiry beyond the longest timer (about 24.8 days) re-arms instead of firing early', () => {
    jest.useFakeTimers();
    const streams = new OpenStreams();
    const s = stream();
    streams.track({ ...base, tokenId: 'tok_3', expiresAt: new Date(Date.now() + 40 * 86_400_000) }, s);
    jest.advanceTimersByTime(30 * 86_400_000);
    expect(s.destroyed).toBe(false);
    jest.advanceTimersByTime(10 * 86_400_000);
    expect(s.destroyed).toBe(true);
  });

  it('an already expired credential cuts at once', () => {
    const streams = new OpenStreams();
    const s = stream();
    streams.track({ ...base, tokenId: 'tok_4', expiresAt: new Date(Date.now() - 1) }, s);
    expect(s.destroyed).toBe(true);
    expect(streams.count(tokenKey('tok_4'))).toBe(0);
  });
});
