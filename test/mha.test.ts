/**
 * MultiHeadAttention against a float64 reference built from the same weights
 * (projections in float64, the oracle of test/oracle/attention.mjs for attention): self,
 * cross, causal, key padding, GQA, with and without biases; forwardAsync ==
 * forward; step-by-step decoding with a KvCache == one causal forward pass
 * (float32 cache ≤ 1e-5, bfloat16 cache ≤ 1e-2). JS backend, every native
 * ISA × 1/2 threads, and the WebAssembly backend when it is built.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { MultiHeadAttentionWeights, Tensor } from '../lib/index';
import { referenceAttention, relFrobenius } from './oracle/attention.mjs';
import { referenceLinear } from './oracle/linear.mjs';
import { randn } from './oracle/prng.mjs';
import { tensor, filledTensor, loadJsLib, loadWasmLib, backendRunners } from './helpers';

type Lib = Pick<typeof nativeLib, 'MultiHeadAttention' | 'KvCache'>;

const jsLib: Lib = await loadJsLib();

const runners = backendRunners<Lib>(jsLib, nativeLib, await loadWasmLib());

interface Config {
  dModel: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  contextDim: number;
  bias: boolean;
}

/** The weights as bare arrays, as the float64 reference reads them. */
interface Weights extends MultiHeadAttentionWeights {
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  bq: Float32Array | null;
  bk: Float32Array | null;
  bv: Float32Array | null;
  bo: Float32Array | null;
}

function makeWeights(c: Config, seed: number): Weights {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const scaled = (n: number, s: number, fanIn: number) => randn(n, s).map((x) => x / Math.sqrt(fanIn));
  return {
    wq: scaled(q * c.dModel, seed, c.dModel),
    wk: scaled(kv * c.contextDim, seed + 1, c.contextDim),
    wv: scaled(kv * c.contextDim, seed + 2, c.contextDim),
    wo: scaled(c.dModel * q, seed + 3, q),
    bq: c.bias ? randn(q, seed + 4) : null,
    bk: c.bias ? randn(kv, seed + 5) : null,
    bv: c.bias ? randn(kv, seed + 6) : null,
    bo: c.bias ? randn(c.dModel, seed + 7) : null,
  };
}

function refMha(c: Config, w: Weights, x: Tensor, context: Tensor | null, opts: { causal?: boolean; keyPadding?: Uint8Array }): Float32Array {
  const B = x.shape.length === 3 ? x.shape[0] : 1;
  const Lq = x.shape[x.shape.length - 2];
  const ctx = context ?? x;
  const Lk = ctx.shape[ctx.shape.length - 2];
  const q = Float32Array.from(referenceLinear(x.data, B * Lq, c.dModel, w.wq, c.numHeads * c.headDim, w.bq)); // rounded to float32, as a layer hands it on
  const k = Float32Array.from(referenceLinear(ctx.data, B * Lk, c.contextDim, w.wk, c.numKvHeads * c.headDim, w.bk));
  const v = Float32Array.from(referenceLinear(ctx.data, B * Lk, c.contextDim, w.wv, c.numKvHeads * c.headDim, w.bv));
  const o = referenceAttention(
    { data: q, shape: [B, Lq, c.numHeads, c.headDim] },
    { data: k, shape: [B, Lk, c.numKvHeads, c.headDim] },
    { data: v, shape: [B, Lk, c.numKvHeads, c.headDim] },
    { layout: 'blhd', causal: opts.causal, keyPadding: opts.keyPadding },
  );
  return Float32Array.from(referenceLinear(o, B * Lq, c.numHeads * c.headDim, w.wo, c.dModel, w.bo));
}

