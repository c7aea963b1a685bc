// Container log buffers and `GET …/pods/<p>/log`, with the PodLogOptions the kubelet honours.
import type { ServerResponse } from 'node:http';
import { isTrueParam } from '../request-info';
import { badRequest, KubeStatusError } from './kube-status';

export interface LogEntry {
  /** Epoch nanoseconds as a bigint: sinceTime compares at full precision, timestamps print 9 digits. */
  timeNs: bigint;
  /** One line including its trailing newline. */
  line: string;
}

/** Keeps the most recent lines of one container instance; the oldest go first past the cap. */
export class ContainerLog {
  private readonly entries: LogEntry[] = [];
  private readonly followers = new Set<(entry: LogEntry) => void>();
  private readonly enders = new Set<() => void>();
  private lastNs = 0n;
  private ended = false;

  constructor(private readonly maxEntries = 10_000) {}

  append(text: string, at: Date = new Date()): void {
    for (const piece of text.split('\n')) {
      if (piece === '') continue;
      // Strictly increasing stamps keep sinceTime and ordering exact when lines share a millisecond.
      let timeNs = BigInt(at.getTime()) * 1_000_000n;
      if (timeNs <= this.lastNs) timeNs = this.lastNs + 1n;
      this.lastNs = timeNs;
      const entry = { timeNs, line: `${piece}\n` };
      this.entries.push(entry);
      if (this.entries.length > this.maxEntries) this.entries.shift();
      for (const follower of this.followers) follower(entry);
    }
  }

  snapshot(): readonly LogEntry[] {
    return this.entries;
  }

  /** Follows new lines until the container stops (onEnd) or the returned function is called. */
  follow(listener: (entry: LogEntry) => void, onEnd: () => void = () => undefined): () => void {
    if (this.ended) {
      onEnd();
      return () => undefined;
    }
    this.followers.add(listener);
    this.enders.add(onEnd);
    return () => {
      this.followers.delete(listener);
      this.enders.delete(onEnd);
    };
  }

  /** The container stopped: followers see the end of the log, as with a real kubelet. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.followers.clear();
    const enders = [...this.enders];
    this.enders.clear();
    for (const onEnd of enders) onEnd();
  }
}

export interface PodLogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  sinceTimeNs?: bigint;
  tailLines?: number;
  limitBytes?: number;
}

/**
 * PodLogOptions booleans as the API server's parameter codec converts them: never an error;
 * false only for `0` and `false` in any letter case (so `follow=` and `follow=yes` follow).
 */
function parseBool(value: string | null): boolean {
  return isTrueParam(value);
}

/**
 * An int64 query parameter as the parameter codec converts it (apimachinery runtime
 * Convert_Slice_string_To_Pointer_int64 → strconv.ParseInt(s, 10, 64) on the first value, no
 * trimming): a sign is allowed, `` is an error, and so is anything out of int64's range. A
 * conversion error is a 400 whose message is Go's error text.
 */
export function parseGoInt64(value: string): number {
  const quoted = JSON.stringify(value);
  if (!/^[+-]?[0-9]+$/.test(value)) throw badRequest(`strconv.ParseInt: parsing ${quoted}: invalid syntax`);
  const parsed = BigInt(value);
  if (parsed >= 2n ** 63n || parsed < -(2n ** 63n))
    throw badRequest(`strconv.ParseInt: parsing ${quoted}: value out of range`);
  return Number(parsed);
}

/** RFC3339 with optional fraction (up to 9 digits) to epoch nanoseconds. */
export function parseRfc3339Ns(value: string): bigint | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const fraction = (match[2] ?? '').padEnd(9, '0');
  return BigInt(ms) * 1_000_000n + BigInt(fraction);
}

