// Builds the one typed config object at boot: defaults, then an optional file named by
// KGW_CONFIG (YAML or JSON, nested like the paths in SETTINGS), then the environment. Every
// problem is collected and reported at once, each naming its variable; secret values are
// never echoed back.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SETTINGS, type Setting } from './settings';

type SettingEntry = (typeof SETTINGS)[number];
type GroupOf<P extends string> = P extends `${infer G}.${string}` ? G : never;
type KeyOf<P extends string> = P extends `${string}.${infer K}` ? K : never;

/** The value a setting parses to (parseSetting): its type, an enum's own values. */
type ValueOf<S extends SettingEntry> = S extends { type: 'int' }
  ? number
  : S extends { type: 'bool' }
    ? boolean
    : S extends { type: 'list' }
      ? string[]
      : S extends { type: 'json' }
        ? unknown
        : S extends { type: 'enum'; values: readonly (infer V)[] }
          ? V
          : string;

/** One group of settings: keys with a default are always set, the others may be absent. */
type ConfigGroup<G extends string> = {
  [
    S in SettingEntry as S extends { default: string }
      ? GroupOf<S['path']> extends G
        ? KeyOf<S['path']>
        : never
      : never
  ]: ValueOf<S>;
} & {
  [
    S in SettingEntry as S extends { default: string }
      ? never
      : GroupOf<S['path']> extends G
        ? KeyOf<S['path']>
        : never
  ]?: ValueOf<S>;
};

/**
 * The typed config, derived from the SETTINGS table (a setting's path is where it lands): a path
 * or type mistyped in code fails to compile. Documentation of each field is in SETTINGS.
 */
export type GatewayConfig = { [G in GroupOf<SettingEntry['path']>]: ConfigGroup<G> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads KGW_CONFIG (if set) and the environment; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): GatewayConfig {
  const problems: string[] = [];
  const fileValues = env.KGW_CONFIG ? readConfigFile(env.KGW_CONFIG, problems) : new Map<string, string>();
  const out: Record<string, Record<string, unknown>> = {};

  for (const setting of SETTINGS as readonly Setting[]) {
    const fromEnv = env[setting.env];
    const raw =
      fromEnv !== undefined && fromEnv !== '' ? fromEnv : (fileValues.get(setting.path) ?? setting.default);
    const source =
      fromEnv !== undefined && fromEnv !== '' ? setting.env : `${setting.path} in ${env.KGW_CONFIG}`;
    const [group, key] = setting.path.split('.') as [string, string];
    out[group] ??= {};
    if (raw === undefined) continue;
    const parsed = parseSetting(setting, raw);
    if (parsed instanceof Problem) {
      problems.push(`${source}: ${parsed.text}`);
    } else {
      out[group][key] = parsed;
    }
  }
  for (const path of fileValues.keys()) {
    if (!SETTINGS.some((s) => s.path === path)) problems.push(`${env.KGW_CONFIG}: unknown setting "${path}"`);
  }

  // Built by walking SETTINGS, the table GatewayConfig is derived from: each path set to what
  // parseSetting returns for its type (ValueOf); TypeScript cannot follow that loop itself.
  const config = out as unknown as GatewayConfig;
  if (Boolean(config.http.tlsCertFile) !== Boolean(config.http.tlsKeyFile)) {
    problems.push(
      `${config.http.tlsCertFile ? 'KGW_HTTP_TLS_KEY_FILE' : 'KGW_HTTP_TLS_CERT_FILE'}: required together with its pair`,
    );
  }
  if (config.http.workers !== 1 && config.oidc.devProvider === 'true') {
    // It listens on its own port and keeps its grants in memory: it can exist only once.
    problems.push(
      'KGW_HTTP_WORKERS: the development OpenID provider (KGW_DEV_OIDC=true) needs a single process (1)',
    );
  }
  if (config.http.proxyContentOrigin) {
    const problem = contentOriginProblem(config.http.proxyContentOrigin, config.http.publicUrl);
    if (problem) problems.push(`KGW_PROXY_CONTENT_ORIGIN: ${problem}`);
  }
  if (config.kube.mode === 'kubeconfig' && !config.kube.kubeconfig) {
    problems.push('KGW_KUBECONFIG: required when KGW_KUBE_MODE=kubeconfig');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

class Problem {
  constructor(readonly text: string) {}
}

/**
 * The content origin must be an origin (no path), HTTPS (plain HTTP only on loopback), and on a
 * host name of its own: cookies are scoped by host, not port, so the gateway's session cookie
 * would reach a content origin on the same host.
 */
function contentOriginProblem(value: string, publicUrl: string | undefined): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL`;
  }
  if (
    url.protocol !== 'https:' &&
    !(url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname))
  )
    return 'must be https:// (http:// only on a loopback name)';
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password)
    return `must be an origin only (scheme://host[:port]), not "${value}"`;
  if (publicUrl) {
    try {
      if (new URL(publicUrl).hostname === url.hostname)
        return "must be on a host name other than KGW_HTTP_PUBLIC_URL's (cookies do not tell ports apart)";
    } catch {
      // KGW_HTTP_PUBLIC_URL's own problem is reported elsewhere.
    }
  }
  return undefined;
}

function parseSetting(setting: Setting, raw: string): unknown {
  const shown = setting.secret ? '(value hidden)' : JSON.stringify(raw);
  switch (setting.type) {
    case 'string':
      // `max` of a string is its length: values that end up in protocol fields with limits.
      if (setting.max !== undefined && raw.length > setting.max)
        return new Problem(`must be at most ${setting.max} characters, got ${raw.length}`);
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) return new Problem(`must be an integer, got ${shown}`);
      const n = Number(raw);
      if (setting.min !== undefined && n < setting.min)
        return new Problem(`must be ≥ ${setting.min}, got ${n}`);
      if (setting.max !== undefined && n > setting.max)
        return new Problem(`must be ≤ ${setting.max}, got ${n}`);
      return n;
    }
    case 'bool':
      if (['true', '1', 'yes'].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      return new Problem(`must be true or false, got ${shown}`);
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'enum':
      return setting.values?.includes(raw)
        ? raw
        : new Problem(`must be one of ${setting.values?.join(', ')}, got ${shown}`);
    case 'json':
      try {
        return JSON.parse(raw) as unknown;
      } catch (err) {
        return new Problem(`must be JSON: ${setting.secret ? 'invalid' : (err as Error).message}`);
      }
    case 'postgres-url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return new Problem('is not a URL (expected postgres://user:password@host:port/database)');
      }
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
        return new Problem(`must be a postgres:// or postgresql:// URL, got scheme "${url.protocol}"`);
      }
      if (!url.hostname) return new Problem('has no host');
      return raw;
    }
  }
}