const CASES: Array<{ name: string; c: Config; B: number; Lq: number; Lk?: number; causal?: boolean; padding?: boolean; rank2?: boolean }> = [
  { name: 'self, biases', c: { dModel: 64, numHeads: 4, numKvHeads: 4, headDim: 16, contextDim: 64, bias: true }, B: 2, Lq: 17 },
  { name: 'self, causal, no biases', c: { dModel: 48, numHeads: 3, numKvHeads: 3, headDim: 16, contextDim: 48, bias: false }, B: 1, Lq: 33, causal: true },
  { name: 'cross, contextDim ≠ dModel', c: { dModel: 32, numHeads: 4, numKvHeads: 4, headDim: 8, contextDim: 24, bias: true }, B: 2, Lq: 7, Lk: 23 },
  { name: 'self, key padding', c: { dModel: 32, numHeads: 2, numKvHeads: 2, headDim: 16, contextDim: 32, bias: true }, B: 2, Lq: 12, padding: true },
  { name: 'GQA 8/2, headDim ≠ dModel/H', c: { dModel: 40, numHeads: 8, numKvHeads: 2, headDim: 12, contextDim: 40, bias: true }, B: 1, Lq: 21, causal: true },
  { name: 'MQA, rank-2 x', c: { dModel: 64, numHeads: 8, numKvHeads: 1, headDim: 8, contextDim: 64, bias: false }, B: 1, Lq: 9, rank2: true },
  { name: 'head dim 64, 130 tokens', c: { dModel: 256, numHeads: 4, numKvHeads: 4, headDim: 64, contextDim: 256, bias: true }, B: 1, Lq: 130, causal: true },
];

