// Label and field selectors with the grammar of apimachinery's labels.Parse and fields.ParseSelector.

export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export class SelectorParseError extends Error {}

const SPECIAL = new Set([' ', '\t', '\n', '\r', ',', '=', '!', '(', ')', '<', '>']);

type Token = { kind: 'ident' | 'op' | 'comma' | 'open' | 'close' | 'end'; text: string };

function lex(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === ',') {
      tokens.push({ kind: 'comma', text: ',' });
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'open', text: '(' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'close', text: ')' });
      i++;
    } else if (c === '=' || c === '!' || c === '<' || c === '>') {
      const two = input.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        tokens.push({ kind: 'op', text: two });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: c });
        i++;
      }
    } else {
      let j = i;
      while (j < input.length && !SPECIAL.has(input[j])) j++;
      const word = input.slice(i, j);
      tokens.push({ kind: word === 'in' || word === 'notin' ? 'op' : 'ident', text: word });
      i = j;
    }
  }
  tokens.push({ kind: 'end', text: '' });
  return tokens;
}

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validateKey(key: string): void {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  if (slash >= 0 && (!DNS_SUBDOMAIN_RE.test(prefix) || prefix.length > 253)) {
    throw new SelectorParseError(
      `key: Invalid value: "${key}": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    );
  }
  if (!NAME_RE.test(name) || name.length > 63) {
    throw new SelectorParseError(
      `key: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
    );
  }
}

function validateValue(value: string): void {
  if (value !== '' && (!NAME_RE.test(value) || value.length > 63)) {
    throw new SelectorParseError(
      `values[0][value]: Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    );
  }
}

export function parseLabelSelector(input: string): LabelRequirement[] {
  const tokens = lex(input);
  let pos = 0;
  const peek = (): Token => tokens[pos];
  const next = (): Token => tokens[pos++];
  const requirements: LabelRequirement[] = [];
  if (peek().kind === 'end') return requirements;
  for (;;) {
    let t = next();
    let negated = false;
    if (t.kind === 'op' && t.text === '!') {
      negated = true;
      t = next();
    }
    if (t.kind !== 'ident')
      throw new SelectorParseError(`found '${t.text}', expected: !, identifier, or 'end of string'`);
    const key = t.text;
    validateKey(key);
    const after = peek();
    if (negated) {
      requirements.push({ key, operator: '!', values: [] });
    } else if (after.kind === 'comma' || after.kind === 'end') {
      requirements.push({ key, operator: 'exists', values: [] });
    } else if (after.kind === 'op') {
      next();
      if (after.text === 'in' || after.text === 'notin') {
        const open = next();
        if (open.kind !== 'open') throw new SelectorParseError(`found '${open.text}', expected: '('`);
        const values: string[] = [];
        for (;;) {
          const v = next();
          if (v.kind === 'ident') {
            validateValue(v.text);
            values.push(v.text);
            const sep = next();
            if (sep.kind === 'close') break;
            if (sep.kind !== 'comma')
              throw new SelectorParseError(`found '${sep.text}', expected: ',' or ')'`);
          } else if (v.kind === 'close' && values.length === 0) {
            break;
          } else {
            throw new SelectorParseError(`found '${v.text}', expected: ',', ')' or identifier`);
          }
        }
        if (values.length === 0)
          throw new SelectorParseError(
            `values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty`,
          );
        requirements.push({ key, operator: after.text, values });
      } else {
        const op: LabelOperator =
          after.text === '=' || after.text === '=='
            ? '='
            : after.text === '!='
              ? '!='
              : after.text === '>'
                ? 'gt'
                : after.text === '<'
                  ? 'lt'
                  : 'exists';
        if (op === 'exists')
          throw new SelectorParseError(`found '${after.text}', expected: in, notin, =, ==, !=, gt, lt`);
        const v = peek();
        let value = '';
        if (v.kind === 'ident') {
          value = next().text;
        } else if (v.kind !== 'comma' && v.kind !== 'end') {
          throw new SelectorParseError(`found '${v.text}', expected: identifier`);
        }
        if ((op === 'gt' || op === 'lt') && !/^-?\d+$/.test(value)) {
          throw new SelectorParseError(
            `values[0]: Invalid value: "${value}": for 'Gt', 'Lt' operators, the value must be an integer`,
          );
        }
        validateValue(value);
        requirements.push({ key, operator: op, values: [value] });
      }
    } else {
      throw new SelectorParseError(`found '${after.text}', expected: in, notin, =, ==, !=, gt, lt`);
    }
    const sep = next();
    if (sep.kind === 'end') break;
    if (sep.kind !== 'comma')
      throw new SelectorParseError(`found '${sep.text}', expected: ',' or 'end of string'`);
  }
  return requirements;
}

export function matchesLabels(
  requirements: LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  const set = labels ?? {};
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(set, r.key);
    const value = set[r.key];
    switch (r.operator) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case '=':
        return has && value === r.values[0];
      case '!=':
        return !has || value !== r.values[0];
      case 'in':
        return has && r.values.includes(value);
      case 'notin':
        return !has || !r.values.includes(value);
      case 'gt':
        return has && /^-?\d+$/.test(value) && Number(value) > Number(r.values[0]);
      case 'lt':
        return has && /^-?\d+$/.test(value) && Number(value) < Number(r.values[0]);
    }
  });
}

/** A `matchLabels`/`matchExpressions` LabelSelector from an object spec. */
export interface ObjectLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export function matchesObjectSelector(
  selector: ObjectLabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return false;
  const reqs: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    reqs.push({ key, operator: '=', values: [value] });
  for (const e of selector.matchExpressions ?? []) {
    const op: LabelOperator =
      e.operator === 'In'
        ? 'in'
        : e.operator === 'NotIn'
          ? 'notin'
          : e.operator === 'Exists'
            ? 'exists'
            : '!';
    reqs.push({ key: e.key, operator: op, values: e.values ?? [] });
  }
  if (reqs.length === 0) return true;
  return matchesLabels(reqs, labels);
}

export function formatObjectSelector(selector: ObjectLabelSelector | undefined): string {
  if (!selector) return '<none>';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${(e.values ?? []).join(',')})`);
  }
  return parts.length ? parts.sort().join(',') : '<none>';
}

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

/** fields.ParseSelector: `a=b,c!=d`, with `\` escaping `,`, `=` and `!`. */
export function parseFieldSelector(input: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  if (input.trim() === '') return out;
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === '\\' && i + 1 < input.length) {
      current += c + input[i + 1];
      i++;
    } else if (c === ',') {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  for (const part of parts) {
    const m = /^(.*?[^\\])?(!=|==|=)(.*)$/.exec(part);
    if (!m || m[1] === undefined)
      throw new SelectorParseError(`invalid selector: '${input}'; can't understand '${part}'`);
    const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');
    out.push({ field: unescape(m[1]), operator: m[2] === '!=' ? '!=' : '=', value: unescape(m[3]) });
  }
  return out;
}

export function matchesFields(requirements: FieldRequirement[], fields: (name: string) => string): boolean {
  return requirements.every((r) =>
    r.operator === '=' ? fields(r.field) === r.value : fields(r.field) !== r.value,
  );
}
