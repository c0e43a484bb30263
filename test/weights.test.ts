/**
 * The weights convention of every layer (MultiHeadAttention, packLinear,
 * CrissCrossAttention, CoordinateAttention): weights are copied at
 * construction (mutating the caller's arrays later changes nothing), each may
 * be a bare Float32Array or a { data, shape } tensor of the layer's geometry,
 * and unknown keys (a misspelt bias would be dropped silently) are refused
 * with the whole list of accepted ones. On the JS and the native backend.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { randn } from './oracle/prng.mjs';
import { loadJsLib, expectError, product, type Lib } from './helpers';

const jsLib: Lib = await loadJsLib();

const backends: Array<{ name: string; lib: Lib }> = [{ name: 'js', lib: jsLib }];
if (nativeAddon() !== null) backends.push({ name: 'native', lib: nativeLib });

let seed = 1;
const random = (n: number, scale = 0.3): Float32Array => randn(n, seed++).map((x) => x * scale);
const tensor = (shape: number[]): Tensor => ({ data: random(product(shape), 1), shape });
const asTensor = (data: Float32Array, shape: number[]): Tensor => ({ data, shape });

/** Every Float32Array anywhere in `weights` (the caller's arrays a layer must not keep). */
function arraysIn(weights: unknown): Float32Array[] {
  if (weights instanceof Float32Array) return [weights];
  if (typeof weights !== 'object' || weights === null) return [];
  return Object.values(weights).flatMap(arraysIn);
}

/** Builds a layer from `weights`, runs it, scribbles over every weight array, runs it again: same bits. */
function expectCopied(weights: unknown, build: () => { forward: (x: Tensor) => Tensor }, x: Tensor): void {
  const layer = build();
  const before = layer.forward(x).data.slice();
  const arrays = arraysIn(weights);
  expect(arrays.length).toBeGreaterThan(0);
  for (const array of arrays) array.fill(Number.NaN);
  expect(layer.forward(x).data).toEqual(before);
}

// ---- weights of each layer, bare arrays -----------------------------------------

const D_MODEL = 16, HEADS = 2;
const mhaWeights = () => ({
  wq: random(D_MODEL * D_MODEL), wk: random(D_MODEL * D_MODEL), wv: random(D_MODEL * D_MODEL), wo: random(D_MODEL * D_MODEL),
  bq: random(D_MODEL), bk: random(D_MODEL), bv: random(D_MODEL), bo: random(D_MODEL),
});
const conv = (cout: number, cin: number) => ({ weight: random(cout * cin), bias: random(cout) });
const C = 16, QK = 2, MIP = 8;
const crissCrossWeights = () => ({ query_conv: conv(QK, C), key_conv: conv(QK, C), value_conv: conv(C, C), gamma: 0.7 });
const bn = () => ({ weight: random(MIP).map((g) => 1 + g), bias: random(MIP), running_mean: random(MIP), running_var: random(MIP).map((s) => 1 + Math.abs(s)) });
const coordinateWeights = () => ({ conv1: conv(MIP, C), bn1: bn(), conv_h: conv(C, MIP), conv_w: conv(C, MIP) });
const image = () => tensor([2, C, 5, 3]);

describe.each(backends)('weights are copied at construction ($name)', ({ lib }) => {
  it('MultiHeadAttention', () => {
    const weights = mhaWeights();
    expectCopied(weights, () => new lib.MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, weights }), tensor([2, 5, D_MODEL]));
  });

  it('MultiHeadAttention, tensor-form weights', () => {
    const w = mhaWeights();
    const weights = { wq: asTensor(w.wq, [16, 16]), wk: asTensor(w.wk, [16, 16]), wv: w.wv, wo: w.wo, bq: asTensor(w.bq, [16]), bo: w.bo };
    expectCopied(weights, () => new lib.MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, weights }), tensor([2, 5, D_MODEL]));
  });

  it('packLinear', () => {
    const weight = tensor([5, 3]), bias = tensor([5]);
    expectCopied([weight, bias], () => lib.packLinear(weight, bias), tensor([4, 3]));
  });

  it('CrissCrossAttention', () => {
    const weights = { ...crissCrossWeights(), gamma: Float32Array.of(0.7) };
    expectCopied(weights, () => new lib.CrissCrossAttention({ channels: C, weights }), image());
  });

  it('CoordinateAttention', () => {
    const weights = coordinateWeights();
    expectCopied(weights, () => new lib.CoordinateAttention({ channels: C, mip: MIP, weights }), image());
  });
});

