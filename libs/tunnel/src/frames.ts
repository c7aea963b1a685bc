// The kgw tunnel's frames (subprotocol `kgw.tunnel.v1`): one binary WebSocket message is one
// frame, `type:u8 | stream:u32be | payload`. Decoding guards a hostile peer: unknown types,
// short frames, oversize payloads and malformed control JSON are ProtocolErrors, never crashes.
// The layout is documented in libs/tunnel/README.md; change both together.

export const SUBPROTOCOL = 'kgw.tunnel.v1';

export const FrameType = {
  /** client → gateway, stream 0: JSON Hello (targets, optional resume). */
  Hello: 0x00,
  /** gateway → client, stream 0: JSON Welcome (tunnel id, limits, per-target results). */
  Welcome: 0x01,
  /** client → gateway: open stream `stream` to target index u16be (payload). */
  Open: 0x02,
  /** gateway → client: the stream's pod connection is up; payload: utf8 pod name. */
  OpenAck: 0x03,
  /** either way: stream bytes (one UDP datagram per frame on a UDP stream). */
  Data: 0x04,
  /** either way: the sender of this frame consumed u32be more bytes; the peer may send as many. */
  Window: 0x05,
  /** either way: no more data from the sender of this frame (TCP half-close). */
  Fin: 0x06,
  /** either way: the stream ends now, both directions; payload u16be code + utf8 reason. On stream 0: the tunnel ends. */
  Reset: 0x07,
  /** either way, stream 0: keepalive; payload 8 opaque bytes, echoed in a Pong. */
  Ping: 0x08,
  Pong: 0x09,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Reset codes (u16). Stable: documented in the README. */
export const ResetCode = {
  /** The pod refused the connection or could not be dialled. */
  Refused: 1,
  /** No ready pod behind the target. */
  NoReadyPod: 2,
  /** The caller may not (any more) port-forward to this target. */
  Forbidden: 3,
  /** Target missing, or an unknown target index. */
  NotFound: 4,
  /** The peer broke the protocol (bad frame, unknown stream, reused id). */
  Protocol: 5,
  /** The peer sent beyond the window it was given. */
  FlowControl: 6,
  /** The local or pod-side socket failed or was reset. */
  ConnectionReset: 7,
  /** The tunnel is closing (shutdown, grace period over, stream not resumable). */
  GoingAway: 8,
  /** The credential was revoked or expired. */
  Unauthorized: 9,
  /** Too many streams, or another limit. */
  Limit: 10,
  Internal: 11,
} as const;
export type ResetCodeValue = (typeof ResetCode)[keyof typeof ResetCode];

/** Bounds every implementation enforces (the gateway announces its values in the Welcome). */
export const LIMITS = {
  /** Largest Data payload. Larger writes are split. */
  maxDataPayload: 64 * 1024,
  /** Largest Hello/Welcome JSON. */
  maxControlPayload: 64 * 1024,
  /** Largest Reset reason, in bytes. */
  maxReasonBytes: 1024,
  /**
   * Each direction of each stream starts with this much credit, unless the receiving side
   * announced its own receive window (the gateway in the Welcome's limits, the CLI in the Hello).
   */
  initialWindow: 512 * 1024,
  /** The largest receive window a side may announce (and the CLI's own: see README, Flow control). */
  maxWindow: 2 * 1024 * 1024,
  /** The smallest: one full Data frame. */
  minWindow: 64 * 1024,
  /** Concurrent streams per tunnel. */
  maxStreams: 1024,
  /** Targets per tunnel. */
  maxTargets: 64,
} as const;

export const HEADER_BYTES = 5;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export type Frame =
  | { type: typeof FrameType.Hello; stream: 0; hello: Hello }
  | { type: typeof FrameType.Welcome; stream: 0; welcome: Welcome }
  | { type: typeof FrameType.Open; stream: number; target: number }
  | { type: typeof FrameType.OpenAck; stream: number; pod: string }
  | { type: typeof FrameType.Data; stream: number; data: Buffer }
  | { type: typeof FrameType.Window; stream: number; increment: number }
  | { type: typeof FrameType.Fin; stream: number }
  | { type: typeof FrameType.Reset; stream: number; code: number; reason: string }
  | { type: typeof FrameType.Ping | typeof FrameType.Pong; stream: 0; payload: Buffer };

export type Protocol = 'tcp' | 'udp';

/** One `TYPE/NAME PORT[/udp]` the client wants to reach. */
export interface TargetRequest {
  namespace: string;
  /** pod, service, deployment, statefulset (kubectl's short forms are resolved by the CLI). */
  kind: 'pod' | 'service' | 'deployment' | 'statefulset';
  name: string;
  /** The remote port: a number, or a port name (service port or container port name). */
  port: number | string;
  protocol: Protocol;
}

/** Per stream, what one side has of the other's data: used to resume after a dropped link. */
export interface StreamProgress {
  id: number;
  /** Bytes of the peer's data received on this stream (all of them, consumed or not). */
  received: number;
  /** The absolute offset up to which this side lets the peer send (its window edge). */
  limit: number;
  /** Whether the peer's Fin arrived. */
  finReceived: boolean;
}

export interface Hello {
  version: 1;
  targets: TargetRequest[];
  /**
   * The client's receive window per stream (LIMITS.minWindow…maxWindow): how far the gateway may
   * send ahead of the client's Windows. Absent (older clients): LIMITS.initialWindow.
   */
  window?: number;
  /** Set when reconnecting: the tunnel to resume and this side's progress on each open stream. */
  resume?: { tunnel: string; secret: string; streams: StreamProgress[] };
}

export interface TargetResult {
  ok: boolean;
  /** On success: what the target resolved to, e.g. `pod/nginx-7d9 port 80` (for messages). */
  description?: string;
  /** On failure. */
  code?: number;
  message?: string;
}

export interface Welcome {
  version: 1;
  /** The tunnel's id (also in the audit) and a secret that lets only this client resume it. */
  tunnel: string;
  secret: string;
  /** True when the Hello's resume was honoured; `streams` then has the gateway's progress. */
  resumed: boolean;
  streams: StreamProgress[];
  targets: TargetResult[];
  limits: {
    maxDataPayload: number;
    /** The gateway's receive window per stream: how far the client may send ahead. */
    initialWindow: number;
    maxStreams: number;
    /**
     * The client's receive window the gateway honours (the Hello's `window`, bounded): the client
     * counts on it only when confirmed here. Absent (older gateways): LIMITS.initialWindow.
     */
    clientWindow?: number;
  };
  /** The gateway's grace period for resuming after a drop, in ms. */
  resumeGraceMs: number;
}

function header(type: FrameTypeValue, stream: number, payloadBytes: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payloadBytes);
  frame[0] = type;
  frame.writeUInt32BE(stream, 1);
  return frame;
}

