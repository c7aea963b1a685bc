// SPDY/3.1 framing for the simulator's kubelet side: frame reader, frame writers and the
// per-connection header-block codec.
//
// Guards: the byte stream arrives from an authenticated but untrusted kubectl (or anything that
// passed the core's authorization), in arbitrary pieces (tunnelled SPDY splits frames across
// WebSocket messages at random points). Trusts nothing in it: control frames must carry version 3
// and fit in MAX_CONTROL_FRAME_BYTES; a data frame's u24 length caps it at 16 MiB; an inflated
// header block may not exceed MAX_HEADER_BLOCK_BYTES and its pair count/lengths must fit inside
// the block. Anything else is a SpdyProtocolError, after which the connection is torn down: the
// shared zlib context is then unusable anyway.
//
// Header blocks use ONE deflate and ONE inflate per connection, primed with the SPDY/3
// dictionary, each block ending in Z_SYNC_FLUSH: a block depends on every block before it.
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary';

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
/** Our own writes: small enough to interleave streams, as the kubelet's spdystream does. */
export const MAX_DATA_FRAME_PAYLOAD = 32 * 1024;
const MAX_CONTROL_FRAME_BYTES = 1024 * 1024;
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;
const FRAME_HEADER_BYTES = 8;

export const enum SpdyControlType {
  SynStream = 1,
  SynReply = 2,
  RstStream = 3,
  Settings = 4,
  Ping = 6,
  GoAway = 7,
  Headers = 8,
  WindowUpdate = 9,
}

/** RST_STREAM status codes (SPDY/3 section 2.6.3). */
export const enum RstStatus {
  ProtocolError = 1,
  InvalidStream = 2,
  RefusedStream = 3,
  Cancel = 5,
  InternalError = 6,
  StreamInUse = 8,
  StreamAlreadyClosed = 9,
}

export type SpdyHeaders = Record<string, string>;

