import type { ReviewHttpRequest, ReviewHttpResponse, ReviewTransport } from '@kgw/kube';
import { ServiceAccountTokenError, ServiceAccountTokens } from './service-account-tokens';

const START = Date.parse('2026-01-01T00:00:00Z');

/** A fake API server: answers TokenRequests with numbered tokens valid for `lifetimeMs`. */
function fakeServer(clock: { now: number }, lifetimeMs = 600_000) {
  const requests: ReviewHttpRequest[] = [];
  let issued = 0;
  let failNext = 0;
  const transport: ReviewTransport = async (request) => {
    requests.push(request);
    if (failNext > 0) {
      failNext -= 1;
      return { statusCode: 500, body: JSON.stringify({ kind: 'Status', message: 'etcd is sad' }) };
    }
    issued += 1;
    const answer: ReviewHttpResponse = {
      statusCode: 201,
      body: JSON.stringify({
        kind: 'TokenRequest',
        status: {
          token: `token-${issued}`,
          expirationTimestamp: new Date(clock.now + lifetimeMs).toISOString(),
        },
      }),
    };
    return answer;
  };
  return {
    transport,
    requests,
    failNextRequests(count: number) {
      failNext = count;
    },
  };
}

function setup(lifetimeMs?: number) {
  const clock = { now: START };
  const server = fakeServer(clock, lifetimeMs);
  const tokens = new ServiceAccountTokens(server.transport, { now: () => clock.now });
  return { clock, server, tokens };
}

describe('ServiceAccountTokens', () => {
  it('asks for a 600 s TokenRequest with the right path and body', async () => {
    const { server, tokens } = setup();
    await expect(tokens.tokenFor('team-b', 'deployer')).resolves.toBe('token-1');
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/v1/namespaces/team-b/serviceaccounts/deployer/token');
    expect(Object.keys(request.headers).some((h) => /^impersonate-/i.test(h))).toBe(false);
    expect(JSON.parse(request.body)).toEqual({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600 },
    });
  });

  it('serves a cached token until 80% of its lifetime, then fetches a new one', async () => {
    const { clock, server, tokens } = setup();
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-1');
    clock.now = START + 479_000; // 79.8% of 600 s
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-1');
    expect(server.requests).toHaveLength(1);
    clock.now = START + 480_000; // 80%
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-2');
    expect(server.requests).toHaveLength(2);
  });

  it('keeps one token per service account', async () => {
    const { server, tokens } = setup();
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-1');
    expect(await tokens.tokenFor('team-a', 'deployer')).toBe('token-2');
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-1');
    expect(server.requests).toHaveLength(2);
  });

  it('shares one request between concurrent callers (single flight)', async () => {
    const { server, tokens } = setup();
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => tokens.tokenFor('team-b', 'deployer')));
    expect(all).toEqual(['token-1', 'token-1', 'token-1', 'token-1', 'token-1']);
    expect(server.requests).toHaveLength(1);
  });

  it('does not cache a failure: the next call asks again', async () => {
    const { server, tokens } = setup();
    server.failNextRequests(1);
    const failed = tokens.tokenFor('team-b', 'deployer');
    await expect(failed).rejects.toBeInstanceOf(ServiceAccountTokenError);
    await expect(failed).rejects.toMatchObject({
      statusCode: 500,
      message: expect.stringMatching(/etcd is sad/),
    });
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-1');
    expect(server.requests).toHaveLength(2);
  });

  it('does not keep serving an expiring token when its refresh fails', async () => {
    const { clock, server, tokens } = setup();
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-1');
    clock.now = START + 500_000;
    server.failNextRequests(1);
    await expect(tokens.tokenFor('team-b', 'deployer')).rejects.toBeInstanceOf(ServiceAccountTokenError);
    expect(await tokens.tokenFor('team-b', 'deployer')).toBe('token-2');
  });

  it('refuses answers without a token or with an expiry in the past', async () => {
    const clock = { now: START };
    const answers: ReviewHttpResponse[] = [
      { statusCode: 201, body: JSON.stringify({ status: { expirationTimestamp: '2030-01-01T00:00:00Z' } }) },
      {
        statusCode: 201,
        body: JSON.stringify({ status: { token: 't', expirationTimestamp: '2020-01-01T00:00:00Z' } }),
      },
      { statusCode: 201, body: 'not json' },
    ];
    const tokens = new ServiceAccountTokens(async () => answers.shift()!, { now: () => clock.now });
    for (let i = 0; i < 3; i++) {
      await expect(tokens.tokenFor('team-b', 'deployer')).rejects.toBeInstanceOf(ServiceAccountTokenError);
    }
  });

  it('wraps transport errors and refuses names that could re-target the request', async () => {
    const tokens = new ServiceAccountTokens(() => Promise.reject(new Error('ECONNREFUSED')));
    await expect(tokens.tokenFor('team-b', 'deployer')).rejects.toThrow(
      /TokenRequest for team-b\/deployer failed: ECONNREFUSED/,
    );
    await expect(tokens.tokenFor('team-b', '../../secrets')).rejects.toBeInstanceOf(ServiceAccountTokenError);
  });
});