describe.each(backends)('tensor-form weights give the bare arrays\' output ($name)', ({ lib }) => {
  it('MultiHeadAttention: wq/wk/wv/wo as [out, in] tensors, biases as [out]', () => {
    const w = mhaWeights();
    const x = tensor([2, 5, D_MODEL]);
    const bare = new lib.MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, weights: w }).forward(x);
    const tensors = {
      wq: asTensor(w.wq, [16, 16]), wk: asTensor(w.wk, [16, 16]), wv: asTensor(w.wv, [16, 16]), wo: asTensor(w.wo, [16, 16]),
      bq: asTensor(w.bq, [16]), bk: asTensor(w.bk, [16]), bv: asTensor(w.bv, [16]), bo: asTensor(w.bo, [16]),
    };
    expect(new lib.MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, weights: tensors }).forward(x).data).toEqual(bare.data);
  });

  it('CrissCrossAttention: conv weights [Cout, Cin, 1, 1] or [Cout, Cin], gamma a number, a Float32Array(1) or a [1] tensor', () => {
    const w = crissCrossWeights();
    const x = image();
    const bare = new lib.CrissCrossAttention({ channels: C, weights: w }).forward(x).data;
    const asConv4 = (c: { weight: Float32Array; bias: Float32Array }, cout: number, cin: number) => ({ weight: asTensor(c.weight, [cout, cin, 1, 1]), bias: asTensor(c.bias, [cout]) });
    const weights = { query_conv: asConv4(w.query_conv, QK, C), key_conv: { weight: asTensor(w.key_conv.weight, [QK, C]), bias: w.key_conv.bias }, value_conv: asConv4(w.value_conv, C, C) };
    for (const gamma of [0.7, Float32Array.of(0.7), asTensor(Float32Array.of(0.7), [1])]) {
      // 0.7 and Math.fround(0.7) differ: compare against a layer built with the same gamma.
      const reference = new lib.CrissCrossAttention({ channels: C, weights: { ...w, gamma } }).forward(x).data;
      expect(new lib.CrissCrossAttention({ channels: C, weights: { ...weights, gamma } }).forward(x).data).toEqual(reference);
    }
    expect(new lib.CrissCrossAttention({ channels: C, weights: { ...weights, gamma: 0.7 } }).forward(x).data).toEqual(bare);
  });

  it('CoordinateAttention: convs and every bn1 statistic as tensors; num_batches_tracked accepted and ignored', () => {
    const w = coordinateWeights();
    const x = image();
    const bare = new lib.CoordinateAttention({ channels: C, mip: MIP, weights: w }).forward(x).data;
    const weights = {
      conv1: { weight: asTensor(w.conv1.weight, [MIP, C, 1, 1]), bias: asTensor(w.conv1.bias, [MIP]) },
      bn1: {
        weight: asTensor(w.bn1.weight, [MIP]), bias: asTensor(w.bn1.bias, [MIP]),
        running_mean: asTensor(w.bn1.running_mean, [MIP]), running_var: asTensor(w.bn1.running_var, [MIP]),
        num_batches_tracked: BigInt64Array.of(1234n),
      },
      conv_h: { weight: asTensor(w.conv_h.weight, [C, MIP]), bias: w.conv_h.bias },
      conv_w: { weight: asTensor(w.conv_w.weight, [C, MIP, 1, 1]), bias: null },
    };
    const noBias = new lib.CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, conv_w: { weight: w.conv_w.weight } } }).forward(x).data;
    expect(new lib.CoordinateAttention({ channels: C, mip: MIP, weights }).forward(x).data).toEqual(noBias);
    expect(noBias).not.toEqual(bare);
  });
});

