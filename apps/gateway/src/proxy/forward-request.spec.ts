// relayWhole: a finite answer is held and written in one go at its end, up to a bound; past it the
// rest is piped; an answer that never ends (cut upstream) is never written.
import type * as http from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { relayWhole, WHOLE_ANSWER_MAX_BYTES } from './forward-request';

class FakeResponse extends Writable {
  readonly written: Buffer[] = [];
  ended = false;
  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.written.push(chunk);
    done();
  }
  override _final(done: () => void): void {
    this.ended = true;
    done();
  }
  get bytes(): number {
    return this.written.reduce((sum, chunk) => sum + chunk.length, 0);
  }
}

const asResponse = (res: FakeResponse): http.ServerResponse => res as unknown as http.ServerResponse;
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const finished = (res: Writable): Promise<void> => new Promise((resolve) => res.once('finish', resolve));

describe('relayWhole', () => {
  it('holds a finite answer until its end, then writes every byte in order and ends', async () => {
    const body = new PassThrough();
    const res = new FakeResponse();
    relayWhole(body, asResponse(res));
    const pieces = [Buffer.alloc(16_384, 'a'), Buffer.alloc(16_384, 'b'), Buffer.from('tail')];
    for (const piece of pieces) {
      body.write(piece);
      await tick();
    }
    expect(res.written).toHaveLength(0);
    const done = finished(res);
    body.end();
    await done;
    expect(Buffer.concat(res.written)).toEqual(Buffer.concat(pieces));
    expect(res.ended).toBe(true);
  });

  it('past the bound, writes what it held and pipes the rest as it arrives (a huge list is never held whole)', async () => {
    const body = new PassThrough();
    const res = new FakeResponse();
    relayWhole(body, asResponse(res));
    const piece = Buffer.alloc(64 * 1024, 'x');
    const pieces = Math.ceil(WHOLE_ANSWER_MAX_BYTES / piece.length) + 1;
    for (let i = 0; i < pieces; i++) {
      body.write(piece);
      await tick();
    }
    expect(res.bytes).toBe(pieces * piece.length);
    expect(res.ended).toBe(false);
    body.write(Buffer.from('more'));
    await tick();
    expect(res.bytes).toBe(pieces * piece.length + 4);
    const done = finished(res);
    body.end();
    await done;
    expect(res.ended).toBe(true);
  });

  it('an answer that breaks off (no end) is never written: a partial body cannot look complete', async () => {
    const body = new PassThrough();
    const res = new FakeResponse();
    relayWhole(body, asResponse(res));
    // The upstream client listens for the error (and cuts the client); here nobody else does.
    body.on('error', () => undefined);
    body.write(Buffer.from('{"kind":"PodList","items":['));
    body.destroy(new Error('stream reset'));
    await tick();
    expect(res.written).toHaveLength(0);
    expect(res.ended).toBe(false);
  });

  it('writes nothing into a response the client already closed', async () => {
    const body = new PassThrough();
    const res = new FakeResponse();
    relayWhole(body, asResponse(res));
    body.write(Buffer.from('held'));
    await tick();
    res.destroy();
    body.end();
    await tick();
    expect(res.written).toHaveLength(0);
  });
});
