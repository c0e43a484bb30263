/**
 * KvCaches resident in the WebAssembly module's memory (lib/wasm-kv.ts, and
 * the worker's own copies in lib/wasm-worker.ts): every way a cache changes —
 * appends of any size, reset and refill with other data of the same length,
 * bfloat16, GQA with rows of different lengths, two caches in turn, a
 * KvCachePool handing a cache out again, a copy freed, evicted or garbage-
 * collected, raw buffers written directly, a cache of another copy of the
 * package, attentionAsync on and off the worker — gives the float64 oracle's
 * answer, the JS backend's, and the same bits as copying the cache per call.
 * A decoding step copies its new rows, never the whole cache (counted by the
 * internal WasmKernels.copiedBytes). Skipped when the module is not built.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { KvCache, Tensor } from '../lib/index';
import { roundToBfloat16 } from '../lib/js/bf16';
import type { WasmKernels } from '../lib/wasm';
import { referenceAttention, relFrobenius } from './oracle/attention.mjs';
import { WASM_BUILT, loadJsLib, loadWasmLib, tensor, tensorSequence } from './helpers';

const TOL = 1e-5;

const jsLib = await loadJsLib();
const wasmLib = await loadWasmLib();
// The backend module of wasmLib's instance (the module graph loaded last).
const kernels = WASM_BUILT ? ((await import('../lib/backend')).wasmKernels() as WasmKernels) : null;

type Dtype = 'float32' | 'bfloat16';
interface Config {
  batch: number;
  numKvHeads: number;
  headDim: number;
  valueDim?: number;
  maxLength: number;
  dtype?: Dtype;
}

/** A cache and, beside it, what it must hold: every appended row (rounded through bfloat16 for such a cache) and the lengths. */
class Tracked {
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly lengths: Int32Array;
  readonly B: number;
  readonly Hkv: number;
  readonly L: number;
  readonly D: number;
  readonly Dv: number;
  readonly round: (x: number) => number;

  constructor(readonly cache: KvCache) {
    this.B = cache.batch;
    this.Hkv = cache.numKvHeads;
    this.L = cache.maxLength;
    this.D = cache.headDim;
    this.Dv = cache.valueDim;
    this.k = new Float32Array(this.B * this.Hkv * this.L * this.D);
    this.v = new Float32Array(this.B * this.Hkv * this.L * this.Dv);
    this.lengths = new Int32Array(this.B);
    this.round = cache.dtype === 'bfloat16' ? roundToBfloat16 : (x) => x;
  }

  /** Appends T new positions (counts[b] of them to row b) drawn from `next`. */
  append(next: (shape: number[]) => Tensor, T: number, counts?: number[]): void {
    const { B, Hkv, L, D, Dv } = this;
    const k = next([B, Hkv, T, D]);
    const v = next([B, Hkv, T, Dv]);
    this.cache.append(k, v, counts === undefined ? undefined : { counts });
    for (let b = 0; b < B; b++) {
      const n = counts?.[b] ?? T;
      for (let hk = 0; hk < Hkv; hk++) {
        for (let t = 0; t < n; t++) {
          const at = (b * Hkv + hk) * L + this.lengths[b] + t;
          const from = (b * Hkv + hk) * T + t;
          for (let d = 0; d < D; d++) this.k[at * D + d] = this.round(k.data[from * D + d]);
          for (let d = 0; d < Dv; d++) this.v[at * Dv + d] = this.round(v.data[from * Dv + d]);
        }
      }
      this.lengths[b] += n;
    }
  }

  /** Appends until every row is `length` long. */
  fillTo(next: (shape: number[]) => Tensor, length: number): void {
    const T = length - Math.min(...this.lengths);
    this.append(next, T, Array.from(this.lengths, (n) => length - n));
  }

  reset(): void {
    this.cache.reset();
    this.lengths.fill(0);
  }

  /** The float64 oracle of one decoding step: q [B, H, 1, D] against the stored positions of each row. */
  oracle(q: Tensor): Float64Array {
    const { B, Hkv, L, D, Dv } = this;
    return referenceAttention(q, { data: this.k, shape: [B, Hkv, L, D] }, { data: this.v, shape: [B, Hkv, L, Dv] }, { keyLengths: this.lengths });
  }
}