export function encodeFrame(frame: Frame): Buffer {
  switch (frame.type) {
    case FrameType.Hello:
    case FrameType.Welcome: {
      const json = Buffer.from(
        JSON.stringify(frame.type === FrameType.Hello ? frame.hello : frame.welcome),
        'utf8',
      );
      if (json.length > LIMITS.maxControlPayload) throw new ProtocolError('control frame too large');
      const out = header(frame.type, 0, json.length);
      json.copy(out, HEADER_BYTES);
      return out;
    }
    case FrameType.Open: {
      const out = header(frame.type, frame.stream, 2);
      out.writeUInt16BE(frame.target, HEADER_BYTES);
      return out;
    }
    case FrameType.OpenAck: {
      const pod = Buffer.from(frame.pod, 'utf8').subarray(0, LIMITS.maxReasonBytes);
      const out = header(frame.type, frame.stream, pod.length);
      pod.copy(out, HEADER_BYTES);
      return out;
    }
    case FrameType.Data: {
      if (frame.data.length > LIMITS.maxDataPayload) throw new ProtocolError('data frame too large');
      const out = header(frame.type, frame.stream, frame.data.length);
      frame.data.copy(out, HEADER_BYTES);
      return out;
    }
    case FrameType.Window: {
      const out = header(frame.type, frame.stream, 4);
      out.writeUInt32BE(frame.increment, HEADER_BYTES);
      return out;
    }
    case FrameType.Fin:
      return header(frame.type, frame.stream, 0);
    case FrameType.Reset: {
      const reason = truncateUtf8(frame.reason, LIMITS.maxReasonBytes);
      const out = header(frame.type, frame.stream, 2 + reason.length);
      out.writeUInt16BE(frame.code, HEADER_BYTES);
      reason.copy(out, HEADER_BYTES + 2);
      return out;
    }
    case FrameType.Ping:
    case FrameType.Pong: {
      const out = header(frame.type, 0, 8);
      frame.payload.copy(out, HEADER_BYTES, 0, 8);
      return out;
    }
  }
}

/** A Data frame's bytes without building a Frame object (the hot path). */
export function encodeData(stream: number, data: Buffer): Buffer {
  const out = header(FrameType.Data, stream, data.length);
  data.copy(out, HEADER_BYTES);
  return out;
}

