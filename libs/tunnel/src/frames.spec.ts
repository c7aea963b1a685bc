import { FrameType, LIMITS, ProtocolError, decodeFrame, encodeFrame, parseHello, type Frame } from './frames';

const target = { namespace: 'default', kind: 'pod', name: 'nginx', port: 80, protocol: 'tcp' };

describe('tunnel frames', () => {
  it.each<Frame>([
    { type: FrameType.Hello, stream: 0, hello: { version: 1, targets: [target as never] } },
    { type: FrameType.Open, stream: 7, target: 3 },
    { type: FrameType.OpenAck, stream: 7, pod: 'nginx' },
    { type: FrameType.Data, stream: 7, data: Buffer.from('hello') },
    { type: FrameType.Window, stream: 7, increment: 65536 },
    { type: FrameType.Fin, stream: 7 },
    { type: FrameType.Reset, stream: 7, code: 1, reason: 'connection refused' },
    { type: FrameType.Ping, stream: 0, payload: Buffer.alloc(8, 1) },
  ])('round-trips %o', (frame) => {
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  it('cuts a long reset reason at a character boundary', () => {
    const frame = decodeFrame(
      encodeFrame({ type: FrameType.Reset, stream: 1, code: 1, reason: 'é'.repeat(2000) }),
    );
    expect(frame.type === FrameType.Reset && frame.reason).toBe('é'.repeat(LIMITS.maxReasonBytes / 2));
  });

  const header = (type: number, stream: number) => {
    const b = Buffer.alloc(5);
    b[0] = type;
    b.writeUInt32BE(stream, 1);
    return b;
  };
  it.each<[string, Buffer]>([
    ['a truncated header (crash on short reads)', Buffer.from([4, 0, 0])],
    ['an unknown frame type (version confusion)', header(0x7f, 1)],
    [
      'data on stream 0 (confusing the control channel)',
      Buffer.concat([header(FrameType.Data, 0), Buffer.from('x')]),
    ],
    [
      'an oversize data frame (memory exhaustion)',
      Buffer.concat([header(FrameType.Data, 1), Buffer.alloc(LIMITS.maxDataPayload + 1)]),
    ],
    [
      'a zero window increment (a stream that never moves)',
      Buffer.concat([header(FrameType.Window, 1), Buffer.alloc(4)]),
    ],
    ['a malformed open', Buffer.concat([header(FrameType.Open, 1), Buffer.alloc(3)])],
    ['a hello that is not JSON', Buffer.concat([header(FrameType.Hello, 0), Buffer.from('{')])],
    ['a hello on a stream', Buffer.concat([header(FrameType.Hello, 1), Buffer.from('{}')])],
    ['a fin with a payload', Buffer.concat([header(FrameType.Fin, 1), Buffer.from('x')])],
  ])('refuses %s', (_attack, message) => {
    expect(() => decodeFrame(message)).toThrow(ProtocolError);
  });

  it.each<[string, unknown]>([
    ['another version', { version: 2, targets: [target] }],
    ['no targets', { version: 1, targets: [] }],
    [
      'too many targets (resource exhaustion)',
      { version: 1, targets: Array(LIMITS.maxTargets + 1).fill(target) },
    ],
    [
      'a path in the name (traversal into another API path)',
      { version: 1, targets: [{ ...target, name: '../secrets' }] },
    ],
    ['an encoded name', { version: 1, targets: [{ ...target, name: 'nginx%2f..' }] }],
    ['a bad namespace', { version: 1, targets: [{ ...target, namespace: 'Default/x' }] }],
    ['an unknown kind (e.g. nodes)', { version: 1, targets: [{ ...target, kind: 'node' }] }],
    ['port 0', { version: 1, targets: [{ ...target, port: 0 }] }],
    ['port 65536', { version: 1, targets: [{ ...target, port: 65536 }] }],
    ['a port name with spaces', { version: 1, targets: [{ ...target, port: 'a b' }] }],
    ['an unknown protocol (sctp)', { version: 1, targets: [{ ...target, protocol: 'sctp' }] }],
    [
      'a receive window above the bound (the gateway would buffer that much per stream)',
      { version: 1, targets: [target], window: LIMITS.maxWindow + 1 },
    ],
    ['a receive window of 1 byte (a frame per byte)', { version: 1, targets: [target], window: 1 }],
    ['a fractional receive window', { version: 1, targets: [target], window: 65536.5 }],
    ['a receive window as a string', { version: 1, targets: [target], window: '2097152' }],
    [
      'a resume with a negative offset',
      {
        version: 1,
        targets: [target],
        resume: {
          tunnel: 't',
          secret: 's',
          streams: [{ id: 1, received: -1, limit: 0, finReceived: false }],
        },
      },
    ],
  ])('refuses a hello with %s', (_attack, hello) => {
    expect(() => parseHello(hello)).toThrow(ProtocolError);
  });

  it('keeps an announced receive window within the bounds; none from an older client', () => {
    expect(parseHello({ version: 1, targets: [target], window: LIMITS.maxWindow }).window).toBe(
      LIMITS.maxWindow,
    );
    expect(parseHello({ version: 1, targets: [target] }).window).toBeUndefined();
  });

  it('accepts a named port and every kind', () => {
    for (const kind of ['pod', 'service', 'deployment', 'statefulset'])
      expect(
        parseHello({ version: 1, targets: [{ ...target, kind, port: 'http' }] }).targets[0],
      ).toMatchObject({ kind, port: 'http' });
  });
});
