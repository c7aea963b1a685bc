import { Duplex } from 'node:stream';
import { SPDY3_DICTIONARY } from '../../kube-sim/src/streams/spdy-dictionary';
import { SpdyFrameReader, SpdyHeaderCodec } from '../../kube-sim/src/streams/spdy-framing';
import { SPDY3_DICTIONARY_ADLER32, SpdyClientSession } from './spdy-client';
import { WebSocketClientStream } from './websocket-client-stream';

/** The far end of a transport: what we wrote, and a way to send bytes to us. */
function fakeTransport(): { transport: Duplex; written: () => Buffer; send: (b: Buffer) => void } {
  const out: Buffer[] = [];
  const transport = new Duplex({
    write(chunk: Buffer, _e, done) {
      out.push(chunk);
      done();
    },
    read() {},
  });
  return { transport, written: () => Buffer.concat(out), send: (b) => transport.push(b) };
}

function control(type: number, payload: Buffer, version = 3): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x8000 | version, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

const tick = () => new Promise((r) => setImmediate(r));

describe('SpdyClientSession', () => {
  it('announces the SPDY/3 dictionary by its Adler-32', () => {
    let a = 1;
    let b = 0;
    for (const byte of SPDY3_DICTIONARY) {
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }
    expect(SPDY3_DICTIONARY_ADLER32).toBe(((b << 16) | a) >>> 0);
  });

  it('writes SYN_STREAMs whose header blocks a SPDY/3 server inflates, one zlib stream across frames', async () => {
    const far = fakeTransport();
    const session = new SpdyClientSession(far.transport);
    void session.open({ streamtype: 'error', port: '80', requestid: '0' }, true).catch(() => undefined);
    void session.open({ streamtype: 'data', port: '80', requestid: '0' }).catch(() => undefined);
    await tick();
    const frames = new SpdyFrameReader().push(far.written());
    const codec = new SpdyHeaderCodec();
    const syns = frames.filter((f) => f.kind === 'synStream');
    expect(syns.map((f) => f.streamId)).toEqual([1, 3]);
    expect(await codec.decode(syns[0].headerBlock)).toEqual({
      streamtype: 'error',
      port: '80',
      requestid: '0',
    });
    expect(await codec.decode(syns[1].headerBlock)).toEqual({
      streamtype: 'data',
      port: '80',
      requestid: '0',
    });
    // The error stream is half-closed at once, as kubectl does: an empty DATA frame with FIN.
    expect(frames).toContainEqual({ kind: 'data', streamId: 1, fin: true, payload: Buffer.alloc(0) });
    codec.close();
    session.close();
  });

  it.each([
    ['a frame of another SPDY version (a confused or hostile peer)', control(6, Buffer.alloc(4), 2)],
    ['a control frame over 1 MiB (memory exhaustion)', control(6, Buffer.alloc(1024 * 1024 + 1))],
    ['a truncated RST_STREAM (reading past the frame)', control(3, Buffer.alloc(4))],
  ])('ends the connection on %s', async (_attack, frame) => {
    const far = fakeTransport();
    const session = new SpdyClientSession(far.transport);
    const opening = session.open({ streamtype: 'data' });
    far.send(frame);
    await expect(opening).rejects.toThrow();
    expect(session.usable).toBe(false);
  });

  it('echoes PINGs and refuses a stream the server opens', async () => {
    const far = fakeTransport();
    const session = new SpdyClientSession(far.transport);
    const ping = Buffer.alloc(4);
    ping.writeUInt32BE(2);
    far.send(control(6, ping));
    const syn = Buffer.alloc(10);
    syn.writeUInt32BE(2, 0);
    far.send(control(1, syn));
    await tick();
    const frames = new SpdyFrameReader().push(far.written());
    expect(frames).toContainEqual({ kind: 'ping', id: 2 });
    expect(frames).toContainEqual({ kind: 'rstStream', streamId: 2, status: 3 });
    session.close();
  });
});

describe('WebSocketClientStream', () => {
  function socketPair(): { stream: WebSocketClientStream; send: (b: Buffer) => void; written: () => Buffer } {
    const far = fakeTransport();
    const socket = Object.assign(far.transport, { setNoDelay: () => undefined });
    const stream = new WebSocketClientStream(socket as never, Buffer.alloc(0));
    stream.on('error', () => undefined);
    return { stream, send: far.send, written: far.written };
  }

  it('reads binary payloads split anywhere and writes masked binary frames with a zero key', async () => {
    const { stream, send, written } = socketPair();
    let read = '';
    stream.setEncoding('utf8').on('data', (c: string) => (read += c));
    const frame = Buffer.concat([Buffer.from([0x82, 5]), Buffer.from('hello')]);
    for (const byte of frame) send(Buffer.from([byte]));
    await tick();
    expect(read).toBe('hello');
    stream.write(Buffer.from('abc'));
    await tick();
    expect(written()).toEqual(Buffer.from([0x82, 0x83, 0, 0, 0, 0, 0x61, 0x62, 0x63]));
  });

  it.each([
    ['a masked frame from the server (RFC 6455 forbids it)', Buffer.from([0x82, 0x81, 1, 2, 3, 4, 0])],
    ['reserved bits (an extension nobody negotiated)', Buffer.from([0xc2, 0])],
    ['an unknown opcode', Buffer.from([0x83, 0])],
    ['a control frame over 125 bytes', Buffer.from([0x89, 126, 0, 200])],
    ['a frame longer than 16 MiB (memory exhaustion)', Buffer.from([0x82, 127, 0, 0, 0, 0, 2, 0, 0, 0])],
  ])('closes (1002) on %s', async (_attack, frame) => {
    const { stream, send, written } = socketPair();
    const closed = new Promise((r) => stream.once('close', r));
    send(frame);
    await closed;
    expect(written().subarray(0, 2)).toEqual(Buffer.from([0x88, 0x82]));
    expect(written().readUInt16BE(6)).toBe(1002);
  });
});
