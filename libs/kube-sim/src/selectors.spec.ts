import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
} from './selectors';

describe('label selectors', () => {
  const labels = { app: 'nginx', tier: 'web', version: '3' };
  it.each([
    ['app=nginx', true],
    ['app==nginx', true],
    ['app!=nginx', false],
    ['app', true],
    ['!app', false],
    ['!missing', true],
    ['app in (nginx, apache)', true],
    ['app notin (nginx)', false],
    ['missing notin (x)', true],
    ['app=nginx,tier=db', false],
    ['version>2', true],
    ['version<2', false],
    ['', true],
  ])('%s matches: %s', (selector, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it.each(['a b', 'app in nginx', 'app=(x)', '=x', 'app in ()', 'bad key!=x', 'app=in-valid-', 'x>abc'])(
    'rejects %s',
    (selector) => {
      expect(() => parseLabelSelector(selector)).toThrow(SelectorParseError);
    },
  );

  it('words a stray token like labels.Parse', () => {
    expect(() => parseLabelSelector('a b')).toThrow("found 'b', expected: in, notin, =, ==, !=, gt, lt");
  });
});

describe('field selectors', () => {
  const values: Record<string, string> = {
    'metadata.name': 'nginx',
    'status.phase': 'Running',
    'spec.nodeName': '',
  };
  const get = (f: string): string => values[f] ?? '';
  it.each([
    ['metadata.name=nginx', true],
    ['metadata.name==nginx', true],
    ['metadata.name!=nginx', false],
    ['status.phase=Running,spec.nodeName=', true],
    ['status.phase=Pending', false],
  ])('%s matches: %s', (selector, expected) => {
    expect(matchesFields(parseFieldSelector(selector), get)).toBe(expected);
  });

  it('keeps escaped separators in values', () => {
    expect(parseFieldSelector('metadata.name=a\\,b')).toEqual([
      { field: 'metadata.name', operator: '=', value: 'a,b' },
    ]);
  });

  it('refuses a term without an operator, worded like fields.ParseSelector', () => {
    expect(() => parseFieldSelector('foo')).toThrow("invalid selector: 'foo'; can't understand 'foo'");
  });
});
