/**
 * The published declarations show what the README documents and nothing
 * more: KvCache's methods for other copies of the package (view, widened,
 * reading, checkCounts, appendRows, marked @internal) stay out of the .d.ts.
 * Emits the declarations of tsconfig.build.json into a temporary folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');
const outDir = mkdtempSync(join(tmpdir(), 'fa-dts-'));
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--emitDeclarationOnly', '--outDir', outDir], { stdio: 'pipe' });
const kvCacheDts = readFileSync(join(outDir, 'kv-cache.d.ts'), 'utf8');
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** The members declared in `class KvCache { ... }`, by name. */
function classMembers(dts: string): string[] {
  const body = /export declare class KvCache \{([\s\S]*?)\n\}/.exec(dts);
  if (body === null) throw new Error('no KvCache class in kv-cache.d.ts');
  const code = body[1].replace(/\/\*\*[\s\S]*?\*\//g, '');
  return [...code.matchAll(/^\s{4}(?:readonly |get |private )?(#?[\w[\]]+)/gm)].map((m) => m[1]).sort();
}

describe('published declarations', () => {
  it("KvCache declares the README's members and nothing internal", () => {
    expect(classMembers(kvCacheDts)).toEqual(
      ['#private', 'append', 'batch', 'byteLength', 'constructor', 'dtype', 'headDim', 'keys', 'lengthOf', 'lengths', 'maxLength', 'numKvHeads', 'pendingReads', 'reset', 'valueDim', 'values', 'whenIdle'].sort(),
    );
  });

  it('kv-cache.d.ts exports the config and option types and the class, not its helpers', () => {
    for (const hidden of ['asKvCache', 'KvRows', 'CONFIG_KEYS', 'BRAND', 'CachedKeysValues']) expect(kvCacheDts).not.toContain(hidden);
  });
});
