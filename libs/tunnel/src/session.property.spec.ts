// Property tests of the tunnel session: two sessions joined by in-memory links whose frames
// are delivered in an order fast-check chooses (each direction stays FIFO, as a WebSocket is),
// interleaved with the applications' writes and reads. Small windows and frames make every
// path (credit exhausted, split writes, batched Window frames) happen within a few steps.
import fc from 'fast-check';
import { FrameType } from './frames';
import { TunnelSession, type TunnelStream } from './session';

const WINDOW = 1024;
const PAYLOAD = 300;

interface Side {
  /** What this side's application writes, chunk by chunk. */
  chunks: Buffer[];
  next: number;
  blocked: boolean;
  ended: boolean;
  /** Received, not yet consumed by the application. */
  unconsumed: Buffer[];
  delivered: Buffer[];
  finReceived: boolean;
  stream?: TunnelStream;
}

interface StreamPlan {
  up: number[][];
  down: number[][];
  stalled: boolean;
}

function side(chunks: number[][]): Side {
  return {
    chunks: chunks.map((c) => Buffer.from(c)),
    next: 0,
    blocked: false,
    ended: false,
    unconsumed: [],
    delivered: [],
    finReceived: false,
  };
}

function wire(stream: TunnelStream, me: Side): void {
  me.stream = stream;
  stream.onData = (chunk) => me.unconsumed.push(Buffer.from(chunk));
  stream.onEnd = () => (me.finReceived = true);
  stream.onDrain = () => (me.blocked = false);
}

/** Runs one scenario; returns the per-stream sides for checking. */
function runScenario(
  plans: StreamPlan[],
  schedule: number[],
  dropAt: number | undefined,
  /** The client's receive window, announced to the gateway (the Hello's `window`). */
  clientWindow = WINDOW,
) {
  const toGateway: Buffer[] = [];
  const toClient: Buffer[] = [];
  const clientSides = plans.map((p) => side(p.up));
  const gatewaySides = plans.map((p) => side(p.down));
  const client = new TunnelSession(
    {},
    { initialWindow: WINDOW, receiveWindow: clientWindow, maxDataPayload: PAYLOAD, pingIntervalMs: 0 },
  );
  const gateway = new TunnelSession(
    { open: (stream) => wire(stream, gatewaySides[stream.id - 1]) },
    { initialWindow: WINDOW, sendWindow: clientWindow, maxDataPayload: PAYLOAD, pingIntervalMs: 0 },
  );
  client.attach((f) => toGateway.push(f));
  gateway.attach((f) => toClient.push(f));
  plans.forEach((_, i) => wire(client.open(0), clientSides[i]));
  // Opens arrive first (a drop before its Open would lose a stream by design).
  while (toGateway.length) gateway.receive(toGateway.shift()!);

  const sides = [
    ...clientSides.map((s, i) => ({ s, i, up: true })),
    ...gatewaySides.map((s, i) => ({ s, i, up: false })),
  ];
  const stalledReader = (entry: { i: number; up: boolean }) =>
    // A stalled stream: the gateway side never reads what the client sends on it.
    plans[entry.i].stalled && entry.up === false;

  const step = (choice: number): void => {
    const action = choice % 4;
    const entry = sides[Math.floor(choice / 4) % sides.length];
    if (action === 0 && toGateway.length) gateway.receive(toGateway.shift()!);
    else if (action === 1 && toClient.length) client.receive(toClient.shift()!);
    else if (action === 2) {
      const me = entry.s;
      if (me.blocked || me.ended || !me.stream || me.stream.isClosed) return;
      if (me.next < me.chunks.length) me.blocked = !me.stream.write(me.chunks[me.next++]);
      else {
        me.ended = true;
        me.stream.end();
      }
    } else if (action === 3 && !stalledReader(entry)) {
      const me = entry.s;
      const chunk = me.unconsumed.shift();
      if (chunk) {
        me.delivered.push(chunk);
        me.stream?.consumed(chunk.length);
      }
    }
  };

  schedule.forEach((choice, n) => {
    if (n === dropAt) {
      // The link drops: frames in flight are lost; a new link; each side resumes from the other's progress.
      client.detach();
      gateway.detach();
      toGateway.length = 0;
      toClient.length = 0;
      client.attach((f) => toGateway.push(f));
      gateway.attach((f) => toClient.push(f));
      const clientProgress = client.progress();
      const gatewayProgress = gateway.progress();
      client.resume(gatewayProgress);
      gateway.resume(clientProgress);
    }
    step(choice);
  });
  // Then run to quiescence: every application writes and reads all it can.
  for (let rounds = 0; rounds < 100_000; rounds++) {
    let progressed = false;
    if (toGateway.length) {
      gateway.receive(toGateway.shift()!);
      progressed = true;
    }
    if (toClient.length) {
      client.receive(toClient.shift()!);
      progressed = true;
    }
    for (const entry of sides) {
      const me = entry.s;
      if (!me.blocked && !me.ended && me.stream && !me.stream.isClosed) {
        if (me.next < me.chunks.length) me.blocked = !me.stream.write(me.chunks[me.next++]);
        else {
          me.ended = true;
          me.stream.end();
        }
        progressed = true;
      }
      if (!stalledReader(entry) && me.unconsumed.length) {
        const chunk = me.unconsumed.shift()!;
        me.delivered.push(chunk);
        me.stream?.consumed(chunk.length);
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  return { clientSides, gatewaySides, client, gateway };
}

// Chunk sizes up to 900 bytes (fast-check's default sizes would keep every array tiny and never
// exhaust a window); the bytes themselves are a pattern unique to each position.
const chunks = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 900 }), { maxLength: 8, size: 'max' }), fc.nat(255))
  .map(([sizes, seed]) => {
    let n = seed;
    return sizes.map((size) => Array.from({ length: size }, () => (n = (n * 31 + 7) % 251)));
  });
