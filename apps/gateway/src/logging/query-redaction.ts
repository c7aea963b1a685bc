// Query strings can carry secrets (OAuth codes and states, tokens in `?access_token=`): what the
// request log and the audit record keep of a query has their values replaced.

const SECRET_QUERY_PARAMETERS =
  /^(access_token|token|id_token|refresh_token|code|state|password|secret|client_secret)$/i;

/** The query string with secret-bearing parameters' values replaced. */
export function redactQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = key;
      try {
        decoded = decodeURIComponent(key);
      } catch {
        // keep the raw key
      }
      return SECRET_QUERY_PARAMETERS.test(decoded) ? `${key}=[redacted]` : pair;
    })
    .join('&');
}