const sameBits = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/**
 * One decoding step (q from `seed`, H query heads) on the wasm backend:
 * checks it against the oracle and the JS backend, and that copying the
 * cache per call (the path before resident caches) gives the same bits.
 * Returns the bytes the step copied into the module.
 */
function step(t: Tracked, H: number, seed: number): number {
  const q = tensor([t.B, H, 1, t.D], seed);
  const before = kernels!.copiedBytes;
  const got = wasmLib!.attention(q, t.cache).data;
  const copied = kernels!.copiedBytes - before;
  expect(got.some(Number.isNaN)).toBe(false);
  expect(relFrobenius(got, t.oracle(q))).toBeLessThanOrEqual(TOL);
  expect(relFrobenius(got, jsLib.attention(q, t.cache).data)).toBeLessThanOrEqual(TOL);
  kernels!.residentKv = false;
  try {
    expect(sameBits(got, wasmLib!.attention(q, t.cache).data)).toBe(true);
  } finally {
    kernels!.residentKv = true;
  }
  return copied;
}

/** Bytes of `positions` new positions in every row and kv head of the cache. */
const rowBytes = (t: Tracked, positions: number): number => t.B * t.Hkv * positions * (t.D + t.Dv) * (t.cache.dtype === 'bfloat16' ? 2 : 4);

describe.runIf(!WASM_BUILT)('KvCache resident in the WebAssembly module', () => {
  it.skip('skipped: dist/fused_attention.wasm is not built (npm run build:wasm)', () => {});
});

