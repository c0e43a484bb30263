/**
 * Zero-size dims, which PyTorch accepts: B, H or Lq = 0 give empty results
 * of the right shape; Lk = 0 gives rows that see no key (zeros, lse
 * -Infinity, as any fully hidden row); Dv = 0 an empty output whose lse and
 * weights are still computed; D = 0 is refused (no scores). Also linear,
 * PackedLinear and MultiHeadAttention with no rows. On the JS backend and the
 * native one (which never sees a zero dim: the TypeScript layer settles them).
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { AttentionOptions } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { relFrobenius } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';
import { tensor, loadJsLib } from './helpers';

const jsLib: typeof nativeLib = await loadJsLib();

const libs = nativeAddon() === null ? [jsLib] : [jsLib, nativeLib];
const each = libs.map((lib) => ({ lib, name: lib.backend().name }));

const everything = { returnLse: true, returnWeights: true } as const;

describe.each(each)('attention with zero-size dims on the $name backend', ({ lib }) => {
  it.each([
    { name: 'Lq = 0', q: [2, 4, 0, 8], k: [2, 2, 5, 8], v: [2, 2, 5, 6], out: [2, 4, 0, 6], lse: [2, 4, 0], weights: [2, 4, 0, 5] },
    { name: 'B = 0', q: [0, 4, 3, 8], k: [0, 2, 5, 8], v: [0, 2, 5, 6], out: [0, 4, 3, 6], lse: [0, 4, 3], weights: [0, 4, 3, 5] },
    { name: 'H = 0 (and Hkv = 0)', q: [2, 0, 3, 8], k: [2, 0, 5, 8], v: [2, 0, 5, 6], out: [2, 0, 3, 6], lse: [2, 0, 3], weights: [2, 0, 3, 5] },
    { name: 'Lq = 0, rank 3', q: [4, 0, 8], k: [2, 5, 8], v: [2, 5, 6], out: [4, 0, 6], lse: [4, 0], weights: [4, 0, 5] },
  ])('$name: empty tensors of the right shapes, sync and async', async ({ q, k, v, out, lse, weights }) => {
    const args = [tensor(q), tensor(k, 2), tensor(v, 3)] as const;
    const sync = lib.attention(...args, { ...everything, causal: true, mask: { data: new Uint8Array([1]), shape: [1] } });
    const async = await lib.attentionAsync(...args, everything);
    for (const result of [sync, async]) {
      expect(result.shape).toEqual(out);
      expect(result.data.length).toBe(0);
      expect(result.lse.shape).toEqual(lse);
      expect(result.lse.data.length).toBe(0);
      expect(result.weights.shape).toEqual(weights);
      expect(result.weights.data.length).toBe(0);
    }
    expect(lib.explain(...args, everything)).toMatchObject({ threads: 0, workItems: 0, scratchBytes: 0 });
  });

  it('Lk = 0: every row sees no key, so out is zeros (a caller\'s out too) and lse -Infinity', async () => {
    const q = tensor([2, 4, 3, 8]);
    const k = tensor([2, 2, 0, 8]);
    const v = tensor([2, 2, 0, 6]);
    const out = new Float32Array(2 * 4 * 3 * 6).fill(Number.NaN);
    const options: AttentionOptions = { ...everything, out, keyPadding: new Uint8Array(0), mask: { data: new Float32Array(3), shape: [3, 1] } };
    const sync = lib.attention(q, k, v, options);
    expect(sync.data).toBe(out);
    const async = await lib.attentionAsync(q, k, v, { ...everything, layout: 'bhld' });
    for (const result of [sync, async]) {
      expect(result.shape).toEqual([2, 4, 3, 6]);
      expect(Array.from(result.data)).toEqual(new Array(2 * 4 * 3 * 6).fill(0));
      expect(result.lse!.shape).toEqual([2, 4, 3]);
      expect(Array.from(result.lse!.data)).toEqual(new Array(2 * 4 * 3).fill(-Infinity));
      expect(result.weights!.shape).toEqual([2, 4, 3, 0]);
    }
    expect(lib.explain(q, k, v).workItems).toBe(0);
  });

  it('Dv = 0: an empty output, and the same lse and weights as with values', async () => {
    const q = tensor([2, 4, 3, 8]);
    const k = tensor([2, 2, 5, 8], 2);
    const options = { ...everything, causal: true, alibiSlopes: Float32Array.from([0.5, 0.25, 0.1, 0.05]) } as const;
    const reference = lib.attention(q, k, tensor([2, 2, 5, 6], 3), options);
    const sync = lib.attention(q, k, tensor([2, 2, 5, 0]), options);
    const async = await lib.attentionAsync(q, k, tensor([2, 2, 5, 0]), options);
    for (const result of [sync, async]) {
      expect(result.shape).toEqual([2, 4, 3, 0]);
      expect(result.data.length).toBe(0);
      expect(result.lse.shape).toEqual([2, 4, 3]);
      expect(relFrobenius(result.lse.data, reference.lse.data)).toBeLessThanOrEqual(1e-6);
      expect(relFrobenius(result.weights.data, reference.weights.data)).toBeLessThanOrEqual(1e-6);
    }
    const plain = lib.attention(q, k, tensor([2, 2, 5, 0]));
    expect(plain.shape).toEqual([2, 4, 3, 0]);
  });

  it('D = 0 is refused: queries and keys of width 0 have no scores', () => {
    expect(() => lib.attention(tensor([2, 4, 3, 0]), tensor([2, 2, 5, 0]), tensor([2, 2, 5, 6]))).toThrow(
      new RangeError('attention: expected q.shape[3] (the width D of queries and keys) to be an integer >= 1 but received 0'),
    );
  });

  it('a KvCache with Lq = 0 queries: empty, sync, async and explain', async () => {
    const cache = new lib.KvCache({ batch: 2, numKvHeads: 2, headDim: 8, maxLength: 16 });
    cache.append(tensor([2, 2, 5, 8], 4), tensor([2, 2, 5, 8], 5));
    const q = tensor([2, 4, 0, 8]);
    const sync = lib.attention(q, cache, { causal: true, returnLse: true });
    const async = await lib.attentionAsync(q, cache, { returnLse: true });
    for (const result of [sync, async]) {
      expect(result.shape).toEqual([2, 4, 0, 8]);
      expect(result.lse.shape).toEqual([2, 4, 0]);
    }
    expect(lib.explain(q, cache).workItems).toBe(0);
  });
});

describe.each(each)('linear and MultiHeadAttention with no rows on the $name backend', ({ lib }) => {
  const weight = tensor([5, 3], 7);
  const bias = tensor([5], 8);

  it('linear and PackedLinear.forward/forwardAsync: [..., 0 rows, ..., inFeatures] -> [..., outFeatures]', async () => {
    expect(lib.linear(tensor([0, 3]), weight, bias)).toEqual({ data: new Float32Array(0), shape: [0, 5] });
    expect(lib.linear(tensor([2, 0, 3]), weight, null, { out: new Float32Array(0) }).shape).toEqual([2, 0, 5]);
    const packed = lib.packLinear(weight, bias);
    expect(packed.forward(tensor([0, 3]))).toEqual({ data: new Float32Array(0), shape: [0, 5] });
    expect(await packed.forwardAsync(tensor([4, 0, 3]))).toEqual({ data: new Float32Array(0), shape: [4, 0, 5] });
    const wide = new Float32Array(8).fill(7);
    packed.forward(tensor([0, 3]), { out: wide, outStride: 8, outOffset: 3 });
    expect(wide.every((x) => x === 7)).toBe(true);
  });

  const dModel = 8;
  const weights = {
    wq: randn(dModel * dModel, 10),
    wk: randn(dModel * dModel, 11),
    wv: randn(dModel * dModel, 12),
    wo: randn(dModel * dModel, 13),
    bo: randn(dModel, 14),
  };

  it('MultiHeadAttention.forward/forwardAsync: B = 0 or L = 0 give empty outputs, an empty context gives bo', async () => {
    const mha = new lib.MultiHeadAttention({ dModel, numHeads: 2, weights });
    for (const shape of [[0, 5, dModel], [2, 0, dModel], [0, dModel]]) {
      const expected = { data: new Float32Array(0), shape };
      expect(mha.forward(tensor(shape))).toEqual(expected);
      expect(await mha.forwardAsync(tensor(shape))).toEqual(expected);
    }
    const x = tensor([2, 3, dModel]);
    const context = tensor([2, 0, dModel]);
    const rowsOfBias = Float32Array.from({ length: 2 * 3 * dModel }, (_, i) => weights.bo[i % dModel]);
    for (const y of [mha.forward(x, { context }), await mha.forwardAsync(x, { context, keyPadding: new Uint8Array(0) })]) {
      expect(y.shape).toEqual([2, 3, dModel]);
      expect(Array.from(y.data)).toEqual(Array.from(rowsOfBias));
    }
  });
});
