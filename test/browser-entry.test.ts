/**
 * The browser entry (package.json's `browser` condition, scripts/build-browser.js),
 * built into a temporary folder: its import graph is the package's own files and
 * nothing else (no node:*, fs, path, worker_threads or any package), it holds none
 * of the Node-only modules, it exports the Node entry's names, and until init() has
 * finished every call says to await it. `npm run test:browser` runs it in Chromium.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import * as nodeEntry from '../lib/index';

const ROOT = join(__dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'fa-browser-'));
execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-browser.js'), '--out', out], { stdio: 'pipe' });
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Every module the entry reaches (relative to `out`) → its import specifiers, static, dynamic and require() alike. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [join(out, 'browser.mjs')];
  while (pending.length > 0) {
    const file = pending.pop()!;
    const name = relative(out, file);
    if (graph.has(name)) continue;
    const specifiers = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((ref) => ref.fileName);
    graph.set(name, specifiers);
    for (const specifier of specifiers) {
      if (specifier.startsWith('./') || specifier.startsWith('../')) pending.push(resolve(dirname(file), specifier));
    }
  }
  return graph;
}

describe('the browser entry (dist/browser.mjs)', () => {
  const graph = importGraph();

  it('imports only its own files: no node:*, fs, path, worker_threads or other package', () => {
    const foreign = [...graph].flatMap(([file, specifiers]) => specifiers.filter((s) => !s.startsWith('./') && !s.startsWith('../')).map((s) => `${file} imports '${s}'`));
    expect(foreign).toEqual([]);
    const missing = [...graph.keys()].filter((file) => !existsSync(join(out, file)));
    expect(missing).toEqual([]);
  });

  it('has the browser backend and no Node-only module, and every file it ships is reached', () => {
    const files = [...graph.keys()].sort();
    expect(files).toContain('browser/backend.browser.mjs');
    expect(files).toContain('browser/wasm-worker.browser.mjs');
    expect(files).not.toContain('browser/backend.mjs');
    expect(files).not.toContain('browser/wasm-worker.mjs');
    const shipped = (readdirSync(join(out, 'browser'), { recursive: true }) as string[]).filter((f) => f.endsWith('.mjs')).map((f) => join('browser', f));
    expect(['browser.mjs', ...shipped].sort()).toEqual(files);
  });

  it('exports the names of the Node entry', async () => {
    const browser = (await import(pathToFileURL(join(out, 'browser.mjs')).href)) as Record<string, unknown>;
    expect(Object.keys(browser).sort()).toEqual(Object.keys(nodeEntry).sort());
  });

  it('says to await init() when called before it, after checking the arguments as on Node', async () => {
    const browser = (await import(pathToFileURL(join(out, 'browser.mjs')).href)) as typeof nodeEntry;
    const t = { data: new Float32Array(8), shape: [1, 1, 2, 4] };
    expect(() => browser.attention(t, t, t)).toThrow(new Error('fused-attention: await init() before the first call: the browser build loads its WebAssembly module asynchronously'));
    expect(() => browser.backend()).toThrow(/^fused-attention: await init\(\) before the first call/);
    expect(() => browser.attention(t, t, t, { casual: true } as never)).toThrow(
      new TypeError('attention: expected options keys to be among scale, causal, mask, keyPadding, keyLengths, layout, window, alibiSlopes, softcap, returnLse, returnWeights, out but received "casual"'),
    );
  });
});
