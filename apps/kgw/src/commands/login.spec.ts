// Security rows of the CLI's loopback login listener (issue #17, finding 12), over real sockets.
import { request } from 'node:http';
import { startLoopbackListener } from './login';

function get(port: number, path: string, host: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('the loopback login listener', () => {
  it('12 attack: DNS rebinding (a page on attacker.example → 127.0.0.1) → 421, the login goes on', async () => {
    const state = 's'.repeat(32);
    const listener = await startLoopbackListener(state, 30);
    try {
      const { port } = new URL(listener.redirectUri);
      const path = `/callback?state=${state}&code=from-the-attacker`;
      for (const host of [
        `attacker.example:${port}`,
        `localhost:${port}`,
        '127.0.0.1',
        `127.0.0.1:${port}.evil`,
      ]) {
        expect(await get(Number(port), path, host)).toBe(421);
      }
      // The real redirect still completes the login.
      expect(
        await get(Number(port), `/callback?state=${state}&code=the-real-code`, `127.0.0.1:${port}`),
      ).toBe(200);
      await expect(listener.code).resolves.toBe('the-real-code');
    } finally {
      listener.close();
    }
  });

  it('ignores a request without our state', async () => {
    const listener = await startLoopbackListener('t'.repeat(32), 30);
    try {
      const { port } = new URL(listener.redirectUri);
      expect(await get(Number(port), '/callback?state=other&code=x', `127.0.0.1:${port}`)).toBe(400);
    } finally {
      listener.close();
    }
  });
});