export type SpdyFrame =
  | { kind: 'data'; streamId: number; fin: boolean; payload: Buffer }
  | {
      kind: 'synStream';
      streamId: number;
      associatedStreamId: number;
      priority: number;
      fin: boolean;
      unidirectional: boolean;
      /** Still compressed: decode with the connection's SpdyHeaderCodec, in frame order. */
      headerBlock: Buffer;
    }
  | { kind: 'synReply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'rstStream'; streamId: number; status: number }
  | { kind: 'settings'; entries: Array<{ flags: number; id: number; value: number }> }
  | { kind: 'ping'; id: number }
  | { kind: 'goAway'; lastGoodStreamId: number; status: number }
  | { kind: 'windowUpdate'; streamId: number; delta: number }
  | { kind: 'unknown'; type: number };

export class SpdyProtocolError extends Error {}

/** Adler-32 of the dictionary: the DICTID a zlib stream primed with it announces. */
function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A deflate stored-block header: BFINAL=0, BTYPE=00, padding, LEN and NLEN (little-endian). */
function storedBlockHeader(length: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt16LE(length, 1);
  header.writeUInt16LE(~length & 0xffff, 3);
  return header;
}

/**
 * One connection's header compression state (both directions).
 *
 * Encoding writes deflate *stored* blocks: legal in any zlib stream, independent of history,
 * synchronous, and header blocks are tiny. The stream still starts with the zlib header that
 * announces the SPDY dictionary (FDICT + its Adler-32), which the peer's inflater checks.
 *
 * Decoding uses one zlib inflate stream for the whole connection. Node offers no synchronous
 * inflate that keeps its context between calls, so decode is asynchronous and the session
 * processes frames strictly in order behind it.
 */
export class SpdyHeaderCodec {
  private headerSent = false;
  private readonly inflater = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  private inflated: Buffer[] = [];
  private inflatedBytes = 0;
  private inflateError: Error | undefined;

  constructor() {
    this.inflater.on('data', (chunk: Buffer) => {
      this.inflatedBytes += chunk.length;
      if (this.inflatedBytes <= MAX_HEADER_BLOCK_BYTES) this.inflated.push(chunk);
    });
    this.inflater.on('error', (error: Error) => {
      this.inflateError = error;
    });
  }

  encode(headers: SpdyHeaders): Buffer {
    const entries = Object.entries(headers);
    const parts: Buffer[] = [u32(entries.length)];
    for (const [name, value] of entries) {
      // SPDY/3 requires lowercase names; a peer may reject an uppercase one.
      const nameBytes = Buffer.from(name.toLowerCase(), 'utf8');
      const valueBytes = Buffer.from(value, 'utf8');
      parts.push(u32(nameBytes.length), nameBytes, u32(valueBytes.length), valueBytes);
    }
    const raw = Buffer.concat(parts);
    const out: Buffer[] = [];
    if (!this.headerSent) {
      this.headerSent = true;
      // CMF 0x78 (deflate, 32 KiB window), FLG 0xBB (default level, FDICT, check bits), DICTID.
      out.push(Buffer.from([0x78, 0xbb]), u32(adler32(SPDY3_DICTIONARY)));
    }
    for (let offset = 0; offset < raw.length; offset += 0xffff) {
      const piece = raw.subarray(offset, Math.min(offset + 0xffff, raw.length));
      out.push(storedBlockHeader(piece.length), piece);
    }
    // The empty stored block is what Z_SYNC_FLUSH ends with. Go's inflater (kubectl) only hands
    // out a stored block's bytes when it reaches the next block; without this marker it reads
    // past the frame, hits EOF, and that error sticks to the connection's reader for good.
    out.push(storedBlockHeader(0));
    return Buffer.concat(out);
  }

  decode(block: Buffer): Promise<SpdyHeaders> {
    if (block.length === 0) return Promise.resolve({});
    return new Promise((resolve, reject) => {
      if (this.inflateError) {
        reject(new SpdyProtocolError(`header block does not inflate: ${this.inflateError.message}`));
        return;
      }
      this.inflated = [];
      this.inflatedBytes = 0;
      this.inflater.write(block);
      this.inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (this.inflateError) {
          reject(new SpdyProtocolError(`header block does not inflate: ${this.inflateError.message}`));
          return;
        }
        if (this.inflatedBytes > MAX_HEADER_BLOCK_BYTES) {
          reject(new SpdyProtocolError(`header block inflates past ${MAX_HEADER_BLOCK_BYTES} bytes`));
          return;
        }
        try {
          resolve(parseHeaderPairs(Buffer.concat(this.inflated)));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  }

  close(): void {
    this.inflater.destroy();
  }
}

function parseHeaderPairs(raw: Buffer): SpdyHeaders {
  if (raw.length < 4) throw new SpdyProtocolError('header block shorter than its pair count');
  const count = raw.readUInt32BE(0);
  // Each pair needs at least 8 bytes of lengths: refuse counts the block cannot hold.
  if (count > (raw.length - 4) / 8) throw new SpdyProtocolError('header pair count exceeds the block');
  const headers: SpdyHeaders = {};
  let offset = 4;
  const readString = (): string => {
    if (offset + 4 > raw.length) throw new SpdyProtocolError('truncated header block');
    const length = raw.readUInt32BE(offset);
    offset += 4;
    if (length > raw.length - offset) throw new SpdyProtocolError('header string exceeds the block');
    const value = raw.toString('utf8', offset, offset + length);
    offset += length;
    return value;
  };
  for (let i = 0; i < count; i++) {
    const name = readString().toLowerCase();
    headers[name] = readString();
  }
  return headers;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value >>> 0);
  return buffer;
}

function controlFrame(type: SpdyControlType, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return Buffer.concat([header, payload]);
}

export function encodeDataFrame(streamId: number, payload: Buffer, fin: boolean): Buffer {
  if (payload.length > 0xffffff) throw new RangeError('SPDY data frame payload over 16 MiB');
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(streamId & 0x7fffffff, 0);
  frame.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | payload.length, 4);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

export function encodeSynStream(
  codec: SpdyHeaderCodec,
  streamId: number,
  headers: SpdyHeaders,
  options: { fin?: boolean; associatedStreamId?: number; priority?: number } = {},
): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(streamId & 0x7fffffff, 0);
  fixed.writeUInt32BE((options.associatedStreamId ?? 0) & 0x7fffffff, 4);
  fixed.writeUInt8(((options.priority ?? 0) & 0x7) << 5, 8);
  return controlFrame(
    SpdyControlType.SynStream,
    options.fin ? FLAG_FIN : 0,
    Buffer.concat([fixed, codec.encode(headers)]),
  );
}

export function encodeSynReply(
  codec: SpdyHeaderCodec,
  streamId: number,
  headers: SpdyHeaders,
  fin = false,
): Buffer {
  return controlFrame(
    SpdyControlType.SynReply,
    fin ? FLAG_FIN : 0,
    Buffer.concat([u32(streamId & 0x7fffffff), codec.encode(headers)]),
  );
}

export function encodeRstStream(streamId: number, status: RstStatus): Buffer {
  return controlFrame(SpdyControlType.RstStream, 0, Buffer.concat([u32(streamId & 0x7fffffff), u32(status)]));
}

export function encodePing(id: number): Buffer {
  return controlFrame(SpdyControlType.Ping, 0, u32(id));
}

export function encodeGoAway(lastGoodStreamId: number, status = 0): Buffer {
  return controlFrame(
    SpdyControlType.GoAway,
    0,
    Buffer.concat([u32(lastGoodStreamId & 0x7fffffff), u32(status)]),
  );
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return controlFrame(
    SpdyControlType.WindowUpdate,
    0,
    Buffer.concat([u32(streamId & 0x7fffffff), u32(delta & 0x7fffffff)]),
  );
}

/**
 * Turns an arbitrarily split byte stream into frames. Keeps the unread bytes as a list of chunks
 * so a frame that arrives in many tiny pieces costs one copy, not one per piece.
 */
export class SpdyFrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Feeds bytes; returns every frame now complete. Throws SpdyProtocolError on a bad frame. */
  push(chunk: Buffer): SpdyFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: SpdyFrame[] = [];
    while (this.buffered >= FRAME_HEADER_BYTES) {
      const header = this.peek(FRAME_HEADER_BYTES);
      const length = header.readUInt32BE(4) & 0xffffff;
      const isControl = (header[0] & 0x80) !== 0;
      if (isControl) {
        const version = header.readUInt16BE(0) & 0x7fff;
        if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
        if (length > MAX_CONTROL_FRAME_BYTES) throw new SpdyProtocolError(`control frame of ${length} bytes`);
      }
      if (this.buffered < FRAME_HEADER_BYTES + length) break;
      this.take(FRAME_HEADER_BYTES);
      const payload = this.take(length);
      frames.push(isControl ? this.decodeControl(header, payload) : decodeData(header, payload));
    }
    return frames;
  }

  private decodeControl(header: Buffer, payload: Buffer): SpdyFrame {
    const type = header.readUInt16BE(2) as SpdyControlType;
    const flags = header[4];
    const fin = (flags & FLAG_FIN) !== 0;
    const need = (bytes: number): void => {
      if (payload.length < bytes) throw new SpdyProtocolError(`control frame type ${type} too short`);
    };
    switch (type) {
      case SpdyControlType.SynStream:
        need(10);
        return {
          kind: 'synStream',
          streamId: payload.readUInt32BE(0) & 0x7fffffff,
          associatedStreamId: payload.readUInt32BE(4) & 0x7fffffff,
          priority: payload[8] >> 5,
          fin,
          unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
          headerBlock: payload.subarray(10),
        };
      case SpdyControlType.SynReply:
        need(4);
        return {
          kind: 'synReply',
          streamId: payload.readUInt32BE(0) & 0x7fffffff,
          fin,
          headerBlock: payload.subarray(4),
        };
      case SpdyControlType.Headers:
        need(4);
        return {
          kind: 'headers',
          streamId: payload.readUInt32BE(0) & 0x7fffffff,
          fin,
          headerBlock: payload.subarray(4),
        };
      case SpdyControlType.RstStream:
        need(8);
        return {
          kind: 'rstStream',
          streamId: payload.readUInt32BE(0) & 0x7fffffff,
          status: payload.readUInt32BE(4),
        };
      case SpdyControlType.Settings: {
        need(4);
        const count = payload.readUInt32BE(0);
        if (count > (payload.length - 4) / 8) throw new SpdyProtocolError('SETTINGS count exceeds the frame');
        const entries: Array<{ flags: number; id: number; value: number }> = [];
        for (let i = 0; i < count; i++) {
          const at = 4 + i * 8;
          entries.push({
            flags: payload[at],
            id: payload.readUIntBE(at + 1, 3),
            value: payload.readUInt32BE(at + 4),
          });
        }
        return { kind: 'settings', entries };
      }
      case SpdyControlType.Ping:
        need(4);
        return { kind: 'ping', id: payload.readUInt32BE(0) };
      case SpdyControlType.GoAway:
        need(4);
        return {
          kind: 'goAway',
          lastGoodStreamId: payload.readUInt32BE(0) & 0x7fffffff,
          status: payload.length >= 8 ? payload.readUInt32BE(4) : 0,
        };
      case SpdyControlType.WindowUpdate:
        need(8);
        return {
          kind: 'windowUpdate',
          streamId: payload.readUInt32BE(0) & 0x7fffffff,
          delta: payload.readUInt32BE(4) & 0x7fffffff,
        };
      default:
        // SPDY says unknown control frames are ignored, not fatal.
        return { kind: 'unknown', type };
    }
  }

  private peek(count: number): Buffer {
    if (this.chunks[0].length >= count) return this.chunks[0].subarray(0, count);
    const head: Buffer[] = [];
    let have = 0;
    for (const chunk of this.chunks) {
      if (have >= count) break;
      head.push(chunk);
      have += chunk.length;
    }
    return Buffer.concat(head).subarray(0, count);
  }

  private take(count: number): Buffer {
    if (count === 0) return Buffer.alloc(0);
    this.buffered -= count;
    const first = this.chunks[0];
    if (first.length >= count) {
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0];
      const used = Math.min(chunk.length, count - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

function decodeData(header: Buffer, payload: Buffer): SpdyFrame {
  return {
    kind: 'data',
    streamId: header.readUInt32BE(0) & 0x7fffffff,
    fin: (header[4] & FLAG_FIN) !== 0,
    payload,
  };
}