describe('unknown weight keys are refused, with the accepted ones listed', () => {
  const { MultiHeadAttention, CrissCrossAttention, CoordinateAttention } = nativeLib;
  const mha = (weights: object) => () => new MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, weights: weights as never });
  const accepted = 'wq, wk, wv, wo, bq, bk, bv, bo';

  it.each([
    ['b_o', { ...mhaWeights(), bo: undefined, b_o: random(16) }, `MultiHeadAttention: expected weights keys to be among ${accepted} but received "b_o"`],
    ['bO', { ...mhaWeights(), bo: undefined, bO: random(16) }, `MultiHeadAttention: expected weights keys to be among ${accepted} but received "bO"`],
    [
      'in_proj_weight',
      { in_proj_weight: random(3 * 16 * 16), wo: random(256) },
      `MultiHeadAttention: expected weights keys to be among ${accepted} (split PyTorch's in_proj_weight [3*dModel, dModel] into its three row blocks wq, wk, wv) but received "in_proj_weight"`,
    ],
    [
      'in_proj_bias',
      { ...mhaWeights(), in_proj_bias: random(48) },
      `MultiHeadAttention: expected weights keys to be among ${accepted} (split PyTorch's in_proj_bias [3*dModel] into bq, bk, bv) but received "in_proj_bias"`,
    ],
    [
      'out_proj.weight',
      { ...mhaWeights(), 'out_proj.weight': random(256) },
      `MultiHeadAttention: expected weights keys to be among ${accepted} (pass PyTorch's out_proj.weight as wo) but received "out_proj.weight"`,
    ],
  ])('MultiHeadAttention: %s', (_name, weights, message) => {
    expectError(mha(weights), TypeError, message);
  });

  it('CrissCrossAttention: a conv\'s { weight, Bias }, and a misspelt top-level key', () => {
    const w = crissCrossWeights();
    expectError(
      () => new CrissCrossAttention({ channels: C, weights: { ...w, value_conv: { weight: w.value_conv.weight, Bias: w.value_conv.bias } as never } }),
      TypeError,
      'CrissCrossAttention: expected weights.value_conv keys to be among weight, bias but received "Bias"',
    );
    expectError(
      () => new CrissCrossAttention({ channels: C, weights: { ...w, gama: 0.5 } as never }),
      TypeError,
      'CrissCrossAttention: expected weights keys to be among query_conv, key_conv, value_conv, gamma but received "gama"',
    );
  });

  it('CoordinateAttention: a conv\'s { weight, Bias }, bn1\'s running_variance, a misspelt top-level key', () => {
    const w = coordinateWeights();
    expectError(
      () => new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, conv1: { weight: w.conv1.weight, Bias: w.conv1.bias } as never } }),
      TypeError,
      'CoordinateAttention: expected weights.conv1 keys to be among weight, bias but received "Bias"',
    );
    expectError(
      () => new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, bn1: { ...w.bn1, running_variance: w.bn1.running_var } as never } }),
      TypeError,
      'CoordinateAttention: expected weights.bn1 keys to be among weight, bias, running_mean, running_var, eps, num_batches_tracked but received "running_variance"',
    );
    expectError(
      () => new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, conv_x: w.conv_w } as never }),
      TypeError,
      'CoordinateAttention: expected weights keys to be among conv1, bn1, conv_h, conv_w but received "conv_x"',
    );
  });
});

