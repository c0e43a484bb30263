/**
 * explain(): what attention() would do, without computing. On the JS backend
 * (a module instance forced to it) and, when the addon is loaded and accepts
 * the new arguments, on the native one for every ISA.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { AttentionOptions } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { filledTensor, loadJsLib } from './helpers';

const jsLib: typeof nativeLib = await loadJsLib();

// B=2, H=8, Hkv=2, Lq=100, Lk=300, D=64, Dv=32
const q = filledTensor([2, 8, 100, 64], 0.5);
const k = filledTensor([2, 2, 300, 64], 0.5);
const v = filledTensor([2, 2, 300, 32], 0.5);
const everything: AttentionOptions = {
  causal: 'top-left',
  window: [64, -1],
  keyLengths: Int32Array.from([300, 150]),
  keyPadding: new Uint8Array(600).fill(1),
  mask: { data: new Uint8Array(300).fill(1), shape: [1, 300] },
  alibiSlopes: new Float32Array(8).fill(0.1),
  softcap: 30,
  returnLse: true,
};

describe('explain() on the JS backend', () => {
  it('describes the JS reference kernel (4 query rows at a time)', () => {
    expect(jsLib.explain(q, k, v)).toEqual({
      backend: 'js',
      isa: 'js',
      path: 'reference',
      blockQ: 4,
      blockK: 64,
      threads: 1,
      workItems: 2 * 8 * 25,
      scratchBytes: 8 * 4 * (64 + 32 + 8 + 64) + 4 * 64,
    });
  });

  it('counts the row of scores that returnWeights keeps', () => {
    const plain = jsLib.explain(q, k, v);
    const withWeights = jsLib.explain(q, k, v, { returnWeights: true });
    expect(withWeights.scratchBytes - plain.scratchBytes).toBe(8 * 300);
  });

  it('accepts every option, including layout blhd, and computes nothing', () => {
    const out = new Float32Array(2 * 8 * 100 * 32).fill(7);
    const plan = jsLib.explain(filledTensor([2, 100, 8, 64], 0.5), filledTensor([2, 300, 2, 64], 0.5), filledTensor([2, 300, 2, 32], 0.5), { ...everything, layout: 'blhd', out });
    expect(plan.path).toBe('reference');
    expect(out.every((x) => x === 7)).toBe(true);
  });

  it('checks its arguments like attention()', () => {
    expect(() => jsLib.explain(q, k, v, { window: [1] as unknown as [number, number] })).toThrow(
      new RangeError('attention: expected window.length to be 2 but received 1'),
    );
  });
});

// When the addon is loaded, the native variants run; otherwise they show as skipped.
const probe = { addon: nativeAddon(), skipReason: null as string | null };

describe('explain() on the native backend', () => {
  if (probe.addon === null) {
    it.skip(`skipped: ${probe.skipReason ?? 'no native addon in this run (JS backend forced or not built)'}`, () => {});
    return;
  }
  const addon = probe.addon;
  const initial = addon.info();
  afterAll(() => {
    addon.setIsa(initial.isa);
    addon.setThreads(initial.threads);
  });

  it.each(initial.supportedIsas)('reports the plan of ISA %s', (isa) => {
    addon.setIsa(isa);
    addon.setThreads(2);
    const out = new Float32Array(2 * 8 * 100 * 32).fill(7);
    const plan = nativeLib.explain(q, k, v, { ...everything, out });
    expect(plan.backend).toBe('native');
    expect(plan.isa).toBe(isa);
    expect(['tiled', 'decode-split-k']).toContain(plan.path);
    for (const key of ['blockQ', 'blockK', 'threads', 'workItems'] as const) {
      expect(Number.isInteger(plan[key]) && plan[key] >= 1, `${key} = ${plan[key]}`).toBe(true);
    }
    expect(plan.threads).toBeLessThanOrEqual(2);
    expect(Number.isInteger(plan.scratchBytes) && plan.scratchBytes >= 0).toBe(true);
    expect(out.every((x) => x === 7)).toBe(true); // nothing computed
  });

  it('reports one thread after setThreads(1)', () => {
    addon.setThreads(1);
    expect(nativeLib.explain(q, k, v).threads).toBe(1);
  });

  it('a single query row against many keys is planned as decode or tiled, and says which', () => {
    addon.setThreads(2);
    const plan = nativeLib.explain(filledTensor([1, 8, 1, 128], 0.5), filledTensor([1, 2, 4096, 128], 0.5), filledTensor([1, 2, 4096, 128], 0.5));
    expect(['tiled', 'decode-split-k']).toContain(plan.path);
  });
});

// out is 64*4096*4096 floats (4 GiB) and the weights 64*4096*1024 (1 GiB, the returnWeights
// limit), while q, k and v hold 17 MiB: explain() must allocate neither.
describe('explain() allocates nothing the size of the problem', () => {
  const bigQ = filledTensor([1, 64, 4096, 1], 0.5);
  const bigK = filledTensor([1, 1, 1024, 1], 0.5);
  const bigV = filledTensor([1, 1, 1024, 4096], 0.5);
  const backends = probe.addon === null ? [jsLib] : [jsLib, nativeLib];

  it.each(backends.map((lib) => ({ lib, name: lib.backend().name })))('on the $name backend, tensors and KvCache forms', ({ lib }) => {
    const before = process.memoryUsage().arrayBuffers;
    const plan = lib.explain(bigQ, bigK, bigV, { returnLse: true, returnWeights: true });
    expect(plan.workItems).toBeGreaterThan(0);
    const cache = new lib.KvCache({ batch: 1, numKvHeads: 1, headDim: 1, valueDim: 4096, maxLength: 1024 });
    const cacheBytes = process.memoryUsage().arrayBuffers;
    expect(lib.explain(bigQ, cache, { returnLse: true }).workItems).toBeGreaterThan(0);
    const after = process.memoryUsage().arrayBuffers;
    // The cache's own 16 MiB is the only allocation; without the fix the first call alone took 5 GiB.
    expect(cacheBytes - before).toBeLessThan(32 * 2 ** 20);
    expect(after - cacheBytes).toBeLessThan(2 ** 20);
  });

  it.runIf(probe.addon !== null)('natively, an unallocated returnWeights still picks the tiled path for one query row', () => {
    const row = filledTensor([1, 8, 1, 64], 0.5);
    const keys = filledTensor([1, 2, 4096, 64], 0.5);
    expect(nativeLib.explain(row, keys, keys).path).toBe('decode-split-k');
    expect(nativeLib.explain(row, keys, keys, { returnWeights: true }).path).toBe('tiled');
  });
});
