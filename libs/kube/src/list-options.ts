// The slice of apimachinery's ListOptions decoding that RequestInfo depends on: whether a collection
// GET is a watch, and whether a `metadata.name=` field selector names one object. The API server
// decodes all ListOptions at once and, if any parameter fails to decode, keeps only `watch` and drops
// the name; we follow that so the gateway never names an object the API server would not.

/**
 * Go's Convert_Slice_string_To_bool on the first value (the parameter codec): anything but "0"
 * or "false" in any letter case is true — strings.EqualFold, whose simple folding also takes
 * `ſ` (U+017F) for `s`, so `falſe` is false too.
 */
export function queryFlag(values: readonly string[] | undefined): boolean {
  if (values === undefined || values.length === 0) return false;
  const first = values[0];
  return !(first === '0' || equalFoldFalse(first));
}

/**
 * The `watch` flag where requestinfo.go falls back after ListOptions fail to decode: it lowers
 * the first value with strings.ToLower (no folding: `falſe` stays true) and compares.
 */
export function watchFlagAfterDecodeError(values: readonly string[] | undefined): boolean {
  if (values === undefined || values.length === 0) return false;
  const lowered = values[0].toLowerCase();
  return !(lowered === 'false' || lowered === '0');
}

function equalFoldFalse(value: string): boolean {
  const runes = [...value];
  return (
    runes.length === 5 &&
    runes.every(
      (rune, i) =>
        (rune === '\u017f' ? 's' : rune.length === 1 && rune < '\u0080' ? rune.toLowerCase() : '') ===
        'false'[i],
    )
  );
}

interface FieldTerm {
  readonly field: string;
  readonly exact: boolean;
  readonly value: string;
}

/**
 * apimachinery fields.ParseSelector: terms split on unescaped `,`, sorted, each split at the first
 * `!=`, `==` or `=`; values unescape `\\`, `\,`, `\=` and must not hold a bare `,` or `=`.
 * Returns undefined where Go returns an error.
 */
export function parseFieldSelector(selector: string): FieldTerm[] | undefined {
  const terms = splitUnescaped(selector).sort(compareGoStrings);
  const parsed: FieldTerm[] = [];
  for (const term of terms) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (split === undefined) return undefined;
    const value = unescapeFieldValue(split.rhs);
    if (value === undefined) return undefined;
    parsed.push({ field: split.lhs, exact: split.operator !== '!=', value });
  }
  return parsed;
}

/** fields.Selector.RequiresExactMatch: the first (sorted) equality term on the field. */
export function exactFieldMatch(terms: readonly FieldTerm[], field: string): string | undefined {
  return terms.find((term) => term.exact && term.field === field)?.value;
}

/** apimachinery path.IsValidPathSegmentName. */
export function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * Whether the API server's ListOptions decoding would succeed on this query. Exact for the integer
 * fields and the field selector; the label selector check is a lexical approximation of
 * labels.Parse (allowed characters and balanced parentheses).
 */
export function listOptionsDecode(query: ReadonlyMap<string, readonly string[]>): boolean {
  for (const integerField of ['limit', 'timeoutSeconds']) {
    const first = query.get(integerField)?.[0];
    if (first === undefined) continue;
    const trimmed = first.trim();
    if (trimmed !== '' && !isGoInt64(trimmed)) return false;
  }
  const fieldSelector = query.get('fieldSelector')?.[0];
  if (fieldSelector !== undefined && parseFieldSelector(fieldSelector) === undefined) return false;
  const labelSelector = query.get('labelSelector')?.[0];
  if (labelSelector !== undefined && !looksLikeLabelSelector(labelSelector)) return false;
  return true;
}

function isGoInt64(text: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(text)) return false;
  const value = BigInt(text);
  return value >= -(2n ** 63n) && value < 2n ** 63n;
}

function looksLikeLabelSelector(selector: string): boolean {
  if (!/^[A-Za-z0-9\-_./=!,() ]*$/.test(selector)) return false;
  let depth = 0;
  for (const character of selector) {
    if (character === '(') depth++;
    if (character === ')') depth--;
    if (depth < 0 || depth > 1) return false;
  }
  return depth === 0;
}

function splitUnescaped(selector: string): string[] {
  if (selector === '') return [];
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let index = 0; index < selector.length; index++) {
    const character = selector[index];
    if (escaped) {
      escaped = false;
    } else if (character === '\\') {
      escaped = true;
    } else if (character === ',') {
      terms.push(selector.slice(start, index));
      start = index + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

function splitTerm(term: string): { lhs: string; operator: string; rhs: string } | undefined {
  // The left side has no escaping: the first operator found, scanning left to right, splits.
  for (let index = 0; index < term.length; index++) {
    for (const operator of ['!=', '==', '=']) {
      if (term.startsWith(operator, index)) {
        return { lhs: term.slice(0, index), operator, rhs: term.slice(index + operator.length) };
      }
    }
  }
  return undefined;
}

function unescapeFieldValue(raw: string): string | undefined {
  let value = '';
  let escaped = false;
  for (const character of raw) {
    if (escaped) {
      if (character !== '\\' && character !== ',' && character !== '=') return undefined;
      value += character;
      escaped = false;
    } else if (character === '\\') {
      escaped = true;
    } else if (character === ',' || character === '=') {
      return undefined;
    } else {
      value += character;
    }
  }
  return escaped ? undefined : value;
}

/** Go sorts strings by their UTF-8 bytes, which differs from JavaScript's UTF-16 order. */
function compareGoStrings(left: string, right: string): number {
  const leftBytes = Buffer.from(left, 'utf8');
  const rightBytes = Buffer.from(right, 'utf8');
  return Buffer.compare(leftBytes, rightBytes);
}
