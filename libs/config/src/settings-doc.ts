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
