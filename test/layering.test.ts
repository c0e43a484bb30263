/**
 * lib/'s imports run one way: the core never imports the vision layers
 * (lib/index.ts, which exports everything, aside), and no two modules import
 * each other, directly or through others (type-only imports aside: they
 * vanish from the build).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = join(__dirname, '..', 'lib');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Each lib file (relative, without .ts) → the lib files it imports at run time. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(LIB)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^import (?!type )[^;]*? from '(\.{1,2}\/[^']+)';/gm)].map((m) => relative(LIB, resolve(dirname(file), m[1])));
    graph.set(relative(LIB, file).replace(/\.ts$/, ''), targets);
  }
  return graph;
}

describe('lib/ import graph', () => {
  const graph = importGraph();

  it('only lib/index.ts and lib/vision/ import from lib/vision/', () => {
    const offenders = [...graph].filter(([file, targets]) => file !== 'index' && !file.startsWith('vision/') && targets.some((t) => t.startsWith('vision/')));
    expect(offenders.map(([file]) => file)).toEqual([]);
  });

  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('reads the imports it checks (the graph is not empty)', () => {
    expect(graph.get('linear')).toContain('abort');
    expect(graph.get('vision/conv1x1')).toContain('linear');
  });
});
