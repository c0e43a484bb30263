/**
 * KvCache and attention(q, cache): step-by-step decoding equals one causal
 * pass over the whole sequence (float32 cache ≤ 1e-5; bfloat16 cache ≤ 1e-2
 * against the float32 inputs and ≤ 1e-5 against the oracle run on the
 * bfloat16-rounded K/V), per-row lengths and chunked appends, GQA, the
 * cache's bounds, and its argument errors — on the JS backend, on every
 * native ISA × 1/2 threads, and on the WebAssembly backend when it is built.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { roundToBfloat16, toBfloat16 } from '../lib/js/bf16';
import { referenceAttention, relFrobenius, toBlhd } from './oracle/attention.mjs';
import { positions } from './oracle/inputs.mjs';
import { tensor, loadJsLib, loadWasmLib, backendRunners } from './helpers';

type Lib = Pick<typeof nativeLib, 'attention' | 'attentionAsync' | 'explain' | 'KvCache'>;

const jsLib: Lib = await loadJsLib();

const runners = backendRunners<Lib>(jsLib, nativeLib, await loadWasmLib());

/** x with every element rounded through bfloat16. */
function bf16Rounded(x: Tensor): Tensor {
  return { data: x.data.map(roundToBfloat16), shape: x.shape };
}

/** Runs decoding of L positions in steps of `step` tokens and gathers the outputs in [B, H, L, Dv]. */
function decode(lib: Lib, q: Tensor, k: Tensor, v: Tensor, Hkv: number, dtype: 'float32' | 'bfloat16', step: number): Float32Array {
  const [B, H, L, D] = q.shape;
  const Dv = v.shape[3];
  const cache = new lib.KvCache({ batch: B, numKvHeads: Hkv, headDim: D, valueDim: Dv, maxLength: L + 3, dtype });
  const out = new Float32Array(B * H * L * Dv);
  for (let t = 0; t < L; t += step) {
    const t1 = Math.min(L, t + step);
    cache.append(positions(k, t, t1), positions(v, t, t1));
    const o = lib.attention(positions(q, t, t1), cache, { causal: true });
    const T = t1 - t;
    for (let bh = 0; bh < B * H; bh++) out.set(o.data.subarray(bh * T * Dv, (bh + 1) * T * Dv), (bh * L + t) * Dv);
  }
  return out;
}

