// `npm ci` on a fresh clone must not open with warnings a newcomer has to puzzle over. npm warns
// (EBADENGINE) for every installed package whose `engines` excludes the running Node or npm; so
// every package in the lockfile must accept the oldest Node and npm we declare, and the Node our
// image and CI use must be one we declare.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { minVersion, satisfies, validRange } from 'semver';

const ROOT = join(__dirname, '../..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: Record<string, string> | string[] }>;
};

/** The oldest Node the project declares, and the npm that ships with it (Node 20.19: npm 10.8.2). */
const OLDEST_NODE = minVersion(manifest.engines.node)!.version;
const OLDEST_NPM = '10.8.2';

describe('install', () => {
  it('declares a Node floor', () => {
    expect(validRange(manifest.engines.node)).not.toBeNull();
    expect(OLDEST_NODE).toBe('20.19.0');
  });

  it('installs no package whose engines exclude the Node and npm we declare (no EBADENGINE)', () => {
    const unsupported: string[] = [];
    for (const [path, pkg] of Object.entries(lock.packages)) {
      // npm ignores the array form (long deprecated) and engines it does not know (bun, pnpm).
      if (!path || !pkg.engines || Array.isArray(pkg.engines)) continue;
      const { node, npm } = pkg.engines;
      if (node && !satisfies(OLDEST_NODE, node, { includePrerelease: true }))
        unsupported.push(`${path}@${pkg.version}: node ${node}`);
      if (npm && !satisfies(OLDEST_NPM, npm, { includePrerelease: true }))
        unsupported.push(`${path}@${pkg.version}: npm ${npm}`);
    }
    expect(unsupported).toEqual([]);
  });

  it('builds its image on a Node it declares', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const majors = [...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((m) => m[1]);
    expect(majors.length).toBeGreaterThan(0);
    for (const major of majors) expect(satisfies(`${major}.99.0`, manifest.engines.node)).toBe(true);
  });
});
