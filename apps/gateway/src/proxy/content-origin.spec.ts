// The content origin's own failures (proxy/content-origin.ts): each row names a leak the answer
// must not carry. The session store's errors name hosts, users and queries; the answer is a
// Kubernetes Status with a request id, and the error goes to the log under that id.
import { request, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserSessions } from '../auth/browser-sessions';
import { CONTENT_GRANT_PATH, ProxyContentOrigin } from './content-origin';

const CONTENT = 'https://content.example.com';
const INTERNALS = 'connect ECONNREFUSED 10.20.30.40:5432 (user kgw_app, SELECT * FROM login_transaction)';

interface Answer {
  status: number;
  requestIdHeader: string | undefined;
  body: { kind: string; code: number; reason: string; message: string };
  raw: string;
}

let server: Server;
let port: number;
let logged: Array<{ fields: Record<string, unknown>; message: string }>;

beforeAll(async () => {
  const failing = async (): Promise<never> => {
    throw new Error(INTERNALS);
  };
  const sessions = { find: failing, takeLogin: failing } as unknown as BrowserSessions;
  const origin = new ProxyContentOrigin({
    origin: CONTENT,
    gatewayUrl: () => 'https://gateway.example.com',
    sessions,
    sessionCookieName: () => 'kgw_session',
    contentChain: () => ({ handleRequest: () => undefined, handleUpgrade: () => undefined }),
    gatewayChain: () => ({ handleRequest: () => undefined }),
    logger: {
      error: ((fields: Record<string, unknown>, message: string) =>
        logged.push({ fields, message })) as never,
    },
  });
  server = createServer((req, res) =>
    origin.isContentRequest(req)
      ? origin.handleContentRequest(req, res)
      : origin.handleGatewayRequest(req, res),
  );
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  port = (server.address() as AddressInfo).port;
});
beforeEach(() => (logged = []));
afterAll(() => new Promise<void>((done) => server.close(() => done())));

function ask(host: string, path: string, cookie: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, cookie } }, (res) => {
      let raw = '';
      res.setEncoding('utf8').on('data', (c: string) => (raw += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          requestIdHeader: res.headers['x-request-id'] as string | undefined,
          body: JSON.parse(raw) as Answer['body'],
          raw,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('content origin: its own failures leak nothing', () => {
  it.each([
    {
      leak: "the session store's error (host, database user, query) when leg 3 looks up the gateway session",
      host: 'gateway.example.com',
      path: `${CONTENT_GRANT_PATH}?state=${'s'.repeat(43)}&to=${encodeURIComponent('/api/v1/namespaces/default/pods/nginx/proxy/')}`,
      cookie: 'kgw_session=abc',
    },
    {
      leak: "the session store's error when leg 4 redeems a handshake code on the content origin",
      host: 'content.example.com',
      path: '/kgw/content/enter?code=abc',
      cookie: 'kgw_content_state=xyz',
    },
  ])(
    'stops: $leak → a 500 Status with the request id only; the error is logged under that id',
    async (row) => {
      const answer = await ask(row.host, row.path, row.cookie);
      expect(answer.status).toBe(500);
      expect(answer.body).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
      for (const secret of ['ECONNREFUSED', '10.20.30.40', 'kgw_app', 'SELECT'])
        expect(answer.raw).not.toContain(secret);
      const requestId = answer.requestIdHeader!;
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.body.message).toContain(`request id ${requestId}`);
      expect(logged).toHaveLength(1);
      expect(logged[0].fields).toMatchObject({ requestId });
      expect((logged[0].fields.err as Error).message).toBe(INTERNALS);
    },
  );
});