/** Flattens a nested YAML/JSON file into dotted paths; values become strings like env values. */
function readConfigFile(file: string, problems: string[]): Map<string, string> {
  const values = new Map<string, string>();
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`KGW_CONFIG: cannot read ${file}: ${(err as Error).message}`);
    return values;
  }
  if (doc === null || doc === undefined) return values;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    problems.push(`KGW_CONFIG: ${file} must hold a mapping of groups (http, db, kube, ...)`);
    return values;
  }
  for (const [group, body] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      problems.push(`${file}: "${group}" must be a mapping`);
      continue;
    }
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      // Lists of plain values read like env lists; structured values (mapping rules) as JSON.
      const structured =
        (typeof value === 'object' && value !== null && !Array.isArray(value)) ||
        (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null));
      values.set(
        `${group}.${key}`,
        structured ? JSON.stringify(value) : Array.isArray(value) ? value.join(',') : String(value),
      );
    }
  }
  return values;
}

/** KGW_* variables that are not settings (typos, removed settings): worth a warning at boot. */
export function unknownVariables(env: Env = process.env): string[] {
  // KGW_WORKER_SLOT is not a setting: the primary sets it for each worker it forks.
  const known = new Set<string>([...SETTINGS.map((s) => s.env), 'KGW_CONFIG', 'KGW_WORKER_SLOT']);
  return Object.keys(env)
    .filter((name) => name.startsWith('KGW_') && !known.has(name))
    .sort();
}

/** The config with secrets replaced, safe to log. */
export function redactedConfig(config: GatewayConfig): unknown {
  const copy = JSON.parse(JSON.stringify(config)) as Record<string, Record<string, unknown>>;
  for (const setting of SETTINGS as readonly Setting[]) {
    if (!setting.secret) continue;
    const [group, key] = setting.path.split('.') as [string, string];
    if (copy[group]?.[key] !== undefined) copy[group][key] = '(hidden)';
  }
  return copy;
}