const plans = fc.array(fc.record({ up: chunks, down: chunks, stalled: fc.boolean() }), {
  minLength: 1,
  maxLength: 4,
});

const concat = (parts: Buffer[]) => Buffer.concat(parts);
const allBytes = (s: Side) => concat(s.chunks);
const receivedBytes = (s: Side) => concat([...s.delivered, ...s.unconsumed]);

// Equal windows, and a client that announced a larger receive window than the gateway's.
describe.each([
  ['equal windows', WINDOW],
  ['a larger client window', 4 * WINDOW],
])('tunnel session (properties), %s', (_windows, clientWindow) => {
  it('delivers every stream’s bytes in order, whole, under any interleaving; a stalled stream blocks only itself', () => {
    fc.assert(
      fc.property(plans, fc.array(fc.nat(), { maxLength: 400, size: 'max' }), (streamPlans, schedule) => {
        const { clientSides, gatewaySides } = runScenario(streamPlans, schedule, undefined, clientWindow);
        streamPlans.forEach((plan, i) => {
          // Gateway → client always completes (the client reads everything).
          expect(receivedBytes(clientSides[i]).equals(allBytes(gatewaySides[i]))).toBe(true);
          expect(clientSides[i].finReceived).toBe(true);
          if (!plan.stalled) {
            expect(receivedBytes(gatewaySides[i]).equals(allBytes(clientSides[i]))).toBe(true);
            expect(gatewaySides[i].finReceived).toBe(true);
          } else {
            // The stalled reader holds at most one window; what it has is a prefix, in order.
            const got = receivedBytes(gatewaySides[i]);
            expect(got.length).toBeLessThanOrEqual(WINDOW);
            expect(allBytes(clientSides[i]).subarray(0, got.length).equals(got)).toBe(true);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it('resumes every stream from the last byte the peer has after the link drops, without loss or duplication', () => {
    fc.assert(
      fc.property(
        plans.map((p) => p.map((s) => ({ ...s, stalled: false }))),
        fc.array(fc.nat(), { minLength: 1, maxLength: 400, size: 'max' }),
        fc.nat(),
        (streamPlans, schedule, drop) => {
          const { clientSides, gatewaySides, client, gateway } = runScenario(
            streamPlans,
            schedule,
            drop % schedule.length,
            clientWindow,
          );
          streamPlans.forEach((_, i) => {
            expect(receivedBytes(gatewaySides[i]).equals(allBytes(clientSides[i]))).toBe(true);
            expect(receivedBytes(clientSides[i]).equals(allBytes(gatewaySides[i]))).toBe(true);
          });
          // Finished streams are forgotten on both sides.
          expect(client.streams.size).toBe(0);
          expect(gateway.streams.size).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('tunnel session', () => {
  it('never lets a sender run past its window, and a peer that does is reset', () => {
    const gatewaySide = side([]);
    const sent: Buffer[] = [];
    const gateway = new TunnelSession(
      { open: (stream) => wire(stream, gatewaySide) },
      { initialWindow: WINDOW, maxDataPayload: PAYLOAD, pingIntervalMs: 0 },
    );
    gateway.attach((f) => sent.push(f));
    const open = Buffer.from([FrameType.Open, 0, 0, 0, 1, 0, 0]);
    gateway.receive(open);
    const data = (n: number) => Buffer.concat([Buffer.from([FrameType.Data, 0, 0, 0, 1]), Buffer.alloc(n)]);
    for (let i = 0; i < WINDOW / 256; i++) gateway.receive(data(256));
    expect(gateway.streams.size).toBe(1);
    gateway.receive(data(1)); // one byte too many
    expect(gateway.streams.size).toBe(0);
    const reset = sent.find((f) => f[0] === FrameType.Reset)!;
    expect(reset.readUInt16BE(5)).toBe(6);
  });
});
