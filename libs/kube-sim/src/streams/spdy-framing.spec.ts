import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary';
import {
  encodeDataFrame,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  RstStatus,
  SpdyFrame,
  SpdyFrameReader,
  SpdyHeaderCodec,
  SpdyProtocolError,
} from './spdy-framing';

/** What kubectl does: one zlib deflate per connection, primed with the dictionary, sync-flushed per block. */
class ClientHeaderCompressor {
  private readonly deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  private readonly output: Buffer[] = [];
  constructor() {
    this.deflate.on('data', (chunk: Buffer) => this.output.push(chunk));
  }
  async block(headers: Record<string, string>): Promise<Buffer> {
    const entries = Object.entries(headers);
    const parts: Buffer[] = [u32(entries.length)];
    for (const [name, value] of entries)
      parts.push(u32(name.length), Buffer.from(name), u32(value.length), Buffer.from(value));
    this.output.length = 0;
    this.deflate.write(Buffer.concat(parts));
    await new Promise<void>((resolve) => this.deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    return Buffer.concat(this.output);
  }
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

function synStream(streamId: number, block: Buffer, fin = false): Buffer {
  const payload = Buffer.concat([u32(streamId), u32(0), Buffer.from([0, 0]), block]);
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x8003, 0);
  header.writeUInt16BE(1, 2);
  header.writeUInt32BE(((fin ? 1 : 0) << 24) | payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('SPDY/3 dictionary', () => {
  it('is the 1423-byte draft-3 dictionary', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1')).toBe('\0\0\0\x07options');
    expect(SPDY3_DICTIONARY.subarray(-6).toString('latin1')).toBe('enq=0.');
  });
});

describe('SpdyFrameReader', () => {
  it('decodes header blocks compressed across several frames with one shared zlib context', async () => {
    const client = new ClientHeaderCompressor();
    const codec = new SpdyHeaderCodec();
    const reader = new SpdyFrameReader();
    const blocks = [
      await client.block({ streamtype: 'error', port: '80', requestid: '0' }),
      await client.block({ streamtype: 'data', port: '80', requestid: '0' }),
      await client.block({ streamtype: 'error', port: '80', requestid: '1' }),
    ];
    const wire = Buffer.concat([
      synStream(1, blocks[0]),
      encodeDataFrame(1, Buffer.alloc(0), true),
      synStream(3, blocks[1]),
      synStream(5, blocks[2]),
    ]);
    // Arbitrary splits, as in the WebSocket tunnel (2, 2, 4 bytes first).
    const frames: SpdyFrame[] = [];
    let offset = 0;
    for (const size of [2, 2, 4, 1, 7, 3, 1000]) {
      frames.push(...reader.push(wire.subarray(offset, offset + size)));
      offset += size;
    }
    expect(frames.map((frame) => frame.kind)).toEqual(['synStream', 'data', 'synStream', 'synStream']);
    const headers = [];
    for (const frame of frames)
      if (frame.kind === 'synStream') headers.push(await codec.decode(frame.headerBlock));
    expect(headers).toEqual([
      { streamtype: 'error', port: '80', requestid: '0' },
      { streamtype: 'data', port: '80', requestid: '0' },
      { streamtype: 'error', port: '80', requestid: '1' },
    ]);
    codec.close();
  });

  it('round-trips our own frames, and our header blocks inflate with a standard zlib primed with the dictionary', async () => {
    const codec = new SpdyHeaderCodec();
    const reader = new SpdyFrameReader();
    const wire = Buffer.concat([
      encodeSynReply(codec, 1, {}),
      encodeSynReply(codec, 3, { foo: 'bar' }),
      encodeDataFrame(3, Buffer.from('hello'), false),
      encodeDataFrame(3, Buffer.alloc(0), true),
      encodePing(7),
      encodeRstStream(5, RstStatus.Cancel),
      encodeGoAway(9),
    ]);
    const frames = reader.push(wire);
    expect(frames.map((frame) => frame.kind)).toEqual([
      'synReply',
      'synReply',
      'data',
      'data',
      'ping',
      'rstStream',
      'goAway',
    ]);
    expect(frames[2]).toMatchObject({ streamId: 3, fin: false, payload: Buffer.from('hello') });
    expect(frames[3]).toMatchObject({ streamId: 3, fin: true });
    expect(frames[4]).toEqual({ kind: 'ping', id: 7 });
    expect(frames[5]).toEqual({ kind: 'rstStream', streamId: 5, status: 5 });
    expect(frames[6]).toEqual({ kind: 'goAway', lastGoodStreamId: 9, status: 0 });
    const peer = new SpdyHeaderCodec();
    const replies = frames.filter((frame) => frame.kind === 'synReply');
    expect(await peer.decode(replies[0].headerBlock)).toEqual({});
    expect(await peer.decode(replies[1].headerBlock)).toEqual({ foo: 'bar' });
    peer.close();
    codec.close();
  });

  it('refuses a wrong version and an oversized control frame before buffering it', () => {
    const badVersion = Buffer.from([0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04]);
    expect(() => new SpdyFrameReader().push(badVersion)).toThrow(SpdyProtocolError);
    const huge = Buffer.from([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff]);
    expect(() => new SpdyFrameReader().push(huge)).toThrow(/control frame of 16777215 bytes/);
  });

  it('rejects a header block whose pair count exceeds its size', async () => {
    // 1000 pairs announced in a 4-byte block.
    const lying = zlib.deflateSync(u32(1000), { dictionary: SPDY3_DICTIONARY });
    await expect(new SpdyHeaderCodec().decode(lying)).rejects.toThrow(/pair count exceeds/);
  });
});
