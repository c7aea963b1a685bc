// The gateway's send budget per tunnel (send-budget.ts), through a real TunnelSession: pod-side
// sources that write whenever they may, and a client that fast-check makes hostile (never
// grants credit, never reads the link, grants credit for bytes it never read) or well-behaved
// (reads and consumes everything, in any order). Small windows, frames and budget make the
// budget bind within a few steps.
import fc from 'fast-check';
import { FrameType, decodeFrame } from './frames';
import { LINK_SLACK_BYTES, SendBudget, type RoomWaiter } from './send-budget';
import { TunnelSession, type TunnelStream } from './session';

const WINDOW = 1024;
const PAYLOAD = 300;
const CHUNK = 700;
const BUDGET = 3 * WINDOW;

/** A pod connection that always has more to say: writes a chunk whenever its stream lets it. */
interface Source {
  stream: TunnelStream;
  paused: boolean;
  /** Bytes handed to the stream (all accepted: a socket's read cannot be taken back). */
  written: number;
  /** What it wrote, for checking order (only kept when `record`). */
  chunks: Buffer[];
  /** Times it was woken by onDrain after a pause. */
  wakes: number;
}

function gatewayWithSources(streams: number, total?: number, record = false) {
  const sources: Source[] = [];
  const link = { frames: [] as Buffer[], bytes: 0 };
  const gateway = new TunnelSession(
    {
      open: (stream) => {
        const source: Source = { stream, paused: false, written: 0, chunks: [], wakes: 0 };
        stream.onDrain = () => {
          source.paused = false;
          source.wakes++;
        };
        sources.push(source);
      },
    },
    { initialWindow: WINDOW, maxDataPayload: PAYLOAD, pingIntervalMs: 0, sendBudget: BUDGET },
  );
  gateway.attach(
    (frame) => {
      link.frames.push(frame);
      link.bytes += frame.length;
    },
    { buffered: () => link.bytes },
  );
  for (let id = 1; id <= streams; id++) gateway.receive(Buffer.from([FrameType.Open, 0, 0, 0, id, 0, 0]));
  let pattern = 0;
  const speak = (source: Source): boolean => {
    if (source.paused || source.stream.isClosed) return false;
    if (total !== undefined && source.written >= total) {
      source.stream.end();
      return false;
    }
    const size = Math.min(CHUNK, total === undefined ? CHUNK : total - source.written);
    const chunk = Buffer.alloc(size);
    for (let i = 0; i < size; i++) chunk[i] = pattern = (pattern * 31 + 7) % 251;
    if (record) source.chunks.push(chunk);
    source.written += size;
    source.paused = !source.stream.write(chunk);
    return true;
  };
  /** What the gateway holds for sending: pending, retained and the link's buffer past its slack. */
  const holding = () =>
    gateway.budget.pending + gateway.budget.retained + Math.max(0, link.bytes - LINK_SLACK_BYTES);
  return { gateway, sources, link, speak, holding };
}

/** The most a tunnel may hold: the budget and one read per stream past it. */
const bound = (streams: number) => BUDGET + streams * CHUNK;