describe('weights of the wrong shape or kind', () => {
  const { MultiHeadAttention, CrissCrossAttention, CoordinateAttention } = nativeLib;

  it('MultiHeadAttention', () => {
    const w = mhaWeights();
    const build = (weights: object) => () => new MultiHeadAttention({ dModel: D_MODEL, numHeads: HEADS, numKvHeads: 1, weights: weights as never });
    const kv = { ...w, wk: random(8 * 16), wv: random(8 * 16), bk: random(8), bv: random(8) };
    expectError(build({ ...kv, wq: asTensor(random(16 * 17), [16, 17]) }), RangeError, 'MultiHeadAttention: expected weights.wq.shape to be [16, 16] ([numHeads*headDim, dModel]) but received [16, 17]');
    expectError(build({ ...kv, wk: asTensor(w.wk, [16, 16]) }), RangeError, 'MultiHeadAttention: expected weights.wk.shape to be [8, 16] ([numKvHeads*headDim, contextDim]) but received [16, 16]');
    expectError(build({ ...kv, wo: asTensor(w.wo, [256]) }), RangeError, 'MultiHeadAttention: expected weights.wo.shape to be [16, 16] ([dModel, numHeads*headDim]) but received [256]');
    expectError(build({ ...kv, bv: asTensor(random(16), [16]) }), RangeError, 'MultiHeadAttention: expected weights.bv.shape to be [8] ([numKvHeads*headDim]) but received [16]');
    expectError(build({ ...kv, wv: random(16 * 16) }), RangeError, 'MultiHeadAttention: expected weights.wv.length to equal 128 ([numKvHeads*headDim, contextDim] = [8, 16]) but received 256');
    expectError(build({ ...kv, bq: random(3) }), RangeError, 'MultiHeadAttention: expected weights.bq.length to equal 16 ([numHeads*headDim] = [16]) but received 3');
    expectError(
      build({ ...kv, wq: Array.from(w.wq) }),
      TypeError,
      'MultiHeadAttention: expected weights.wq to be a Float32Array of 256 floats or a tensor { data, shape: [16, 16] } ([numHeads*headDim, dModel]) but received Array',
    );
    expectError(
      build({ ...kv, wk: { data: new Float64Array(128), shape: [8, 16] } }),
      TypeError,
      'MultiHeadAttention: expected weights.wk.data to be a Float32Array but received Float64Array(128)',
    );
    expectError(
      build({ ...kv, wk: { data: random(127), shape: [8, 16] } }),
      RangeError,
      'MultiHeadAttention: expected weights.wk.data.length to equal the product of weights.wk.shape (128) but received 127',
    );
  });

  it('CrissCrossAttention: conv weight [Cout, Cin, 3, 3], bias [Cout + 1], gamma [2]', () => {
    const w = crissCrossWeights();
    const build = (weights: object) => () => new CrissCrossAttention({ channels: C, weights: { ...w, ...weights } as never });
    expectError(
      build({ query_conv: { weight: asTensor(random(QK * C * 9), [QK, C, 3, 3]) } }),
      RangeError,
      'CrissCrossAttention: expected weights.query_conv.weight.shape to be [2, 16, 1, 1] ([Cout, Cin, 1, 1]) but received [2, 16, 3, 3]',
    );
    expectError(
      build({ key_conv: { weight: w.key_conv.weight, bias: asTensor(random(QK + 1), [QK + 1]) } }),
      RangeError,
      'CrissCrossAttention: expected weights.key_conv.bias.shape to be [2] ([Cout]) but received [3]',
    );
    expectError(
      build({ value_conv: { weight: random(C * 8) } }),
      RangeError,
      'CrissCrossAttention: expected weights.value_conv.weight.length to equal 256 ([Cout, Cin, 1, 1] = [16, 16, 1, 1]) but received 128',
    );
    expectError(build({ gamma: asTensor(Float32Array.of(1, 2), [2]) }), RangeError, 'CrissCrossAttention: expected weights.gamma.shape to be [1] (a scalar) but received [2]');
    expectError(build({ gamma: Float32Array.of(1, 2) }), RangeError, 'CrissCrossAttention: expected weights.gamma.length to equal 1 (a scalar = [1]) but received 2');
    expectError(build({ gamma: '0.5' }), TypeError, 'CrissCrossAttention: expected weights.gamma to be a number, a Float32Array of length 1 or a tensor { data, shape: [1] } but received "0.5"');
  });

  it('CrissCrossAttention: a NaN gamma is named with its value', () => {
    const w = crissCrossWeights();
    const build = (gamma: unknown) => () => new CrissCrossAttention({ channels: C, weights: { ...w, gamma } as never });
    expectError(build(Float32Array.of(Number.NaN)), RangeError, 'CrissCrossAttention: expected weights.gamma to be finite but received Float32Array [NaN]');
    expectError(build(asTensor(Float32Array.of(Infinity), [1])), RangeError, 'CrissCrossAttention: expected weights.gamma.data to be finite but received Float32Array [Infinity]');
    expectError(build(Number.NaN), RangeError, 'CrissCrossAttention: expected weights.gamma to be finite but received NaN');
  });

  it('CoordinateAttention: bn1 statistics of the wrong shape', () => {
    const w = coordinateWeights();
    expectError(
      () => new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, bn1: { ...w.bn1, running_var: asTensor(random(2 * MIP), [MIP, 2]) } } }),
      RangeError,
      'CoordinateAttention: expected weights.bn1.running_var.shape to be [8] ([mip]) but received [8, 2]',
    );
    expectError(
      () => new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, conv_h: { weight: asTensor(random(C * MIP), [MIP, C, 1, 1]) } } }),
      RangeError,
      'CoordinateAttention: expected weights.conv_h.weight.shape to be [16, 8, 1, 1] ([Cout, Cin, 1, 1]) but received [8, 16, 1, 1]',
    );
  });

  it('CoordinateAttention: bn1 must be finite, running_var >= 0, eps > 0 (else every output is NaN)', () => {
    const w = coordinateWeights();
    const withBn = (change: object) => () => new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, bn1: { ...w.bn1, ...change } } });
    const at = (name: 'weight' | 'bias' | 'running_mean' | 'running_var', index: number, value: number) => {
      const values = w.bn1[name].slice();
      values[index] = value;
      return { [name]: values };
    };
    expectError(withBn(at('running_var', 3, -1)), RangeError, 'CoordinateAttention: expected weights.bn1.running_var[3] to be finite and >= 0 but received -1');
    expectError(withBn(at('running_var', 0, Number.NaN)), RangeError, 'CoordinateAttention: expected weights.bn1.running_var[0] to be finite and >= 0 but received NaN');
    expectError(withBn(at('running_var', 7, Infinity)), RangeError, 'CoordinateAttention: expected weights.bn1.running_var[7] to be finite and >= 0 but received Infinity');
    expectError(withBn(at('weight', 2, Number.NaN)), RangeError, 'CoordinateAttention: expected weights.bn1.weight[2] to be finite but received NaN');
    expectError(withBn(at('bias', 5, -Infinity)), RangeError, 'CoordinateAttention: expected weights.bn1.bias[5] to be finite but received -Infinity');
    expectError(withBn(at('running_mean', 1, Number.NaN)), RangeError, 'CoordinateAttention: expected weights.bn1.running_mean[1] to be finite but received NaN');
    expectError(withBn({ eps: Number.NaN }), RangeError, 'CoordinateAttention: expected weights.bn1.eps to be a finite number > 0 but received NaN');
    expectError(withBn({ eps: 0 }), RangeError, 'CoordinateAttention: expected weights.bn1.eps to be a finite number > 0 but received 0');
    // A zero variance is a real (if degenerate) statistic: eps keeps the scale finite.
    const zeroVariance = new CoordinateAttention({ channels: C, mip: MIP, weights: { ...w, bn1: { ...w.bn1, running_var: new Float32Array(MIP) } } });
    expect(zeroVariance.forward(image()).data.every(Number.isFinite)).toBe(true);
  });
});
