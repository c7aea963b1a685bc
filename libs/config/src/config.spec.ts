import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, redactedConfig, unknownVariables } from './config';
import { SETTINGS_BEGIN, SETTINGS_END, renderConfigurationDoc, renderSettingsTable } from './settings-doc';

describe('loadConfig', () => {
  it('gives defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.http).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      shutdownGraceMs: 10000,
      trustedProxies: [],
    });
    expect(config.db).toEqual({ dataDir: '.kgw/pg', connectTimeoutMs: 5000 });
    expect(config.kube.mode).toBe('auto');
    expect(config.demo.enabled).toBe('auto');
  });

  it('reports every problem at once, each naming its variable', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        KGW_HTTP_PORT: 'abc',
        DATABASE_URL: 'nonsense',
        KGW_KUBE_MODE: 'sideways',
        KGW_HTTP_SHUTDOWN_GRACE_MS: '-5',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      'KGW_HTTP_PORT: must be an integer, got "abc"',
      'KGW_HTTP_SHUTDOWN_GRACE_MS: must be ≥ 0, got -5',
      'DATABASE_URL: is not a URL (expected postgres://user:password@host:port/database)',
      'KGW_KUBE_MODE: must be one of auto, kubeconfig, in-cluster, demo, got "sideways"',
    ]);
  });

  it('never echoes a secret value in an error', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/x' })).toThrow(/scheme "mysql:"/);
    try {
      loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/x' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('reads a KGW_CONFIG file, with the environment taking precedence', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kgw-config-'));
    const file = join(dir, 'kgw.yaml');
    writeFileSync(file, 'http:\n  port: 9000\n  host: 0.0.0.0\n  trustedProxies: [10.0.0.1, 10.0.0.2]\n');
    const config = loadConfig({ KGW_CONFIG: file, KGW_HTTP_PORT: '9100' });
    expect(config.http.port).toBe(9100);
    expect(config.http.host).toBe('0.0.0.0');
    expect(config.http.trustedProxies).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('rejects unknown keys and unreadable files in KGW_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kgw-config-'));
    const file = join(dir, 'kgw.yaml');
    writeFileSync(file, 'http:\n  prot: 9000\n');
    expect(() => loadConfig({ KGW_CONFIG: file })).toThrow(/unknown setting "http.prot"/);
    expect(() => loadConfig({ KGW_CONFIG: join(dir, 'missing.yaml') })).toThrow(/KGW_CONFIG: cannot read/);
  });

  it('requires a kubeconfig path in kubeconfig mode', () => {
    expect(() => loadConfig({ KGW_KUBE_MODE: 'kubeconfig' })).toThrow(/KGW_KUBECONFIG: required/);
  });

  it('takes a worker count (0 = per CPU) but refuses several workers with the in-process dev OpenID provider', () => {
    expect(loadConfig({}).http.workers).toBe(1);
    expect(loadConfig({ KGW_HTTP_WORKERS: '0' }).http.workers).toBe(0);
    expect(() => loadConfig({ KGW_HTTP_WORKERS: '-1' })).toThrow(/KGW_HTTP_WORKERS/);
    expect(() => loadConfig({ KGW_HTTP_WORKERS: '2', KGW_DEV_OIDC: 'true' })).toThrow(
      /KGW_HTTP_WORKERS: the development OpenID provider/,
    );
    // The primary marks its workers; that is not a setting and must not be warned about.
    expect(unknownVariables({ KGW_WORKER_SLOT: '1', KGW_TYPO: 'x' })).toEqual(['KGW_TYPO']);
  });

  it('limits the instance name to 253 characters (it travels in every audit notice to the other replicas)', () => {
    expect(loadConfig({ POD_NAME: 'k'.repeat(253) }).audit.instance).toHaveLength(253);
    expect(() => loadConfig({ POD_NAME: 'k'.repeat(254) })).toThrow(
      /POD_NAME: must be at most 253 characters/,
    );
  });

  it('reads the Downward API description of its pod', () => {
    const config = loadConfig({ POD_NAMESPACE: 'kgw-system', POD_IP: '10.0.0.7', NODE_NAME: 'node-1' });
    expect(config.pod).toEqual({ namespace: 'kgw-system', ip: '10.0.0.7', node: 'node-1' });
  });

  it.each([
    ['content.example.com', /is not a URL/],
    ['http://content.example.com', /must be https/],
    ['https://content.example.com/apps', /origin only/],
    ['https://kgw.example.com:8443', /host name other than KGW_HTTP_PUBLIC_URL/],
  ])(
    'refuses KGW_PROXY_CONTENT_ORIGIN=%s (the gateway cookie would reach it, or it is no origin)',
    (origin, problem) => {
      expect(() =>
        loadConfig({ KGW_PROXY_CONTENT_ORIGIN: origin, KGW_HTTP_PUBLIC_URL: 'https://kgw.example.com' }),
      ).toThrow(problem);
    },
  );

  it('takes a content origin on a host of its own (http only on loopback)', () => {
    for (const origin of ['https://kgw-content.example.com', 'http://localhost:8080'])
      expect(loadConfig({ KGW_PROXY_CONTENT_ORIGIN: origin }).http.proxyContentOrigin).toBe(origin);
  });

  it('hides secrets when the config is logged', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u:s3cret@db:5432/kgw' });
    expect(JSON.stringify(redactedConfig(config))).not.toContain('s3cret');
  });
});

describe('docs/configuration.md', () => {
  const docPath = join(__dirname, '../../../docs/configuration.md');

  it('is exactly what the generator makes of it: one settings table, every setting, nothing stale', () => {
    const doc = readFileSync(docPath, 'utf8');
    // The whole document, not toContain: a second (stale) table or a glued line would pass that.
    expect(renderConfigurationDoc(doc)).toBe(doc);
    expect(doc.split(renderSettingsTable()).length).toBe(2);
  });

  it('rewrites only its marked region, however the old table was formatted', () => {
    const padded = '| Variable   | File key |\n| ---------- | -------- |\n| `KGW_OLD`  | `old`    |';
    const doc = `# Configuration\n\nIntro.\n\n${SETTINGS_BEGIN}\n\n${padded}\n\n${SETTINGS_END}\n\n## Notes\n`;
    const once = renderConfigurationDoc(doc);
    expect(once).toBe(
      `# Configuration\n\nIntro.\n\n${SETTINGS_BEGIN}\n\n${renderSettingsTable()}\n\n${SETTINGS_END}\n\n## Notes\n`,
    );
    expect(renderConfigurationDoc(once)).toBe(once);
  });

  it.each([
    ['no markers', '# Configuration\n\n| Variable | File key |\n', /not marked/],
    [
      'markers twice',
      `${SETTINGS_BEGIN}\n${SETTINGS_END}\n${SETTINGS_BEGIN}\n${SETTINGS_END}\n`,
      /more than once/,
    ],
    [
      'a stale table outside',
      `${SETTINGS_BEGIN}\n${SETTINGS_END}\n\n| Variable | File key |\n|---|---|\n`,
      /outside/,
    ],
  ])('refuses a document with %s', (_name, doc, message) => {
    expect(() => renderConfigurationDoc(doc)).toThrow(message);
  });
});
