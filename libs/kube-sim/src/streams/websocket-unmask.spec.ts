import { randomBytes } from 'node:crypto';
import { FrameUnmasker } from './websocket-unmask';

/** A masked client frame as RFC 6455 lays it out. */
function maskedFrame(opcode: number, payload: Buffer, mask: Buffer): { frame: Buffer; plainHeader: Buffer } {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + 4);
  header[0] = 0x80 | opcode;
  header[1] = 0x80 | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) header.writeUInt16BE(length, 2);
  if (extended === 8) header.writeBigUInt64BE(BigInt(length), 2);
  mask.copy(header, 2 + extended);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i & 3]));
  const plainHeader = Buffer.from(header);
  plainHeader.fill(0, 2 + extended);
  return { frame: Buffer.concat([header, masked]), plainHeader };
}

describe('FrameUnmasker', () => {
  const sizes = [0, 1, 5, 125, 126, 127, 300, 65535, 65536, 70_001];

  it('unmasks payloads and zeroes keys, however the byte stream is cut', () => {
    const frames = sizes.map((size, i) => ({
      opcode: i === 3 ? 0x9 : 0x2,
      payload: randomBytes(size),
      mask: randomBytes(4),
    }));
    const encoded = frames.map((f) => maskedFrame(f.opcode, f.payload, f.mask));
    const wire = Buffer.concat(encoded.map((e) => e.frame));
    const expected = Buffer.concat(encoded.flatMap((e, i) => [e.plainHeader, frames[i].payload]));
    for (const cut of [1, 2, 3, 7, 13, 4096, 65_537, wire.length]) {
      const unmasker = new FrameUnmasker();
      const out: Buffer[] = [];
      for (let offset = 0; offset < wire.length; offset += cut) {
        // Copies at odd offsets inside a larger buffer, so word alignment varies.
        const slice = wire.subarray(offset, offset + cut);
        const host = Buffer.alloc(slice.length + 3);
        const chunk = host.subarray(offset % 4, (offset % 4) + slice.length);
        slice.copy(chunk);
        out.push(unmasker.process(chunk));
      }
      expect(Buffer.concat(out).equals(expected)).toBe(true);
    }
  });

  it('passes unmasked frames through untouched', () => {
    const frame = Buffer.from([0x82, 0x03, 1, 2, 3, 0x82, 0x00]);
    expect(new FrameUnmasker().process(Buffer.from(frame)).equals(frame)).toBe(true);
  });
});