function truncateUtf8(text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  // Cut at a character boundary (never inside a multi-byte sequence).
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

export function decodeFrame(message: Buffer): Frame {
  if (message.length < HEADER_BYTES) throw new ProtocolError('frame shorter than its header');
  const type = message[0];
  const stream = message.readUInt32BE(1);
  const payload = message.subarray(HEADER_BYTES);
  const control = (): unknown => {
    if (stream !== 0) throw new ProtocolError('control frame on a stream');
    if (payload.length > LIMITS.maxControlPayload) throw new ProtocolError('control frame too large');
    try {
      return JSON.parse(payload.toString('utf8'));
    } catch {
      throw new ProtocolError('control frame is not JSON');
    }
  };
  const onStream = (): number => {
    if (stream === 0) throw new ProtocolError('stream frame on stream 0');
    return stream;
  };
  switch (type) {
    case FrameType.Hello:
      return { type, stream: 0, hello: parseHello(control()) };
    case FrameType.Welcome:
      return { type, stream: 0, welcome: control() as Welcome };
    case FrameType.Open:
      if (payload.length !== 2) throw new ProtocolError('open frame needs a u16 target');
      return { type, stream: onStream(), target: payload.readUInt16BE(0) };
    case FrameType.OpenAck:
      return { type, stream: onStream(), pod: payload.toString('utf8') };
    case FrameType.Data:
      if (payload.length > LIMITS.maxDataPayload) throw new ProtocolError('data frame too large');
      return { type, stream: onStream(), data: payload };
    case FrameType.Window: {
      if (payload.length !== 4) throw new ProtocolError('window frame needs a u32 increment');
      const increment = payload.readUInt32BE(0);
      if (increment === 0) throw new ProtocolError('window increment of 0');
      return { type, stream: onStream(), increment };
    }
    case FrameType.Fin:
      if (payload.length !== 0) throw new ProtocolError('fin frame with a payload');
      return { type, stream: onStream() };
    case FrameType.Reset:
      if (payload.length < 2 || payload.length > 2 + LIMITS.maxReasonBytes)
        throw new ProtocolError('reset frame needs a u16 code and a short reason');
      return { type, stream, code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
    case FrameType.Ping:
    case FrameType.Pong:
      if (stream !== 0 || payload.length !== 8) throw new ProtocolError('ping/pong: stream 0, 8 bytes');
      return { type, stream: 0, payload };
    default:
      throw new ProtocolError(`unknown frame type ${type}`);
  }
}

const KINDS = new Set(['pod', 'service', 'deployment', 'statefulset']);
const DNS_LABELISH = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

/** Validates a Hello from an untrusted client: shapes, counts, names, ports. */
export function parseHello(value: unknown): Hello {
  const fail = (what: string): never => {
    throw new ProtocolError(`hello: ${what}`);
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const hello = value as Record<string, unknown>;
  if (hello.version !== 1) fail('unsupported version');
  if (!Array.isArray(hello.targets) || hello.targets.length === 0) fail('no targets');
  const rawTargets = hello.targets as unknown[];
  if (rawTargets.length > LIMITS.maxTargets) fail(`more than ${LIMITS.maxTargets} targets`);
  const targets = rawTargets.map((raw, i): TargetRequest => {
    const t = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (typeof t.namespace !== 'string' || !DNS_LABELISH.test(t.namespace) || t.namespace.length > 63)
      fail(`target ${i}: bad namespace`);
    if (typeof t.kind !== 'string' || !KINDS.has(t.kind)) fail(`target ${i}: bad kind`);
    if (typeof t.name !== 'string' || !DNS_LABELISH.test(t.name)) fail(`target ${i}: bad name`);
    const port = t.port;
    if (typeof port === 'number') {
      if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`target ${i}: bad port`);
    } else if (typeof port !== 'string' || !PORT_NAME.test(port)) fail(`target ${i}: bad port`);
    if (t.protocol !== 'tcp' && t.protocol !== 'udp') fail(`target ${i}: bad protocol`);
    return {
      namespace: t.namespace as string,
      kind: t.kind as TargetRequest['kind'],
      name: t.name as string,
      port: port as number | string,
      protocol: t.protocol as Protocol,
    };
  });
  const window = hello.window;
  if (
    window !== undefined &&
    (typeof window !== 'number' ||
      !Number.isInteger(window) ||
      window < LIMITS.minWindow ||
      window > LIMITS.maxWindow)
  )
    fail(`window must be a whole number of bytes from ${LIMITS.minWindow} to ${LIMITS.maxWindow}`);
  let resume: Hello['resume'];
  if (hello.resume !== undefined) {
    const r = (typeof hello.resume === 'object' && hello.resume !== null ? hello.resume : {}) as Record<
      string,
      unknown
    >;
    if (typeof r.tunnel !== 'string' || r.tunnel.length > 100) fail('resume: bad tunnel');
    if (typeof r.secret !== 'string' || r.secret.length > 200) fail('resume: bad secret');
    if (!Array.isArray(r.streams) || r.streams.length > LIMITS.maxStreams) fail('resume: bad streams');
    resume = {
      tunnel: r.tunnel as string,
      secret: r.secret as string,
      streams: (r.streams as unknown[]).map((s) => parseProgress(s, fail)),
    };
  }
  return {
    version: 1,
    targets,
    ...(window !== undefined ? { window: window as number } : {}),
    ...(resume ? { resume } : {}),
  };
}

export function parseProgress(value: unknown, fail: (what: string) => never): StreamProgress {
  const s = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!count(s.id) || (s.id as number) === 0 || (s.id as number) > 0xffffffff) fail('resume: bad stream id');
  if (!count(s.received) || !count(s.limit) || typeof s.finReceived !== 'boolean')
    fail('resume: bad stream progress');
  return {
    id: s.id as number,
    received: s.received as number,
    limit: s.limit as number,
    finReceived: s.finReceived,
  };
}