describe.each(runners)('MultiHeadAttention ($name)', ({ lib, prepare }) => {
  for (const tc of CASES) {
    it(`${tc.name}: forward == float64 reference (≤ 1e-5), forwardAsync identical`, async () => {
      prepare();
      const { c, B, Lq } = tc;
      const w = makeWeights(c, 100);
      const mha = new lib.MultiHeadAttention({ dModel: c.dModel, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, contextDim: c.contextDim, weights: w });
      const x = tc.rank2 ? tensor([Lq, c.dModel], 1) : tensor([B, Lq, c.dModel], 1);
      const context = tc.Lk !== undefined ? tensor([B, tc.Lk, c.contextDim], 2) : null;
      const Lk = tc.Lk ?? Lq;
      let keyPadding: Uint8Array | undefined;
      if (tc.padding) {
        keyPadding = new Uint8Array(B * Lk).fill(1);
        for (let j = Lk - 4; j < Lk; j++) keyPadding[j] = 0; // row 0 padded at the end
        keyPadding[Lk + 1] = 0;
      }
      const options = { causal: tc.causal, keyPadding, ...(context ? { context } : {}) };
      const y = mha.forward(x, options);
      expect(y.shape).toEqual(x.shape);
      const ref = refMha(c, w, x, context, { causal: tc.causal, keyPadding });
      expect(relFrobenius(y.data, ref)).toBeLessThanOrEqual(1e-5);
      const ya = await mha.forwardAsync(x, options);
      expect(Array.from(ya.data)).toEqual(Array.from(y.data));
    });
  }

  for (const dtype of ['float32', 'bfloat16'] as const) {
    it(`step-by-step decoding with a ${dtype} cache == one causal forward`, () => {
      prepare();
      const c: Config = { dModel: 64, numHeads: 4, numKvHeads: 2, headDim: 16, contextDim: 64, bias: true };
      const w = makeWeights(c, 200);
      const mha = new lib.MultiHeadAttention({ dModel: 64, numHeads: 4, numKvHeads: 2, weights: w });
      const B = 2, L = 25;
      const x = tensor([B, L, c.dModel], 3);
      const whole = mha.forward(x, { causal: true });
      const cache = mha.createCache(B, 32, dtype);
      const stepped = new Float32Array(B * L * c.dModel);
      // A 6-token prompt, then one token per step.
      for (let t = 0; t < L; ) {
        const T = t === 0 ? 6 : 1;
        const chunk = new Float32Array(B * T * c.dModel);
        for (let b = 0; b < B; b++) chunk.set(x.data.subarray((b * L + t) * c.dModel, (b * L + t + T) * c.dModel), b * T * c.dModel);
        const y = mha.step({ data: chunk, shape: [B, T, c.dModel] }, cache);
        for (let b = 0; b < B; b++) stepped.set(y.data.subarray(b * T * c.dModel, (b + 1) * T * c.dModel), (b * L + t) * c.dModel);
        t += T;
      }
      expect(Array.from(cache.lengths)).toEqual([L, L]);
      const err = relFrobenius(stepped, whole.data);
      expect(err).toBeLessThanOrEqual(dtype === 'float32' ? 1e-5 : 1e-2);
    });
  }

  it('step with per-row counts: each row continues its own sequence', () => {
    prepare();
    const c: Config = { dModel: 32, numHeads: 2, numKvHeads: 2, headDim: 16, contextDim: 32, bias: false };
    const w = makeWeights(c, 300);
    const mha = new lib.MultiHeadAttention({ dModel: 32, numHeads: 2, weights: w });
    const cache = mha.createCache(2, 16);
    const x = tensor([2, 5, 32], 4);
    // Row 0 takes all 5 positions, row 1 only its first 3.
    const y = mha.step(x, cache, { counts: [5, 3] });
    expect(Array.from(cache.lengths)).toEqual([5, 3]);
    for (let b = 0; b < 2; b++) {
      const n = b === 0 ? 5 : 3;
      const xb = { data: x.data.slice(b * 5 * 32, b * 5 * 32 + n * 32), shape: [1, n, 32] };
      const ref = refMha(c, w, xb, null, { causal: true });
      expect(relFrobenius(y.data.subarray(b * 5 * 32, b * 5 * 32 + n * 32), ref)).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('MultiHeadAttention errors', () => {
  const { MultiHeadAttention, KvCache } = nativeLib;
  const c: Config = { dModel: 16, numHeads: 2, numKvHeads: 2, headDim: 8, contextDim: 16, bias: false };
  const weights = makeWeights(c, 1);

  it.each([
    [{ dModel: 16, numHeads: 3, weights }, 'MultiHeadAttention: expected config.headDim, or config.numHeads to divide config.dModel (16) but received numHeads 3 and no headDim'],
    [{ dModel: 16, numHeads: 2, numKvHeads: 3, weights }, 'MultiHeadAttention: expected config.numKvHeads to divide config.numHeads (2) but received 3'],
    [{ dModel: 16, numHeads: 2, weights: { ...weights, wq: new Float32Array(10) } }, 'MultiHeadAttention: expected weights.wq.length to equal 256 ([numHeads*headDim, dModel] = [16, 16]) but received 10'],
    [{ dModel: 16, numHeads: 2, weights: { ...weights, bo: new Float32Array(3) } }, 'MultiHeadAttention: expected weights.bo.length to equal 16 ([dModel] = [16]) but received 3'],
    [
      { dModel: 16, numHeads: 2, weights: { ...weights, wk: new Float64Array(128) } },
      'MultiHeadAttention: expected weights.wk to be a Float32Array of 256 floats or a tensor { data, shape: [16, 16] } ([numKvHeads*headDim, contextDim]) but received Float64Array(128)',
    ],
  ])('config %#', (config, message) => {
    expect(() => new MultiHeadAttention(config as never)).toThrow(message);
  });

  it('forward and step name what is wrong', () => {
    const mha = new MultiHeadAttention({ dModel: 16, numHeads: 2, weights });
    expect(() => mha.forward(tensor([1, 4, 12], 1))).toThrow('MultiHeadAttention: expected x.shape[2] to equal dModel (16) but received 12');
    expect(() => mha.forward(tensor([1, 4, 16], 1), { context: tensor([2, 4, 16], 2) })).toThrow(
      'MultiHeadAttention: expected options.context.shape[0] to equal x.shape[0] (1) but received 2',
    );
    expect(() => mha.forward(tensor([1, 4, 16], 1), { casual: true } as never)).toThrow(
      'MultiHeadAttention: expected options keys to be among context, causal, mask, keyPadding but received "casual"',
    );
    const wrong = new KvCache({ batch: 1, numKvHeads: 2, headDim: 4, maxLength: 4 });
    expect(() => mha.step(tensor([1, 1, 16], 1), wrong)).toThrow(
      'MultiHeadAttention.step: expected a cache of numKvHeads 2 and headDim 8 but received numKvHeads 2, headDim 4, valueDim 4',
    );
    const cache = mha.createCache(1, 2);
    mha.step(tensor([1, 2, 16], 1), cache);
    expect(() => mha.step(tensor([1, 1, 16], 2), cache)).toThrow(
      new RangeError('MultiHeadAttention.step: expected at most 0 new positions for batch row 0 (length 2, maxLength 2; the cache never grows) but received 1'),
    );
    expect(() => mha.step(tensor([1, 1, 16], 2), mha.createCache(1, 4), { counts: [1, 1] })).toThrow(
      new RangeError('MultiHeadAttention.step: expected options.counts.length to equal cache.batch (1) but received 2'),
    );
    expect(cache.lengthOf(0)).toBe(2);
  });

  it('createCache names its own arguments (not KvCache\'s config)', () => {
    const mha = new MultiHeadAttention({ dModel: 16, numHeads: 2, weights });
    expect(() => mha.createCache(0, 4)).toThrow(new RangeError('MultiHeadAttention.createCache: expected batch to be an integer >= 1 but received 0'));
    expect(() => mha.createCache(1, 2.5)).toThrow(new RangeError('MultiHeadAttention.createCache: expected maxLength to be an integer >= 1 but received 2.5'));
    expect(() => mha.createCache(1, 4, 'f16' as never)).toThrow(new TypeError('MultiHeadAttention.createCache: expected dtype to be "float32" or "bfloat16" but received "f16"'));
  });

  it('x too long for its projections is refused in the layer\'s words (not PackedLinear\'s rows*outFeatures)', () => {
    // dModel 1, one head of 4096: x [1, 2**21, 1] projects to 2**33 floats.
    const wide = new MultiHeadAttention({ dModel: 1, numHeads: 1, headDim: 4096, weights: { wq: new Float32Array(4096), wk: new Float32Array(4096), wv: new Float32Array(4096), wo: new Float32Array(4096) } });
    const x = { data: new Float32Array(2 ** 21), shape: [1, 2 ** 21, 1] };
    expect(() => wide.forward(x)).toThrow(new RangeError("MultiHeadAttention: expected x's positions times numHeads*headDim (4096) to be at most 4294967296 but received 8589934592"));
    expect(() => wide.forward({ data: new Float32Array(2), shape: [1, 2, 1] }, { context: x })).toThrow(
      new RangeError("MultiHeadAttention: expected options.context's positions times numKvHeads*headDim (4096) to be at most 4294967296 but received 8589934592"),
    );
    expect(() => wide.step(x, wide.createCache(1, 4))).toThrow(new RangeError("MultiHeadAttention.step: expected x's positions times numHeads*headDim (4096) to be at most 4294967296 but received 8589934592"));
    expect(() => wide.step(tensor([1, 1, 2], 1), wide.createCache(1, 4))).toThrow(new RangeError('MultiHeadAttention.step: expected x.shape[2] to equal dModel (1) but received 2'));
  });

  describe('forward checks options.mask and options.keyPadding in its own words (not attention()\'s q, k or layout "blhd")', () => {
    const mha = new MultiHeadAttention({ dModel: 16, numHeads: 2, weights });
    // B = 2, Lq = 5, Lk = 12.
    const x = tensor([2, 5, 16], 1);
    const context = tensor([2, 12, 16], 2);
    it.each([
      [{ mask: filledTensor([2, 2, 5, 7]) }, new RangeError('MultiHeadAttention: expected options.mask.shape[3] to be 1 or the key length Lk (12) but received 7')],
      [{ mask: filledTensor([5, 5]) }, new RangeError('MultiHeadAttention: expected options.mask.shape[1] to be 1 or the key length Lk (12) but received 5')],
      [{ mask: filledTensor([3, 1, 5, 12]) }, new RangeError('MultiHeadAttention: expected options.mask.shape[0] to be 1 or the batch B (2) but received 3')],
      [{ mask: filledTensor([4, 5, 12]) }, new RangeError('MultiHeadAttention: expected options.mask.shape[0] to be 1 or numHeads (2) but received 4')],
      [{ mask: filledTensor([6, 12]) }, new RangeError('MultiHeadAttention: expected options.mask.shape[0] to be 1 or the query length Lq (5) but received 6')],
      [{ mask: filledTensor([1, 1, 1, 5, 12]) }, new RangeError('MultiHeadAttention: expected options.mask.shape.length to be 1, 2, 3 or 4 but received 5')],
      [{ mask: new Float32Array(120) }, new TypeError('MultiHeadAttention: expected options.mask to be an object { data: Float32Array | Uint8Array, shape: number[] } but received Float32Array(120)')],
      [{ mask: { data: new Int8Array(60), shape: [5, 12] } }, new TypeError('MultiHeadAttention: expected options.mask.data to be a Float32Array (additive) or a Uint8Array (boolean) but received Int8Array(60)')],
      [{ mask: { data: new Uint8Array(59), shape: [5, 12] } }, new RangeError('MultiHeadAttention: expected options.mask.data.length to equal the product of options.mask.shape (60) but received 59')],
      [{ keyPadding: new Uint8Array(10) }, new RangeError('MultiHeadAttention: expected options.keyPadding.length to equal B*Lk, the batch times the key length (2*12 = 24) but received 10')],
      [{ keyPadding: new Int8Array(24) }, new TypeError('MultiHeadAttention: expected options.keyPadding to be a Uint8Array but received Int8Array(24)')],
    ])('%#', async (options, error) => {
      expect(() => mha.forward(x, { context, ...options } as never)).toThrow(error);
      await expect(mha.forwardAsync(x, { context, ...options } as never)).rejects.toThrow(error);
    });

    it('a rank-2 x has a batch of 1', () => {
      expect(() => mha.forward(tensor([5, 16], 3), { mask: filledTensor([2, 1, 5, 5]) })).toThrow(
        new RangeError('MultiHeadAttention: expected options.mask.shape[0] to be 1 (the batch B) but received 2'),
      );
    });

    it('masks that broadcast still reach attention(): a [B, 1, 1, Lk] boolean mask == keyPadding', () => {
      const keep = new Uint8Array(24).map((_, i) => (i % 5 === 2 ? 0 : 1));
      const padded = mha.forward(x, { context, keyPadding: keep });
      expect(mha.forward(x, { context, mask: { data: keep, shape: [2, 1, 1, 12] } }).data).toEqual(padded.data);
      expect(mha.forward(x, { context, mask: { data: keep.subarray(0, 12), shape: [1, 12] } }).data).not.toEqual(padded.data);
    });

    it('a mask that broadcasts along the keys: a [B, 1, 1, 1] boolean mask hides whole batch rows (their output is the bias bo, or zeros)', () => {
      const y = mha.forward(x, { context, mask: { data: new Uint8Array([1, 0]), shape: [2, 1, 1, 1] } });
      expect(y.data.subarray(0, 5 * 16)).toEqual(mha.forward(x, { context }).data.subarray(0, 5 * 16));
      const bo = (weights.bo as Float32Array | null | undefined) ?? new Float32Array(16);
      for (let t = 0; t < 5; t++) expect(y.data.subarray((5 + t) * 16, (6 + t) * 16)).toEqual(bo);
    });
  });
});