export function formatRfc3339Nano(timeNs: bigint): string {
  const ms = Number(timeNs / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const nanos = (timeNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${nanos}Z`;
}

/**
 * PodLogOptions from the query, in the API server's two steps: the parameter codec's conversion
 * (the first value of each parameter; booleans via Convert_Slice_string_To_bool, integers via
 * ParseInt, sinceTime as RFC 3339) fails with a 400; then ValidatePodLogOptions
 * (pkg/apis/core/validation) collects every invalid field, in its order, into one 422
 * `PodLogOptions "<pod>" is invalid: …` (registry/core/pod/rest/log.go), before the pod is read.
 */
export function parsePodLogOptions(query: URLSearchParams, podName = ''): PodLogOptions {
  const integer = (name: string): number | undefined => {
    const value = query.get(name);
    return value === null ? undefined : parseGoInt64(value);
  };
  const sinceSeconds = integer('sinceSeconds');
  const tailLines = integer('tailLines');
  const limitBytes = integer('limitBytes');
  const sinceTimeRaw = query.get('sinceTime');
  let sinceTimeNs: bigint | undefined;
  // metav1.Time.UnmarshalQueryParameter: `` (and `null`) is the zero time, which filters nothing.
  if (sinceTimeRaw !== null && sinceTimeRaw !== '' && sinceTimeRaw !== 'null') {
    sinceTimeNs = parseRfc3339Ns(sinceTimeRaw);
    if (sinceTimeNs === undefined) {
      throw badRequest(
        `sinceTime: Invalid value: "${sinceTimeRaw}": parsing time "${sinceTimeRaw}" as "2006-01-02T15:04:05Z07:00": cannot parse`,
      );
    }
  }
  const invalid: string[] = [];
  if (tailLines !== undefined && tailLines < 0)
    invalid.push(`tailLines: Invalid value: ${tailLines}: must be greater than or equal to 0`);
  if (limitBytes !== undefined && limitBytes < 1)
    invalid.push(`limitBytes: Invalid value: ${limitBytes}: must be greater than 0`);
  if (sinceSeconds !== undefined && sinceTimeNs !== undefined)
    invalid.push(': Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  else if (sinceSeconds !== undefined && sinceSeconds < 1)
    invalid.push(`sinceSeconds: Invalid value: ${sinceSeconds}: must be greater than 0`);
  if (invalid.length > 0) {
    // utilerrors.Aggregate: one error as it is, several as [a, b].
    const errors = invalid.length === 1 ? invalid[0] : `[${invalid.join(', ')}]`;
    throw new KubeStatusError(422, `PodLogOptions ${JSON.stringify(podName)} is invalid: ${errors}`);
  }
  return {
    container: query.get('container') ?? undefined,
    follow: parseBool(query.get('follow')),
    previous: parseBool(query.get('previous')),
    timestamps: parseBool(query.get('timestamps')),
    sinceSeconds,
    sinceTimeNs,
    tailLines,
    limitBytes,
  };
}

/** The entries a request selects from a snapshot, before limitBytes. */
export function selectLogEntries(
  entries: readonly LogEntry[],
  options: PodLogOptions,
  nowMs = Date.now(),
): LogEntry[] {
  let since: bigint | undefined = options.sinceTimeNs;
  if (options.sinceSeconds !== undefined) since = BigInt(nowMs - options.sinceSeconds * 1000) * 1_000_000n;
  let selected = since === undefined ? [...entries] : entries.filter((entry) => entry.timeNs >= since);
  if (options.tailLines !== undefined)
    selected = options.tailLines === 0 ? [] : selected.slice(-options.tailLines);
  return selected;
}

export function renderLogEntry(entry: LogEntry, timestamps: boolean): string {
  return timestamps ? `${formatRfc3339Nano(entry.timeNs)} ${entry.line}` : entry.line;
}

/**
 * Streams a log to an HTTP response: the selection, then (with follow) every new line, each
 * written and flushed on its own so `kubectl logs -f` shows it at once. limitBytes cuts the
 * output mid-line, as the kubelet does, and ends even a follow.
 */
export function serveLog(
  res: ServerResponse,
  log: ContainerLog,
  options: PodLogOptions,
  follow: boolean,
): void {
  let remaining = options.limitBytes ?? Number.POSITIVE_INFINITY;
  res.writeHead(200, {
    'Content-Type': 'text/plain',
    'Cache-Control': 'no-cache, private',
  });
  // No length: HTTP/1.1 sends it chunked (Node adds Transfer-Encoding), HTTP/2 as DATA frames.
  res.flushHeaders();
  let finished = false;
  const following: { stop?: () => void } = {};
  const finish = (): void => {
    if (finished) return;
    finished = true;
    following.stop?.();
    res.end();
  };
  const emit = (entry: LogEntry): void => {
    if (finished) return;
    let bytes = Buffer.from(renderLogEntry(entry, options.timestamps));
    if (bytes.length >= remaining) bytes = bytes.subarray(0, remaining);
    remaining -= bytes.length;
    if (bytes.length > 0) res.write(bytes);
    if (remaining <= 0) finish();
  };
  for (const entry of selectLogEntries(log.snapshot(), options)) emit(entry);
  if (!follow || finished) {
    finish();
    return;
  }
  const since = options.sinceTimeNs;
  following.stop = log.follow((entry) => {
    if (since === undefined || entry.timeNs >= since) emit(entry);
  }, finish);
  res.on('close', finish);
}
