// Loads scenario manifests (multi-document YAML) from libs/kube-sim/scenario/<name>/.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './contract';

export interface ScenarioUser {
  /** Key in userTokens and the kubeconfig file name. */
  name: string;
  username?: string;
  groups?: string[];
  /** `namespace/name` of the service account this user authenticates as. */
  serviceAccount?: string;
  /** The kubeconfig context's default namespace. */
  namespace?: string;
}

export interface Scenario {
  objects: KubeObject[];
  users: ScenarioUser[];
}

export const SIM_USER_API_VERSION = 'kube-sim.kgw.io/v1';

/** Finds libs/kube-sim/scenario from the source tree or from dist/ (both sit under the repo root). */
export function findScenarioRoot(start = __dirname): string {
  let dir = resolve(start);
  for (;;) {
    for (const candidate of [join(dir, 'libs', 'kube-sim', 'scenario'), join(dir, 'scenario')]) {
      if (existsSync(join(candidate, 'demo'))) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const fromCwd = join(process.cwd(), 'libs', 'kube-sim', 'scenario');
  if (existsSync(fromCwd)) return fromCwd;
  throw new Error(`kube-sim: cannot find the scenario directory (looked upwards from ${start})`);
}

export function parseManifests(text: string, source: string): Scenario {
  const objects: KubeObject[] = [];
  const users: ScenarioUser[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0].message}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    const obj = value as KubeObject & { spec?: Record<string, unknown> };
    if (obj.apiVersion === SIM_USER_API_VERSION && obj.kind === 'SimUser') {
      const spec = obj.spec ?? {};
      users.push({
        name: obj.metadata.name,
        username: spec.username as string | undefined,
        groups: spec.groups as string[] | undefined,
        serviceAccount: spec.serviceAccount as string | undefined,
        namespace: spec.namespace as string | undefined,
      });
    } else {
      objects.push(obj);
    }
  }
  return { objects, users };
}

/** `demo` loads every file of scenario/demo; `empty` only its 00-* files (system namespaces, node). */
export function loadScenario(name: 'demo' | 'empty', root = findScenarioRoot()): Scenario {
  const dir = join(root, 'demo');
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .filter((f) => name === 'demo' || f.startsWith('00-'));
  const result: Scenario = { objects: [], users: [] };
  for (const f of files) {
    const part = parseManifests(readFileSync(join(dir, f), 'utf8'), f);
    result.objects.push(...part.objects);
    result.users.push(...part.users);
  }
  return result;
}
