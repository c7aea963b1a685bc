import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { dataFrameWriter } from './data-frame-writer';
import { FrameType, decodeFrame } from './frames';

// Real ws on both ends of a loopback connection: what the writer puts on the socket must be
// what ws's own receiver takes as one binary message, the server's unmasked frames and the
// client's masked ones, at every payload-length encoding (7-bit, 16-bit, 64-bit).
describe('dataFrameWriter', () => {
  let wss: WebSocketServer;
  let server: { ws: WebSocket; socket: Duplex };
  let client: { ws: WebSocket; socket: Duplex };

  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const accepted = new Promise<{ ws: WebSocket; socket: Duplex }>((resolve) =>
      wss.once('connection', (ws, req: IncomingMessage) => resolve({ ws, socket: req.socket })),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
      perMessageDeflate: false,
      generateMask: (mask: Buffer) => void mask.fill(0),
    });
    // 'open' follows 'upgrade' in the same tick: both listeners go on first.
    const socket = new Promise<Duplex>((resolve) =>
      ws.once('upgrade', (res: IncomingMessage) => resolve(res.socket)),
    );
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    client = { ws, socket: await socket };
    server = await accepted;
  });

  afterAll(async () => {
    client.ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  const nextMessage = (ws: WebSocket) =>
    new Promise<{ data: Buffer; isBinary: boolean }>((resolve) =>
      ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })),
    );

  // Message lengths 5, 125 | 126, 65535 | 65536, 65541 (the largest Data frame).
  it.each([0, 120, 121, 65530, 65531, 65536])(
    'a %i-byte payload arrives as one Data frame, both ways',
    async (size) => {
      const payload = randomBytes(size);
      for (const [from, to, masked] of [
        [server, client.ws, false],
        [client, server.ws, true],
      ] as const) {
        const arrived = nextMessage(to);
        dataFrameWriter(from.ws, from.socket, masked)(7, payload);
        const { data, isBinary } = await arrived;
        expect(isBinary).toBe(true);
        const frame = decodeFrame(data);
        // Buffer.equals: jest's toEqual walks a 64 KiB Buffer element by element (half a second).
        expect(frame.type === FrameType.Data && frame.stream === 7 && frame.data.equals(payload)).toBe(true);
      }
    },
  );

  it('interleaves with ws.send at frame boundaries', async () => {
    const received: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      server.ws.on('message', (data: Buffer) => {
        received.push(data);
        if (received.length === 3) resolve();
      }),
    );
    const write = dataFrameWriter(client.ws, client.socket, true);
    write(1, Buffer.from('one'));
    client.ws.send(Buffer.from('between'));
    write(2, Buffer.from('two'));
    await all;
    server.ws.removeAllListeners('message');
    expect(received.map((m) => m.toString('latin1'))).toEqual([
      '\x04\x00\x00\x00\x01one',
      'between',
      '\x04\x00\x00\x00\x02two',
    ]);
  });

  it('writes nothing once the WebSocket is not open (its Close may be on the wire)', () => {
    const writes: unknown[] = [];
    const socket = { cork() {}, uncork() {}, write: (chunk: unknown) => writes.push(chunk) };
    dataFrameWriter(
      { readyState: WebSocket.CLOSING },
      socket as unknown as Duplex,
      false,
    )(1, Buffer.from('x'));
    expect(writes).toEqual([]);
  });
});