describe.runIf(WASM_BUILT)('KvCache resident in the WebAssembly module', () => {
  const lib = wasmLib!;
  const make = (config: Config): Tracked => new Tracked(new lib.KvCache(config));

  describe.each(['float32', 'bfloat16'] as const)('%s', (dtype) => {
    it('a decoding step copies its new rows and q, not the cache', () => {
      const next = tensorSequence(1);
      const t = make({ batch: 1, numKvHeads: 4, headDim: 32, maxLength: 512, dtype });
      t.append(next, 300);
      expect(step(t, 4, 100)).toBeGreaterThanOrEqual(rowBytes(t, 300)); // the first call copies what is stored
      // with nothing appended: q, key lengths and row offsets only
      const callInputs = step(t, 4, 101);
      expect(callInputs).toBeLessThanOrEqual(4 * 32 * 4 + 256);
      for (let s = 0; s < 5; s++) {
        t.append(next, 1);
        expect(step(t, 4, 102 + s)).toBe(callInputs + rowBytes(t, 1));
      }
      t.append(next, 3);
      expect(step(t, 4, 110)).toBe(callInputs + rowBytes(t, 3));
      // the copy path, for contrast, copies every position the cache can hold
      kernels!.residentKv = false;
      const before = kernels!.copiedBytes;
      lib.attention(tensor([1, 4, 1, 32], 111), t.cache);
      kernels!.residentKv = true;
      expect(kernels!.copiedBytes - before).toBeGreaterThanOrEqual(t.cache.byteLength);
    });

    it('reset, then refilled with other data to the same length, and to a shorter one', () => {
      const next = tensorSequence(10);
      const t = make({ batch: 2, numKvHeads: 2, headDim: 16, maxLength: 64, dtype });
      t.append(next, 40);
      step(t, 4, 1);
      t.reset();
      t.append(next, 40); // same lengths as before the reset: only the generation tells the copy is stale
      expect(step(t, 4, 2)).toBeGreaterThanOrEqual(rowBytes(t, 40));
      t.reset();
      t.append(next, 7);
      step(t, 4, 3);
      t.append(next, 1);
      step(t, 4, 4);
      t.reset();
      step(t, 4, 5); // nothing stored: zeros
    });

    it('many appends of growing size, rows of different lengths, up to maxLength', () => {
      const next = tensorSequence(20);
      const t = make({ batch: 2, numKvHeads: 3, headDim: 24, valueDim: 8, maxLength: 300, dtype });
      let seed = 30;
      for (const T of [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]) {
        t.append(next, T, [T, Math.floor(T / 2)]);
        step(t, 6, seed++);
      }
      t.fillTo(next, 300);
      step(t, 6, seed++);
    });
  });

  it('GQA 8/2, batch 3, rows of different lengths (one empty)', () => {
    const next = tensorSequence(40);
    const t = make({ batch: 3, numKvHeads: 2, headDim: 64, maxLength: 200 });
    t.append(next, 50, [50, 0, 17]);
    step(t, 8, 1);
    for (let s = 0; s < 3; s++) {
      t.append(next, 1, [1, s === 2 ? 1 : 0, 1]);
      step(t, 8, 2 + s);
    }
  });

  it('two caches in turn keep their own copies', () => {
    const next = tensorSequence(50);
    const [a, b] = [0, 1].map(() => make({ batch: 1, numKvHeads: 2, headDim: 32, maxLength: 128 }));
    a.append(next, 60);
    b.append(next, 61);
    for (let s = 0; s < 4; s++) {
      a.append(next, 1);
      step(a, 2, 10 + s);
      b.append(next, 1);
      step(b, 2, 20 + s);
    }
    b.reset();
    b.append(next, 3);
    step(a, 2, 30);
    step(b, 2, 31);
  });

  it('a cache handed out again by a KvCachePool', async () => {
    const next = tensorSequence(60);
    const pool = new lib.KvCachePool({ batch: 1, numKvHeads: 2, headDim: 16, maxLength: 64, max: 1 });
    const first = await pool.acquire();
    const t = new Tracked(first);
    t.append(next, 33);
    step(t, 2, 1);
    pool.release(first);
    const again = await pool.acquire();
    expect(again).toBe(first);
    const u = new Tracked(again);
    u.append(next, 33);
    expect(step(u, 2, 2)).toBeGreaterThanOrEqual(rowBytes(u, 33));
    pool.release(again);
  });

  it('a copy dropped, evicted by the budget, or out of budget: copied again and still right', () => {
    const next = tensorSequence(70);
    const mirrors = kernels!.kvMirrors;
    const [a, b] = [0, 1].map(() => make({ batch: 1, numKvHeads: 2, headDim: 32, maxLength: 256 }));
    a.append(next, 100);
    b.append(next, 90);
    step(a, 2, 1);
    mirrors.drop(a.cache);
    a.append(next, 1);
    expect(step(a, 2, 2)).toBeGreaterThanOrEqual(rowBytes(a, 101));
    mirrors.evict();
    expect(mirrors.live.count).toBe(0);
    expect(step(a, 2, 3)).toBeGreaterThanOrEqual(rowBytes(a, 101));
    const budget = mirrors.budgetBytes;
    try {
      mirrors.budgetBytes = Math.floor(1.5 * a.cache.byteLength); // room for one of the two
      for (let s = 0; s < 3; s++) {
        expect(step(b, 2, 20 + s)).toBeGreaterThanOrEqual(rowBytes(b, 90)); // evicts a's copy
        expect(mirrors.live.count).toBe(1);
        expect(step(a, 2, 10 + s)).toBeGreaterThanOrEqual(rowBytes(a, 101)); // evicts b's
        expect(mirrors.live.count).toBe(1);
      }
      mirrors.budgetBytes = a.cache.byteLength - 1; // room for none: copied per call
      expect(step(a, 2, 30)).toBeGreaterThanOrEqual(a.cache.byteLength);
      expect(mirrors.live.count).toBe(0);
    } finally {
      mirrors.budgetBytes = budget;
    }
  });

  it('a garbage-collected cache frees its copy', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const mirrors = kernels!.kvMirrors;
    mirrors.evict();
    (() => {
      const t = make({ batch: 1, numKvHeads: 2, headDim: 32, maxLength: 256 });
      t.append(tensorSequence(80), 10);
      step(t, 2, 1);
    })();
    expect(mirrors.live.count).toBe(1);
    for (let round = 0; round < 20 && mirrors.live.count > 0; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(mirrors.live).toEqual({ count: 0, bytes: 0 });
  });

  it('a cache whose raw buffers were handed out is copied per call from then on, so direct writes count', () => {
    const next = tensorSequence(90);
    const t = make({ batch: 1, numKvHeads: 2, headDim: 16, maxLength: 64 });
    t.append(next, 20);
    step(t, 2, 1);
    expect(kernels!.kvMirrors.live.count).toBeGreaterThan(0);
    const keys = t.cache.keys as Float32Array;
    const values = t.cache.values as Float32Array;
    for (const i of [0, 5, 16 * 64 + 3]) {
      keys[i] += 2;
      t.k[i] += 2;
      values[i] -= 1;
      t.v[i] -= 1;
    }
    expect(step(t, 2, 2)).toBeGreaterThanOrEqual(t.cache.byteLength);
    t.append(next, 1);
    expect(step(t, 2, 3)).toBeGreaterThanOrEqual(t.cache.byteLength);
  });

  it('a cache made by another copy of the package is copied per call', () => {
    const next = tensorSequence(100);
    const t = new Tracked(new jsLib.KvCache({ batch: 1, numKvHeads: 2, headDim: 16, maxLength: 64 }));
    t.append(next, 20);
    expect(step(t, 2, 1)).toBeGreaterThanOrEqual(t.cache.byteLength);
  });

  describe.each(['float32', 'bfloat16'] as const)('attentionAsync, %s', (dtype) => {
    it('on the worker (a cache of 4096 positions): resident there, synced by the worker', async () => {
      const next = tensorSequence(110);
      const t = make({ batch: 1, numKvHeads: 4, headDim: 64, maxLength: 4096, dtype });
      const H = 16; // 2·H·maxLength·(D + Dv) ≈ 17 MFLOP: above the worker's threshold
      kernels!.kvMirrors.evict();
      const asyncStep = async (seed: number): Promise<number> => {
        const q = tensor([1, H, 1, 64], seed);
        const before = kernels!.copiedBytes;
        const got = (await lib.attentionAsync(q, t.cache)).data;
        const copied = kernels!.copiedBytes - before;
        expect(relFrobenius(got, t.oracle(q))).toBeLessThanOrEqual(TOL);
        expect(sameBits(got, lib.attention(q, t.cache).data)).toBe(true);
        return copied;
      };
      t.append(next, 1000);
      expect(await asyncStep(1)).toBeGreaterThanOrEqual(rowBytes(t, 1000));
      for (let s = 0; s < 3; s++) {
        t.append(next, 1);
        const copied = await asyncStep(2 + s);
        expect(copied).toBeGreaterThanOrEqual(rowBytes(t, 1));
        expect(copied).toBeLessThanOrEqual(rowBytes(t, 1) + H * 64 * 4 + 256);
      }
      // calls queued back to back, with appends between them (each reads the positions stored when it was made)
      const queued: Array<Promise<Float32Array>> = [];
      const want: Float64Array[] = [];
      for (let s = 0; s < 3; s++) {
        t.append(next, 2);
        const q = tensor([1, H, 1, 64], 20 + s);
        want.push(t.oracle(q));
        queued.push(lib.attentionAsync(q, t.cache).then((r) => r.data));
      }
      (await Promise.all(queued)).forEach((got, s) => expect(relFrobenius(got, want[s])).toBeLessThanOrEqual(TOL));
      await t.cache.whenIdle();
      const length = t.lengths[0];
      t.reset();
      t.append(next, length); // the same length again, other data: only the generation tells the worker's copy is stale
      expect(await asyncStep(30)).toBeGreaterThanOrEqual(rowBytes(t, length));
      // the calling thread's copies are its own: the one the sync attention() calls above made
      expect(kernels!.kvMirrors.live).toEqual({ count: 1, bytes: expect.any(Number) });
    });

    it('below the worker threshold: on the calling thread, resident there', async () => {
      const next = tensorSequence(120);
      const t = make({ batch: 1, numKvHeads: 2, headDim: 32, maxLength: 128, dtype });
      t.append(next, 50);
      for (let s = 0; s < 3; s++) {
        t.append(next, 1);
        const q = tensor([1, 4, 1, 32], s);
        const before = kernels!.copiedBytes;
        const got = (await lib.attentionAsync(q, t.cache)).data;
        if (s > 0) expect(kernels!.copiedBytes - before).toBeLessThanOrEqual(rowBytes(t, 1) + 4 * 32 * 4 + 256);
        expect(relFrobenius(got, t.oracle(q))).toBeLessThanOrEqual(TOL);
        expect(relFrobenius(got, jsLib.attention(q, t.cache).data)).toBeLessThanOrEqual(TOL);
      }
    });
  });
});
