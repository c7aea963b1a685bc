// Go's text conventions that show up in Kubernetes wire messages. The API server builds its error
// messages with fmt's %q and writes them with encoding/json; kubectl users and tests compare those
// strings byte for byte, so we reproduce the two Go behaviours that differ from JavaScript's.

// strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const NOT_GO_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/** Quotes a string the way Go's `%q` (strconv.Quote) does for valid UTF-8 input. */
export function goQuote(value: string): string {
  let quoted = '"';
  for (const character of value) {
    const codePoint = character.codePointAt(0) ?? 0;
    switch (character) {
      case '"':
        quoted += '\\"';
        continue;
      case '\\':
        quoted += '\\\\';
        continue;
      case '\x07':
        quoted += '\\a';
        continue;
      case '\b':
        quoted += '\\b';
        continue;
      case '\f':
        quoted += '\\f';
        continue;
      case '\n':
        quoted += '\\n';
        continue;
      case '\r':
        quoted += '\\r';
        continue;
      case '\t':
        quoted += '\\t';
        continue;
      case '\v':
        quoted += '\\v';
        continue;
      default:
        break;
    }
    if (!NOT_GO_PRINTABLE.test(character)) {
      quoted += character;
    } else if (codePoint < 0x20 || codePoint === 0x7f) {
      quoted += `\\x${codePoint.toString(16).padStart(2, '0')}`;
    } else if (codePoint >= 0xd800 && codePoint <= 0xdfff) {
      // A lone surrogate is invalid UTF-8 to Go, which prints the replacement rune's escape.
      quoted += '\\ufffd';
    } else if (codePoint < 0x10000) {
      quoted += `\\u${codePoint.toString(16).padStart(4, '0')}`;
    } else {
      quoted += `\\U${codePoint.toString(16).padStart(8, '0')}`;
    }
  }
  return `${quoted}"`;
}

/**
 * JSON as Go's encoding/json Encoder writes it: HTML-significant characters and the JavaScript line
 * separators escaped, and a trailing newline. Key order is the caller's insertion order, so build
 * objects in Go's struct field order.
 */
export function goJsonEncode(value: unknown): string {
  const json = JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (character) => {
    return `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
  });
  return `${json}\n`;
}
