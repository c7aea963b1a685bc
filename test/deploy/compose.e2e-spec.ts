// docker-compose.yml as Docker would read it (Debian's `docker-compose config`, no engine needed),
// held consistent with kgw: every variable it gives kgw is a setting kgw knows and accepts, the
// services start in an order that works, and Dex, the k3s setup and kgw agree on issuer, client,
// callback, users and groups. The Dockerfile is checked statically against the build output.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig, SETTINGS, unknownVariables } from '@kgw/config';

const ROOT = join(__dirname, '../..');
const run = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: Array<{ type: string; source: string; target: string } | string>;
  entrypoint?: string[];
  read_only?: boolean;
}

interface DexConfig {
  issuer: string;
  staticClients: Array<{ id: string; secretEnv?: string; redirectURIs: string[] }>;
  staticPasswords: Array<{ email: string; username: string }>;
}

describe('docker-compose.yml', () => {
  let services: Record<string, ComposeService>;
  let kgwEnv: Record<string, string>;

  beforeAll(async () => {
    // What `docker compose up` would run: interpolated, normalized, validated against the schema.
    const { stdout } = await run(
      'docker-compose',
      ['--project-directory', ROOT, '-f', join(ROOT, 'docker-compose.yml'), 'config'],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
      },
    );
    services = (parseYaml(stdout) as { services: Record<string, ComposeService> }).services;
    kgwEnv = services.kgw.environment ?? {};
  }, 60_000);

  it('runs Postgres, Dex, k3s and kgw built from the Dockerfile', () => {
    expect(Object.keys(services).sort()).toEqual(['certs', 'dex', 'k3s', 'k3s-setup', 'kgw', 'postgres']);
    expect(services.kgw.build).toBeDefined();
    expect(services.dex.image).toMatch(/dex/);
    expect(services.k3s.image).toMatch(/rancher\/k3s:v1\.32\./);
    expect(services.postgres.image).toMatch(/^postgres:/);
  });

  it('gives kgw only settings kgw knows, with values it accepts', () => {
    const known = new Set<string>(SETTINGS.map((s) => s.env));
    expect(Object.keys(kgwEnv).filter((name) => !known.has(name))).toEqual([]);
    expect(unknownVariables(kgwEnv)).toEqual([]);
    // The real validation at boot: types, enums, ranges, identity rules as JSON, pairs.
    const config = loadConfig(kgwEnv);
    expect(config.kube.mode).toBe('kubeconfig');
    expect(config.demo.enabled).toBe('false');
    expect(config.db.url).toMatch(/@postgres:5432\//);
    expect(config.http.tlsCertFile).toBeDefined();
  });

  it('starts each service after what it needs is healthy or done', () => {
    for (const name of ['postgres', 'dex', 'k3s', 'kgw'])
      expect(services[name].healthcheck?.test.length).toBeGreaterThan(1);
    expect(services.kgw.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      dex: { condition: 'service_healthy' },
      'k3s-setup': { condition: 'service_completed_successfully' },
      certs: { condition: 'service_completed_successfully' },
    });
    expect(services['k3s-setup'].depends_on).toEqual({ k3s: { condition: 'service_healthy' } });
    // The health check asks the port and path kgw really serves.
    expect(services.kgw.healthcheck?.test.join(' ')).toContain(`port:${kgwEnv.KGW_HTTP_PORT}`);
    expect(services.kgw.healthcheck?.test.join(' ')).toContain('/kgw/readyz');
    expect(services.kgw.read_only).toBe(true);
  });

  it('mounts files that exist, and kgw reads what the one-shot services write', () => {
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        if (typeof volume !== 'string' && volume.type === 'bind')
          expect(existsSync(volume.source)).toBe(true);
      }
    }
    const mounts = (name: string): Map<string, string> =>
      new Map(
        (services[name].volumes ?? []).flatMap((v) =>
          typeof v === 'string' ? [] : [[v.target, v.source] as const],
        ),
      );
    const kgw = mounts('kgw');
    const kubeconfigVolume = kgw.get('/kubeconfig');
    expect(mounts('k3s-setup').get('/kgw-kubeconfig')).toBe(kubeconfigVolume);
    expect(kgwEnv.KGW_KUBECONFIG).toBe('/kubeconfig/kubeconfig');
    expect(readFileSync(join(ROOT, 'deploy/compose/k3s-setup.sh'), 'utf8')).toContain(
      'out=/kgw-kubeconfig/kubeconfig',
    );
    expect(mounts('certs').get('/certs')).toBe(kgw.get('/certs'));
    // Every manifest the setup script applies exists in the repository.
    const script = readFileSync(join(ROOT, 'deploy/compose/k3s-setup.sh'), 'utf8');
    const applied = [...script.matchAll(/-f (\/deploy\/\S+)/g)].map((m) => m[1]);
    expect(applied).toEqual([
      '/deploy/base/namespace.yaml',
      '/deploy/base/rbac.yaml',
      '/deploy/compose/demo-cluster.yaml',
    ]);
    for (const file of applied) expect(existsSync(join(ROOT, file))).toBe(true);
  });

  it('agrees with Dex on issuer, client, secret, callback and users, and the rules grant real groups', () => {
    const dex = parseYaml(readFileSync(join(ROOT, 'deploy/compose/dex.yaml'), 'utf8')) as DexConfig;
    expect(dex.issuer).toBe(kgwEnv.KGW_OIDC_ISSUER_URL);
    const client = dex.staticClients.find((c) => c.id === kgwEnv.KGW_OIDC_CLIENT_ID);
    expect(client?.redirectURIs).toEqual([`${kgwEnv.KGW_HTTP_PUBLIC_URL}/kgw/auth/callback`]);
    expect(services.dex.environment?.[client!.secretEnv!]).toBe(kgwEnv.KGW_OIDC_CLIENT_SECRET);

    const rules = JSON.parse(kgwEnv.KGW_IDENTITY_RULES) as Array<{
      match: { user: string };
      addGroups?: string[];
      serviceAccount?: string;
    }>;
    expect(rules.map((r) => r.match.user).sort()).toEqual(dex.staticPasswords.map((u) => u.email).sort());
    // Each group a rule adds is bound to something in the cluster setup, and so is the service account.
    const cluster = parseAllDocuments(
      readFileSync(join(ROOT, 'deploy/compose/demo-cluster.yaml'), 'utf8'),
    ).map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string; namespace?: string };
          subjects?: Array<{ kind: string; name: string; namespace?: string }>;
        },
    );
    const subjects = cluster.flatMap((o) => o.subjects ?? []);
    for (const group of rules.flatMap((r) => r.addGroups ?? []))
      expect(subjects).toContainEqual(expect.objectContaining({ kind: 'Group', name: group }));
    for (const sa of rules.flatMap((r) => (r.serviceAccount ? [r.serviceAccount] : []))) {
      const [namespace, name] = sa.split('/');
      expect(cluster).toContainEqual(
        expect.objectContaining({ kind: 'ServiceAccount', metadata: { name, namespace } }),
      );
      expect(subjects).toContainEqual({ kind: 'ServiceAccount', name, namespace });
    }
    expect(kgwEnv.KGW_AUTH_ADMIN_GROUPS.split(',')).toEqual(['kgw:admins']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const finalStage = stages[stages.length - 1];
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };

  it('builds in one stage and runs as a non-root user in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]).toMatch(/RUN node scripts\/build\.mjs && npm prune --omit=dev/);
    const user = /^USER (\S+)$/m.exec(finalStage)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    // The final stage installs nothing: its node_modules is the pruned one from the build stage.
    expect(finalStage).not.toMatch(/npm (ci|install)/);
    expect(finalStage).toContain('COPY --from=build /app/node_modules ./node_modules');
  });

  it('starts the file the build writes, and copies sources that exist', () => {
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(finalStage)![1]) as string[];
    const entry = cmd[cmd.length - 1];
    // `npm run test:e2e` builds before the suites run, as the image's build stage does.
    expect(existsSync(join(ROOT, entry))).toBe(true);
    for (const m of stages[0].matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const source of m[1].split(/\s+/)) expect(existsSync(join(ROOT, source))).toBe(true);
    for (const m of finalStage.matchAll(/^COPY --from=build \/app\/(\S+) \S+$/gm)) {
      const source = m[1];
      // node_modules and dist exist in the build stage; the rest come from the repository.
      if (source !== 'node_modules' && source !== 'dist') expect(existsSync(join(ROOT, source))).toBe(true);
    }
  });

  it('needs no dev dependency at run time: the built gateway requires only production packages', () => {
    const required = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.js'))
          for (const m of readFileSync(path, 'utf8').matchAll(/require\("([^."][^"]*)"\)/g))
            required.add(m[1]);
      }
    };
    for (const dir of ['dist/apps/gateway', 'dist/libs']) walk(join(ROOT, dir));
    const packages = [...required]
      .map((spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]))
      .filter((name) => !name.startsWith('node:') && !builtinModules.includes(name));
    const notProduction = [...new Set(packages)].filter((name) => !(name in pkg.dependencies));
    expect(notProduction).toEqual([]);
    expect(packages.length).toBeGreaterThan(5);
  });
});