describe.each(runners)('KvCache decoding ($name)', ({ lib, prepare }) => {
  const cases = [
    { name: 'MHA, one token per step', B: 1, H: 4, Hkv: 4, L: 37, D: 16, Dv: 16, step: 1 },
    { name: 'GQA 8/2, batch 2, Dv≠D', B: 2, H: 8, Hkv: 2, L: 29, D: 32, Dv: 24, step: 1 },
    { name: 'MQA, chunks of 5 (prefill-like steps)', B: 1, H: 4, Hkv: 1, L: 41, D: 64, Dv: 64, step: 5 },
    { name: 'long decode (split-K path)', B: 1, H: 2, Hkv: 2, L: 700, D: 64, Dv: 64, step: 350 },
  ];
  for (const c of cases) {
    it(`${c.name}: float32 cache steps == one causal pass (≤ 1e-5)`, () => {
      prepare();
      const q = tensor([c.B, c.H, c.L, c.D], 1);
      const k = tensor([c.B, c.Hkv, c.L, c.D], 2);
      const v = tensor([c.B, c.Hkv, c.L, c.Dv], 3);
      const stepped = decode(lib, q, k, v, c.Hkv, 'float32', c.step);
      const whole = lib.attention(q, k, v, { causal: true });
      expect(relFrobenius(stepped, whole.data)).toBeLessThanOrEqual(1e-5);
      expect(relFrobenius(stepped, referenceAttention(q, k, v, { causal: true }))).toBeLessThanOrEqual(1e-5);
    });
    it(`${c.name}: bfloat16 cache ≤ 1e-2 of float32, ≤ 1e-5 of the oracle on rounded K/V`, () => {
      prepare();
      const q = tensor([c.B, c.H, c.L, c.D], 4);
      const k = tensor([c.B, c.Hkv, c.L, c.D], 5);
      const v = tensor([c.B, c.Hkv, c.L, c.Dv], 6);
      const stepped = decode(lib, q, k, v, c.Hkv, 'bfloat16', c.step);
      const exact = referenceAttention(q, k, v, { causal: true });
      expect(relFrobenius(stepped, exact)).toBeLessThanOrEqual(1e-2);
      const rounded = referenceAttention(q, bf16Rounded(k), bf16Rounded(v), { causal: true });
      expect(relFrobenius(stepped, rounded)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('per-row lengths: rows hold different numbers of positions (counts)', () => {
    prepare();
    const B = 3, H = 2, D = 8, T = 6;
    const cache = new lib.KvCache({ batch: B, numKvHeads: H, headDim: D, maxLength: 20 });
    const k1 = tensor([B, H, T, D], 7), v1 = tensor([B, H, T, D], 8);
    cache.append(k1, v1, { counts: [6, 2, 0] });
    const k2 = tensor([B, H, 1, D], 9), v2 = tensor([B, H, 1, D], 10);
    cache.append(k2, v2);
    expect(Array.from(cache.lengths)).toEqual([7, 3, 1]);
    const q = tensor([B, H, 1, D], 11);
    const out = lib.attention(q, cache, { causal: true });
    // Row b's keys: the first counts[b] appended positions, then the step's one.
    const counts = [6, 2, 0];
    for (let b = 0; b < B; b++) {
      const n = counts[b] + 1;
      const kb = new Float32Array(H * n * D), vb = new Float32Array(H * n * D);
      for (let h = 0; h < H; h++) {
        const src = (b * H + h) * T * D;
        kb.set(k1.data.subarray(src, src + counts[b] * D), h * n * D);
        vb.set(v1.data.subarray(src, src + counts[b] * D), h * n * D);
        kb.set(k2.data.subarray((b * H + h) * D, (b * H + h + 1) * D), (h * n + n - 1) * D);
        vb.set(v2.data.subarray((b * H + h) * D, (b * H + h + 1) * D), (h * n + n - 1) * D);
      }
      const qb = { data: q.data.slice(b * H * D, (b + 1) * H * D), shape: [1, H, 1, D] };
      const ref = referenceAttention(qb, { data: kb, shape: [1, H, n, D] }, { data: vb, shape: [1, H, n, D] });
      expect(relFrobenius(out.data.subarray(b * H * D, (b + 1) * H * D), ref)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('per-row causal with several queries: query t of row b sits at lengths[b] - Lq + t', () => {
    prepare();
    const B = 2, H = 2, D = 16, L = 9;
    const k = tensor([B, H, L, D], 12), v = tensor([B, H, L, D], 13);
    const cache = new lib.KvCache({ batch: B, numKvHeads: H, headDim: D, maxLength: 16 });
    cache.append(k, v, { counts: [9, 5] });
    const q = tensor([B, H, 3, D], 14);
    const out = lib.attention(q, cache, { causal: true });
    for (let b = 0; b < B; b++) {
      const n = b === 0 ? 9 : 5;
      const kb = { data: positions({ data: k.data.slice(b * H * L * D, (b + 1) * H * L * D), shape: [1, H, L, D] }, 0, n).data, shape: [1, H, n, D] };
      const vb = { data: positions({ data: v.data.slice(b * H * L * D, (b + 1) * H * L * D), shape: [1, H, L, D] }, 0, n).data, shape: [1, H, n, D] };
      const qb = { data: q.data.slice(b * H * 3 * D, (b + 1) * H * 3 * D), shape: [1, H, 3, D] };
      const ref = referenceAttention(qb, kb, vb, { causal: true });
      expect(relFrobenius(out.data.subarray(b * H * 3 * D, (b + 1) * H * 3 * D), ref)).toBeLessThanOrEqual(1e-5);
    }
  });

  it('queryStart places the queries explicitly; layout "blhd" for q and out', () => {
    prepare();
    const H = 4, D = 16, L = 12;
    const k = tensor([1, 2, L, D], 15), v = tensor([1, 2, L, D], 16);
    const cache = new lib.KvCache({ batch: 1, numKvHeads: 2, headDim: D, maxLength: L });
    cache.append(k, v);
    const q = tensor([1, H, 2, D], 17);
    // Queries at positions 4 and 5 of the 12 stored: they see keys 0..4 and 0..5.
    const out = lib.attention(toBlhd(q), cache, { causal: true, layout: 'blhd', queryStart: Int32Array.of(4) });
    const ref = referenceAttention(toBlhd(q), toBlhd(positions(k, 0, 6)), toBlhd(positions(v, 0, 6)), { causal: true, layout: 'blhd' });
    expect(out.shape).toEqual([1, 2, H, D]);
    expect(relFrobenius(out.data, ref)).toBeLessThanOrEqual(1e-5);
  });

  it('attentionAsync reads the cache as it was when called; reset is refused meanwhile', async () => {
    prepare();
    const D = 32;
    const cache = new lib.KvCache({ batch: 1, numKvHeads: 2, headDim: D, maxLength: 64 });
    const k = tensor([1, 2, 40, D], 18), v = tensor([1, 2, 40, D], 19);
    cache.append(positions(k, 0, 30), positions(v, 0, 30));
    const q = tensor([1, 2, 1, D], 20);
    const pending = lib.attentionAsync(q, cache);
    cache.append(positions(k, 30, 40), positions(v, 30, 40)); // safe: beyond the snapshot
    expect(() => cache.reset()).toThrow('KvCache.reset: expected no attentionAsync call to be reading the cache but received 1 pending');
    const out = await pending;
    const ref = referenceAttention(q, positions(k, 0, 30), positions(v, 0, 30));
    expect(relFrobenius(out.data, ref)).toBeLessThanOrEqual(1e-5);
    cache.reset();
    expect(cache.lengthOf(0)).toBe(0);
  });
});

describe('KvCache bounds and errors', () => {
  const { KvCache, attention } = nativeLib;
  const D = 4;
  const kv = (T: number, seed = 1): [Tensor, Tensor] => [tensor([1, 2, T, D], seed), tensor([1, 2, T, D], seed + 1)];

  it('appending past maxLength throws and writes nothing; the cache never grows', () => {
    const cache = new KvCache({ batch: 1, numKvHeads: 2, headDim: D, maxLength: 5 });
    const keys = cache.keys;
    cache.append(...kv(4));
    const before = Float32Array.from(cache.keys as Float32Array);
    expect(() => cache.append(...kv(2, 9))).toThrow(
      'KvCache.append: expected at most 1 new positions for batch row 0 (length 4, maxLength 5; the cache never grows) but received 2',
    );
    expect(cache.lengthOf(0)).toBe(4);
    expect(Array.from(cache.keys as Float32Array)).toEqual(Array.from(before));
    cache.append(...kv(1, 11));
    expect(cache.keys).toBe(keys);
    expect(cache.byteLength).toBe(2 * 1 * 2 * 5 * D * 4);
  });

  it('bfloat16 storage rounds to nearest-even on append', () => {
    const cache = new KvCache({ batch: 1, numKvHeads: 1, headDim: 4, maxLength: 2, dtype: 'bfloat16' });
    const k = { data: Float32Array.of(1, 1.00390625, 1.01171875, -3.3e-39), shape: [1, 1, 1, 4] };
    cache.append(k, k);
    expect(cache.keys).toBeInstanceOf(Uint16Array);
    const expected = new Uint16Array(4);
    toBfloat16(k.data, expected);
    expect(Array.from((cache.keys as Uint16Array).subarray(0, 4))).toEqual(Array.from(expected));
    // 1 + 2^-8 is a tie: rounds to even (1.0); 1 + 3·2^-8 rounds up to 1 + 2^-6.
    expect(Array.from(expected.subarray(0, 3))).toEqual([0x3f80, 0x3f80, 0x3f82]);
    expect(cache.byteLength).toBe(2 * 2 * 4 * 2);
  });

  it.each([
    [{ batch: 0, numKvHeads: 1, headDim: 4, maxLength: 4 }, 'KvCache: expected config.batch to be an integer >= 1 but received 0'],
    [{ batch: 1, numKvHeads: 1, headDim: 4 }, 'KvCache: expected config.maxLength to be an integer >= 1 but received undefined'],
    [{ batch: 1, numKvHeads: 1, headDim: 4, maxLength: 4, dtype: 'float16' }, 'KvCache: expected config.dtype to be "float32" or "bfloat16" but received "float16"'],
    [{ batch: 1, numKvHeads: 1, headDim: 4, maxLength: 4, heads: 2 }, 'KvCache: expected config keys to be among batch, numKvHeads, headDim, valueDim, maxLength, dtype but received "heads"'],
    [{ batch: 2 ** 20, numKvHeads: 64, headDim: 128, maxLength: 2 ** 20 }, 'KvCache: expected batch*numKvHeads*maxLength*max(headDim, valueDim) to be at most 4294967296 but received 9007199254740992'],
  ])('config %#', (config, message) => {
    expect(() => new KvCache(config as never)).toThrow(message);
  });

  it('append and attention name the mismatched argument', () => {
    const cache = new KvCache({ batch: 1, numKvHeads: 2, headDim: D, maxLength: 8 });
    expect(() => cache.append(tensor([1, 3, 1, D], 1), tensor([1, 3, 1, D], 2))).toThrow(
      'KvCache.append: expected k.shape[1] to equal cache.numKvHeads (2) but received 3',
    );
    expect(() => cache.append(tensor([1, 2, 1, D], 1), tensor([1, 2, 2, D], 2))).toThrow(
      "KvCache.append: expected v.shape[2] to equal k's length (1) but received 2",
    );
    expect(() => cache.append(...kv(1), { counts: [2] })).toThrow('KvCache.append: expected options.counts[0] to be an integer from 0 to T (1) but received 2');
    cache.append(...kv(3));
    expect(() => attention(tensor([1, 2, 1, 8], 3), cache)).toThrow('attention: expected q.shape[3] to equal cache.headDim (4) but received 8');
    expect(() => attention(tensor([2, 2, 1, D], 3), cache)).toThrow('attention: expected q.shape[0] to equal cache.batch (1) but received 2');
    expect(() => attention(tensor([1, 3, 1, D], 3), cache)).toThrow('attention: expected cache.numKvHeads to divide q.shape[1] (3) but received 2');
    expect(() => attention(tensor([1, 2, 1, D], 3), cache, { keyLengths: Int32Array.of(1) } as never)).toThrow(
      "attention: expected no keyLengths option with a KvCache (the cache's lengths are used) but received Int32Array [1]",
    );
    expect(() => attention(tensor([1, 2, 1, D], 3), cache, { causal: 'top-left' } as never)).toThrow(
      "attention: expected causal to be true or false with a KvCache (queries sit at the end of each row's keys) but received \"top-left\"",
    );
    expect(() => attention(tensor([1, 2, 1, D], 3), cache, { queryStart: Int32Array.of(9) })).toThrow(
      'attention: expected queryStart[0] to be an integer from 0 to cache.maxLength (8) but received 9',
    );
    expect(() => cache.lengthOf(1)).toThrow('KvCache.lengthOf: expected b to be less than batch (1) but received 1');
  });
});
