import {
  ContainerLog,
  formatRfc3339Nano,
  parsePodLogOptions,
  parseRfc3339Ns,
  selectLogEntries,
} from './pod-logs';
import { KubeStatusError } from './kube-status';

describe('parsePodLogOptions', () => {
  it('reads every PodLogOptions parameter', () => {
    const options = parsePodLogOptions(
      new URLSearchParams(
        'container=nginx&follow=true&previous=false&timestamps=1&tailLines=10&limitBytes=100&sinceTime=2024-01-02T03:04:05.5Z',
      ),
    );
    expect(options).toEqual({
      container: 'nginx',
      follow: true,
      previous: false,
      timestamps: true,
      sinceSeconds: undefined,
      sinceTimeNs: parseRfc3339Ns('2024-01-02T03:04:05.500000000Z'),
      tailLines: 10,
      limitBytes: 100,
    });
  });

  it.each([
    ['follow=maybe', true],
    ['follow=', true],
    ['follow=FALSE', false],
    ['follow=fal\u017fe', false],
    ['follow=0', false],
    ['follow=no', true],
    ['', false],
  ])('converts %s like the API server (Convert_Slice_string_To_bool): follow %s', (query, follow) => {
    expect(parsePodLogOptions(new URLSearchParams(query)).follow).toBe(follow);
  });

  it.each([
    // ValidatePodLogOptions (pkg/apis/core/validation): 422, every invalid field in its order.
    [
      'sinceSeconds=5&sinceTime=2024-01-02T03:04:05Z',
      422,
      'PodLogOptions "nginx" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified',
    ],
    ['sinceSeconds=0', 422, 'PodLogOptions "nginx" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'],
    ['tailLines=-1', 422, 'tailLines: Invalid value: -1: must be greater than or equal to 0'],
    [
      'tailLines=-1&limitBytes=0',
      422,
      'is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0]',
    ],
    // The parameter codec's conversion (strconv.ParseInt, no trimming): 400 with Go's error.
    ['limitBytes=abc', 400, 'strconv.ParseInt: parsing "abc": invalid syntax'],
    ['tailLines=', 400, 'strconv.ParseInt: parsing "": invalid syntax'],
    ['tailLines=%201', 400, 'strconv.ParseInt: parsing " 1": invalid syntax'],
    ['tailLines=9223372036854775808', 400, 'value out of range'],
    ['sinceTime=yesterday', 400, 'sinceTime: Invalid value: "yesterday"'],
  ])('refuses %s with %d', (query, code, message) => {
    let error: unknown;
    try {
      parsePodLogOptions(new URLSearchParams(query), 'nginx');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(KubeStatusError);
    expect((error as KubeStatusError).code).toBe(code);
    expect((error as KubeStatusError).message).toContain(message);
  });
});

describe('log selection', () => {
  const log = new ContainerLog();
  const base = Date.parse('2024-01-02T03:04:00Z');
  for (let i = 0; i < 5; i++) log.append(`line ${i}`, new Date(base + i * 1000));

  it('applies sinceTime, sinceSeconds and tailLines', () => {
    const all = log.snapshot();
    expect(
      selectLogEntries(all, parsePodLogOptions(new URLSearchParams('tailLines=2'))).map((e) => e.line),
    ).toEqual(['line 3\n', 'line 4\n']);
    expect(
      selectLogEntries(all, parsePodLogOptions(new URLSearchParams('sinceTime=2024-01-02T03:04:03Z'))).map(
        (e) => e.line,
      ),
    ).toEqual(['line 3\n', 'line 4\n']);
    expect(
      selectLogEntries(all, parsePodLogOptions(new URLSearchParams('sinceSeconds=2')), base + 4500),
    ).toHaveLength(2);
    expect(selectLogEntries(all, parsePodLogOptions(new URLSearchParams('tailLines=0')))).toEqual([]);
  });

  it('formats timestamps with nine fraction digits', () => {
    expect(formatRfc3339Nano(parseRfc3339Ns('2024-01-02T03:04:05.000000042Z')!)).toBe(
      '2024-01-02T03:04:05.000000042Z',
    );
  });

  it('tells followers when the container stops', () => {
    const seen: string[] = [];
    let ended = false;
    const live = new ContainerLog();
    live.follow(
      (entry) => seen.push(entry.line),
      () => (ended = true),
    );
    live.append('a\nb');
    live.end();
    expect(seen).toEqual(['a\n', 'b\n']);
    expect(ended).toBe(true);
  });
});
