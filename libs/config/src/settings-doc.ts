import { SETTINGS, type Setting } from './settings';

/** The settings table of docs/configuration.md, rendered from SETTINGS (a test keeps the doc in step). */
export function renderSettingsTable(): string {
  const rows = (SETTINGS as readonly Setting[]).map((s) => {
    const values = s.values ? ` One of: ${s.values.map((v) => `\`${v}\``).join(', ')}.` : '';
    const def = s.default === undefined ? '(unset)' : s.default === '' ? '(empty)' : `\`${s.default}\``;
    return `| \`${s.env}\` | \`${s.path}\` | ${s.type}${s.secret ? ', secret' : ''} | ${def} | ${s.doc}${values} |`;
  });
  return ['| Variable | File key | Type | Default | Meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

export const SETTINGS_BEGIN =
  '<!-- settings:begin (generated from libs/config/src/settings.ts by `npm run docs:config`; edit there) -->';
export const SETTINGS_END = '<!-- settings:end -->';

/**
 * docs/configuration.md with its marked settings region rewritten from SETTINGS; everything outside
 * the markers is kept byte for byte. The markers, not the table's text, find the region: a table
 * header reformatted by an editor (column padding) must not make the generator append a second table.
 * Refuses a document whose markers are missing or repeated, or that holds a settings table outside
 * them (a stale copy that readers would take for the real one).
 */
export function renderConfigurationDoc(doc: string): string {
  const begin = doc.indexOf(SETTINGS_BEGIN);
  const end = doc.indexOf(SETTINGS_END);
  if (begin < 0 || end < begin)
    throw new Error(`the settings region is not marked: put ${SETTINGS_BEGIN} and ${SETTINGS_END} around it`);
  if (doc.indexOf(SETTINGS_BEGIN, begin + 1) >= 0 || doc.indexOf(SETTINGS_END, end + 1) >= 0)
    throw new Error('the settings region is marked more than once');
  const before = doc.slice(0, begin);
  const after = doc.slice(end + SETTINGS_END.length);
  const strayTable = /^\|\s*Variable\s*\|/m;
  if (strayTable.test(before) || strayTable.test(after))
    throw new Error(
      'a settings table stands outside the marked region; delete it (the region is the only table)',
    );
  return `${before}${SETTINGS_BEGIN}\n\n${renderSettingsTable()}\n\n${SETTINGS_END}${after}`;
}