describe('send budget: a hostile client cannot make the gateway hold more than the budget', () => {
  const attacks = {
    'never grants credit, reads the link': { reads: true, grants: 'never' },
    'never grants credit, never reads the link': { reads: false, grants: 'never' },
    'grants credit for bytes it never read (and never reads the link)': { reads: false, grants: 'lies' },
  } as const;
  it.each(Object.entries(attacks))('%s', (_attack, { reads, grants }) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.nat(), { minLength: 50, maxLength: 400 }),
        (streams, schedule) => {
          const { gateway, sources, link, speak, holding } = gatewayWithSources(streams);
          for (const choice of schedule) {
            const source = sources[choice % streams];
            if (choice % 3 !== 0) speak(source);
            else if (grants === 'lies') {
              // A Window for as much as the gateway has sent, though nothing was read.
              const window = Buffer.from([FrameType.Window, 0, 0, 0, source.stream.id, 0, 0, 0, 0]);
              window.writeUInt32BE(WINDOW, 5);
              gateway.receive(window);
            }
            if (reads) {
              // The client reads the link (its buffer empties) but grants nothing.
              link.frames.length = 0;
              link.bytes = 0;
              gateway.linkDrained();
            }
            expect(holding()).toBeLessThanOrEqual(bound(streams));
          }
          // Every source stopped is still stopped: nothing is read while the budget is spent.
          const stopped = sources.filter((s) => s.paused);
          const before = stopped.map((s) => s.written);
          for (const source of sources) speak(source);
          stopped.forEach((s, i) => expect(s.written).toBe(before[i]));
          expect(holding()).toBeLessThanOrEqual(bound(streams));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('drops datagrams that do not fit (never past the budget, not even by one read)', () => {
    const sent: Buffer[] = [];
    const streams: TunnelStream[] = [];
    const gateway = new TunnelSession(
      { open: (s) => void streams.push(s), datagrams: () => true },
      { initialWindow: WINDOW, pingIntervalMs: 0, sendBudget: BUDGET },
    );
    gateway.attach((f) => sent.push(f));
    for (let id = 1; id <= 8; id++) gateway.receive(Buffer.from([FrameType.Open, 0, 0, 0, id, 0, 0]));
    for (let round = 0; round < 10; round++) for (const s of streams) s.write(Buffer.alloc(500));
    expect(gateway.budget.held).toBeLessThanOrEqual(BUDGET);
    expect(gateway.budget.held).toBeGreaterThan(BUDGET - 500);
  });
});

describe('send budget: a well-behaved client still gets everything', () => {
  it('delivers every stream’s bytes whole and in order under any interleaving, though the streams together want more than the budget', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 * WINDOW }),
        fc.array(fc.nat(), { maxLength: 300 }),
        (streams, total, schedule) => {
          const { gateway, sources, link, speak, holding } = gatewayWithSources(streams, total, true);
          const received = new Map<number, Buffer[]>();
          const finished = new Set<number>();
          // The client: takes frames off the link, hands data to its application, which consumes it
          // (granting credit back) when fast-check says so.
          const unconsumed: Array<{ stream: number; bytes: number }> = [];
          const readLink = (): boolean => {
            const frame = link.frames.shift();
            if (!frame) return false;
            link.bytes -= frame.length;
            if (link.frames.length === 0) gateway.linkDrained();
            const decoded = decodeFrame(frame);
            if (decoded.type === FrameType.Data) {
              received.set(decoded.stream, [
                ...(received.get(decoded.stream) ?? []),
                Buffer.from(decoded.data),
              ]);
              unconsumed.push({ stream: decoded.stream, bytes: decoded.data.length });
            } else if (decoded.type === FrameType.Fin) finished.add(decoded.stream);
            return true;
          };
          const consumeOne = (at: number): boolean => {
            const [taken] = unconsumed.splice(at % Math.max(1, unconsumed.length), 1);
            if (!taken) return false;
            const window = Buffer.from([FrameType.Window, 0, 0, 0, 0, 0, 0, 0, 0]);
            window.writeUInt32BE(taken.stream, 1);
            window.writeUInt32BE(taken.bytes, 5);
            gateway.receive(window);
            return true;
          };
          const step = (choice: number): boolean => {
            const kind = choice % 3;
            if (kind === 0) return speak(sources[Math.floor(choice / 3) % streams]);
            if (kind === 1) return readLink();
            return consumeOne(Math.floor(choice / 3));
          };
          for (const choice of schedule) {
            step(choice);
            expect(holding()).toBeLessThanOrEqual(bound(streams));
          }
          // Then to quiescence: no deadlock, whatever the budget did on the way.
          for (let rounds = 0; rounds < 100_000; rounds++) {
            let progressed = false;
            for (const source of sources) progressed = speak(source) || progressed;
            while (readLink()) progressed = true;
            while (consumeOne(0)) progressed = true;
            if (!progressed) break;
          }
          sources.forEach((source) => {
            expect(finished.has(source.stream.id)).toBe(true);
            const got = Buffer.concat(received.get(source.stream.id) ?? []);
            expect(got.equals(Buffer.concat(source.chunks))).toBe(true);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('wakes every stream the budget stopped, in the order they stopped; one that reads on goes behind the others', () => {
    // Four streams, a client that reads the link at once but grants credit only when told to.
    const { gateway, sources, link, speak } = gatewayWithSources(4);
    const grant = (source: Source, bytes: number) => {
      const window = Buffer.from([FrameType.Window, 0, 0, 0, source.stream.id, 0, 0, 0, 0]);
      window.writeUInt32BE(bytes, 5);
      gateway.receive(window);
      link.frames.length = 0;
      link.bytes = 0;
      gateway.linkDrained();
    };
    const stoppedOrder: number[] = [];
    const talk = (source: Source) => {
      speak(source);
      if (source.paused) stoppedOrder.push(source.stream.id);
    };
    // Fill the budget: streams 4, 3, 2, 1 talk in turn until each is stopped.
    for (let i = 0; i < 10; i++) [...sources].reverse().forEach((s) => !s.paused && talk(s));
    expect(gateway.budget.full).toBe(true);
    expect(sources.every((s) => s.paused)).toBe(true);
    const woken: number[] = [];
    sources.forEach((s) => (s.stream.onDrain = () => ((s.paused = false), woken.push(s.stream.id))));
    // The clients of every stream consume: the room wakes all four, in the order they stopped.
    const firstStops = stoppedOrder.splice(0);
    sources.forEach((s) => grant(s, WINDOW));
    expect(woken).toEqual(firstStops);
    // Each talks in turn until stopped again; the next room wakes them in that new order.
    woken.length = 0;
    for (let i = 0; i < 10; i++) sources.forEach((s) => !s.paused && talk(s));
    const secondStops = stoppedOrder.splice(0);
    expect(secondStops).toHaveLength(4);
    sources.forEach((s) => grant(s, WINDOW));
    expect(woken).toEqual(secondStops);
  });
});

describe('send budget: answers to a client that does not read', () => {
  it('counts the answers (Pongs) a Ping flood leaves in the link, not the Data a download puts there', () => {
    const { gateway, sources, speak, link } = gatewayWithSources(2);
    // A download: Data fills the link (the client reads slowly); no answers pile up.
    for (let i = 0; i < 10; i++) sources.forEach(speak);
    expect(link.bytes).toBeGreaterThan(LINK_SLACK_BYTES / 32);
    expect(gateway.budget.answersPiledUp(1024)).toBe(false);
    // A Ping flood that is never read: its Pongs do.
    const ping = Buffer.from([FrameType.Ping, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    for (let i = 0; i < 10_000; i++) gateway.receive(ping);
    expect(gateway.budget.answersPiledUp(100_000)).toBe(true);
    // The link drains: they are gone.
    link.frames.length = 0;
    link.bytes = 0;
    gateway.linkDrained();
    expect(gateway.budget.answersPiledUp(1)).toBe(false);
  });
});

describe('SendBudget', () => {
  const waiter = (name: string, log: string[], again?: () => void): RoomWaiter => ({
    roomAppeared: () => {
      log.push(name);
      again?.();
    },
  });

  it('wakes all waiters in the order they came, once there is room; one that waits again goes behind', () => {
    let link = 0;
    const budget = new SendBudget(100, () => link);
    const log: string[] = [];
    budget.pending = 100;
    const a = waiter('a', log, () => budget.wait(a));
    budget.wait(a);
    budget.wait(waiter('b', log));
    budget.wait(waiter('c', log));
    budget.roomMayHaveAppeared();
    expect(log).toEqual([]); // still full
    budget.pending = 99;
    budget.roomMayHaveAppeared();
    expect(log).toEqual(['a', 'b', 'c']);
    expect(budget.waiters).toBe(1); // a, waiting again
    // The link's buffer counts past its slack: it can fill the budget on its own.
    budget.pending = 0;
    link = LINK_SLACK_BYTES + 100;
    expect(budget.full).toBe(true);
    link = LINK_SLACK_BYTES;
    expect(budget.full).toBe(false);
  });

  it('forgets a waiter that leaves (a stream reset while it waited)', () => {
    const budget = new SendBudget(10);
    const log: string[] = [];
    const gone = waiter('gone', log);
    budget.pending = 10;
    budget.wait(gone);
    budget.wait(waiter('stays', log));
    budget.leave(gone);
    budget.pending = 0;
    budget.roomMayHaveAppeared();
    expect(log).toEqual(['stays']);
  });
});
