#!/usr/bin/env node
// Fails (exit 1) when the TypeScript sources under the given folders import each other in a
// circle: file by file, and folder by folder among the feature folders of each app and lib
// (apps/gateway/src/auth ↔ audit, say). Type-only imports count: a circle of types is still a
// circle a reader has to hold in mind. Run by `npm test` (npm run check:imports).
//
//   node scripts/import-circles.mjs apps libs
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every .ts file under `dir` (declaration files and node_modules excluded). */
function sourceFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    // Specs import what they test and nothing imports them: they cannot close a circle.
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts') && !/\.(e2e-)?spec\.ts$/.test(entry))
      out.push(full);
  }
  return out;
}

/** Comments removed, so an example in a comment is not read as an import. */
function withoutComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function resolveImport(from, specifier) {
  let base;
  const alias = /^@kgw\/([a-z-]+)$/.exec(specifier);
  if (alias) base = path.join(root, 'libs', alias[1], 'src', 'index');
  else if (specifier.startsWith('.')) base = path.resolve(path.dirname(from), specifier);
  else return undefined; // a package
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  const js = base.replace(/\.js$/, '.ts');
  return existsSync(js) ? js : undefined;
}

export function importGraph(folders) {
  const graph = new Map();
  for (const folder of folders) {
    for (const file of sourceFiles(path.resolve(root, folder))) {
      const targets = new Set();
      const text = withoutComments(readFileSync(file, 'utf8'));
      for (const match of text.matchAll(IMPORT)) {
        const specifier = match[1] ?? match[2] ?? match[3] ?? match[4];
        const target = resolveImport(file, specifier);
        if (target && target !== file) targets.add(target);
      }
      graph.set(file, targets);
    }
  }
  return graph;
}

/** Strongly connected components with more than one member (Tarjan), each sorted. */
export function circlesOf(graph) {
  let index = 0;
  const indices = new Map();
  const lowlinks = new Map();
  const onStack = new Set();
  const stack = [];
  const circles = [];
  const visit = (node) => {
    indices.set(node, index);
    lowlinks.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!indices.has(next)) {
        visit(next);
        lowlinks.set(node, Math.min(lowlinks.get(node), lowlinks.get(next)));
      } else if (onStack.has(next)) {
        lowlinks.set(node, Math.min(lowlinks.get(node), indices.get(next)));
      }
    }
    if (lowlinks.get(node) === indices.get(node)) {
      const members = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        members.push(member);
      } while (member !== node);
      if (members.length > 1) circles.push(members.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return circles;
}

/**
 * The feature folder of a file: the first folder under an app's or lib's src/. Files directly in
 * src/ (composition roots, a lib's door) belong to no feature folder: they sit above them all.
 */
function featureFolder(file) {
  const rel = path.relative(root, file).split(path.sep);
  const src = rel.indexOf('src');
  if (src < 0 || rel.length < src + 3) return undefined;
  return rel.slice(0, src + 2).join('/');
}

export function folderGraph(graph) {
  const folders = new Map();
  for (const [file, targets] of graph) {
    const from = featureFolder(file);
    if (from === undefined) continue;
    if (!folders.has(from)) folders.set(from, new Set());
    for (const target of targets) {
      const to = featureFolder(target);
      if (to !== undefined && to !== from) folders.get(from).add(to);
    }
  }
  return folders;
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const folders = process.argv.slice(2);
  if (folders.length === 0) folders.push('apps', 'libs');
  const graph = importGraph(folders);
  const rel = (file) => path.relative(root, file);
  const fileCircles = circlesOf(graph);
  const folderCircles = circlesOf(folderGraph(graph));
  for (const circle of fileCircles) {
    console.error(
      `import circle between files:\n${circle
        .map(
          (f) =>
            `  ${rel(f)} -> ${[...graph.get(f)]
              .filter((t) => circle.includes(t))
              .map(rel)
              .join(', ')}`,
        )
        .join('\n')}`,
    );
  }
  for (const circle of folderCircles) {
    const ties = [];
    for (const [file, targets] of graph) {
      const from = featureFolder(file);
      if (from === undefined || !circle.includes(from)) continue;
      for (const target of targets) {
        const to = featureFolder(target);
        if (to !== undefined && to !== from && circle.includes(to))
          ties.push(`  ${rel(file)} -> ${rel(target)}`);
      }
    }
    console.error(`import circle between folders ${circle.join(' ↔ ')}:\n${ties.join('\n')}`);
  }
  if (fileCircles.length + folderCircles.length > 0) process.exit(1);
  console.log(`no import circles among ${graph.size} files in ${folders.join(', ')}`);
}
