/**
 * A KvCache made by another copy of the package (two installs in one process,
 * the ESM and the CJS build, a bundled copy) works with this copy's
 * attention, attentionAsync, explain and MultiHeadAttention.step: caches are
 * recognised by a registry-wide brand, not instanceof (which fails across
 * copies). vi.resetModules() gives a second, separate module instance of lib/.
 */
import { describe, expect, it, vi } from 'vitest';
import * as thisCopy from '../lib/index';
import { randn } from './oracle/prng.mjs';
import { tensor } from './helpers';

vi.resetModules();
const otherCopy: typeof thisCopy = await import('../lib/index');

describe('a KvCache from another copy of the package', () => {
  it('is a different class (instanceof fails), so the brand is what is checked', () => {
    expect(otherCopy.KvCache).not.toBe(thisCopy.KvCache);
    expect(new otherCopy.KvCache({ batch: 1, numKvHeads: 1, headDim: 4, maxLength: 2 })).not.toBeInstanceOf(thisCopy.KvCache);
  });

  it.each(['float32', 'bfloat16'] as const)('attention, attentionAsync and explain read it as their own (%s)', async (dtype) => {
    const config = { batch: 2, numKvHeads: 2, headDim: 8, maxLength: 16, dtype };
    const own = new thisCopy.KvCache(config);
    const foreign = new otherCopy.KvCache(config);
    const k = tensor([2, 2, 6, 8], 1), v = tensor([2, 2, 6, 8], 2);
    own.append(k, v);
    foreign.append(k, v);
    const q = tensor([2, 4, 1, 8], 3);
    const expected = thisCopy.attention(q, own);
    expect(thisCopy.attention(q, foreign).data).toEqual(expected.data);
    expect((await thisCopy.attentionAsync(q, foreign, { causal: true })).data).toEqual((await thisCopy.attentionAsync(q, own, { causal: true })).data);
    expect(thisCopy.explain(q, foreign)).toEqual(thisCopy.explain(q, own));
  });

  it('MultiHeadAttention.step appends to it and attends over it', () => {
    const d = 16;
    const weights = { wq: randn(d * d, 4), wk: randn(d * d, 5), wv: randn(d * d, 6), wo: randn(d * d, 7) };
    const mha = new thisCopy.MultiHeadAttention({ dModel: d, numHeads: 2, weights });
    const own = mha.createCache(1, 8);
    const foreign = new otherCopy.KvCache({ batch: 1, numKvHeads: 2, headDim: 8, maxLength: 8 });
    for (let t = 0; t < 3; t++) {
      const x = tensor([1, 1, d], 10 + t);
      expect(mha.step(x, foreign).data).toEqual(mha.step(x, own).data);
    }
    expect(Array.from(foreign.lengths)).toEqual([3]);
  });

  it('a cache of an incompatible brand version is refused by name, not as "a KvCache but received KvCache"', async () => {
    const own = new thisCopy.KvCache({ batch: 1, numKvHeads: 2, headDim: 8, maxLength: 8 });
    // A future copy whose cache reads differently: same fields, another brand version.
    const future = Object.create(own, { [Symbol.for('fused-attention.KvCache')]: { value: 2 } });
    const q = tensor([1, 2, 1, 8], 1);
    const message = (op: string) =>
      `${op}: expected cache to be a KvCache of this copy of fused-attention (brand version 1) but received a KvCache from another copy of fused-attention (brand version 2)`;
    expect(() => thisCopy.attention(q, future)).toThrow(new TypeError(message('attention')));
    await expect(thisCopy.attentionAsync(q, future)).rejects.toThrow(new TypeError(message('attention')));
    expect(() => thisCopy.explain(q, future)).toThrow(new TypeError(message('attention')));
    const mha = new thisCopy.MultiHeadAttention({ dModel: 16, numHeads: 2, weights: { wq: randn(256, 1), wk: randn(256, 2), wv: randn(256, 3), wo: randn(256, 4) } });
    expect(() => mha.step(tensor([1, 1, 16], 2), future)).toThrow(new TypeError(message('MultiHeadAttention.step')));
    expect(() => mha.step(tensor([1, 1, 16], 2), {} as never)).toThrow(new TypeError('MultiHeadAttention.step: expected cache to be a KvCache but received Object'));
  });
});
