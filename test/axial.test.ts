/**
 * Axial attention: the bare axialAttention() op, and the AxialAttention and
 * AxialPositionalEmbedding layers of lucidrains' PyTorch package
 * axial_attention (0.6.1, commit eff2c10). The layers are checked against a
 * float64 transcription of that package's forward written here step by step
 * (permute, reshape to sequences, SelfAttention, inverse permute), and against
 * test/fixtures/axial-lucidrains.json (that package's own source run on a numpy
 * stand-in for torch, by test/fixtures/axial-lucidrains.py), on the JS backend
 * and on the native one for every ISA this CPU supports. Plus weight handling
 * (copies, tensor form, unknown and missing names) and argument errors.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { referenceAxial, relFrobenius, softmaxCombine } from './oracle/attention.mjs';
import { referenceLinear } from './oracle/linear.mjs';
import { tensorSequence, loadJsLib, backendRunners, product, type Lib } from './helpers';
import { onceCache } from './oracle/inputs.mjs';

const TOLERANCE = 1e-5;

const jsLib: Lib = await loadJsLib();

const runners = backendRunners<Lib>(jsLib, nativeLib);

const tensor = tensorSequence();

// Inputs and references are computed once per case and shared by every runner.
const once = onceCache();

// ---- the bare op ---------------------------------------------------------------------

const MAPS: Array<[number, number]> = [[1, 1], [1, 7], [13, 5], [64, 64]];

describe.each(runners)('$name: axialAttention', ({ lib, prepare }) => {
  describe.each(MAPS)('%i×%i map', (H, W) => {
    it.each(['height', 'width'] as const)('along %s (B = 2, 3 heads, D = 5, Dv = 3; causal and not)', (axis) => {
      const { q, k, v, expected } = once(`axial ${H}x${W} ${axis}`, () => {
        const q = tensor([2, 3, H, W, 5]), k = tensor([2, 3, H, W, 5]), v = tensor([2, 3, H, W, 3]);
        return { q, k, v, expected: [false, true].map((causal) => referenceAxial(q, k, v, axis, causal, 1 / Math.sqrt(5))) };
      });
      for (const causal of [false, true]) {
        prepare();
        const out = lib.axialAttention(q, k, v, { axis, causal });
        expect(out.shape).toEqual([2, 3, H, W, 3]);
        expect(relFrobenius(out.data, expected[Number(causal)])).toBeLessThan(TOLERANCE);
      }
    });
  });

  it('writes into the caller\'s out buffer and honours scale', () => {
    prepare();
    const q = tensor([1, 2, 5, 3, 4]), k = tensor([1, 2, 5, 3, 4]), v = tensor([1, 2, 5, 3, 2]);
    const out = new Float32Array(60);
    expect(lib.axialAttention(q, k, v, { axis: 'width', scale: 0.3, out }).data).toBe(out);
    expect(relFrobenius(out, referenceAxial(q, k, v, 'width', false, 0.3))).toBeLessThan(TOLERANCE);
  });
});

// ---- lucidrains' AxialAttention, transcribed in float64 ------------------------------------

/** A row-major float64 array of any rank. */
interface Nd {
  data: Float64Array;
  shape: number[];
}

/** torch.permute(...).contiguous(): out.shape[i] = t.shape[perm[i]]. */
function permute(t: Nd, perm: number[]): Nd {
  const shape = perm.map((axis) => t.shape[axis]);
  const inStrides = t.shape.map((_, axis) => product(t.shape.slice(axis + 1)));
  const data = new Float64Array(t.data.length);
  const index = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let source = 0;
    for (let i = 0; i < shape.length; i++) source += index[i] * inStrides[perm[i]];
    data[o] = t.data[source];
    for (let i = shape.length - 1; i >= 0 && ++index[i] === shape[i]; i--) index[i] = 0;
  }
  return { data, shape };
}

/** calculate_permutations(num_dimensions, emb_dim): per axial dim, the other dims (ascending, as Python's set of small ints iterates), then [axial, emb]. */
function calculatePermutations(numDimensions: number, embDim: number): number[][] {
  const total = numDimensions + 2;
  const emb = embDim > 0 ? embDim : embDim + total;
  const axialDims: number[] = [];
  for (let d = 1; d < total; d++) if (d !== emb) axialDims.push(d);
  return axialDims.map((axial) => {
    const rest: number[] = [];
    for (let d = 0; d < total; d++) if (d !== axial && d !== emb) rest.push(d);
    return [...rest, axial, emb];
  });
}

/** SelfAttention.forward on x [n, t, dim] with the weights under `prefix` (e.g. "axial_attentions.0.fn."). */
function selfAttention(x: Float64Array, n: number, t: number, dim: number, heads: number, dimHeads: number, weights: Record<string, Float32Array>, prefix: string): Float64Array {
  const hidden = heads * dimHeads;
  const q = referenceLinear(x, n * t, dim, weights[`${prefix}to_q.weight`], hidden);
  const kv = referenceLinear(x, n * t, dim, weights[`${prefix}to_kv.weight`], 2 * hidden); // chunk(2, dim=-1): k, then v
  const merged = new Float64Array(n * t * hidden);
  for (let s = 0; s < n; s++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < t; i++) {
        const query = Array.from({ length: dimHeads }, (_, e) => q[(s * t + i) * hidden + h * dimHeads + e]);
        const scores: number[] = [];
        const values: number[][] = [];
        for (let j = 0; j < t; j++) {
          const row = (s * t + j) * 2 * hidden;
          let dot = 0;
          for (let e = 0; e < dimHeads; e++) dot += query[e] * kv[row + h * dimHeads + e];
          scores.push(dot * dimHeads ** -0.5);
          values.push(Array.from({ length: dimHeads }, (_, e) => kv[row + hidden + h * dimHeads + e]));
        }
        softmaxCombine(scores, values).forEach((value, e) => (merged[(s * t + i) * hidden + h * dimHeads + e] = value));
      }
  return referenceLinear(merged, n * t, hidden, weights[`${prefix}to_out.weight`], dim, weights[`${prefix}to_out.bias`]);
}

interface LayerCase {
  dim: number;
  heads?: number;
  dimHeads?: number;
  dimIndex?: 1 | 2 | 3 | -1 | -2 | -3;
  sumAxialOut?: boolean;
  H: number;
  W: number;
}

/** AxialAttention.forward: each PermuteToFrom(permutation, SelfAttention), summed or chained. */
function referenceAxialAttention(x: Tensor, c: LayerCase, weights: Record<string, Float32Array>): Float64Array {
  const { dim, heads = 8, dimIndex = -1, sumAxialOut = true } = c;
  const dimHeads = c.dimHeads ?? Math.floor(dim / heads);
  const passes = calculatePermutations(2, dimIndex).map((perm, p) => (input: Nd): Nd => {
    const axial = permute(input, perm);
    const [t, d] = axial.shape.slice(-2);
    const n = axial.data.length / (t * d);
    const attended = { data: selfAttention(axial.data, n, t, d, heads, dimHeads, weights, `axial_attentions.${p}.fn.`), shape: axial.shape };
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return permute(attended, inverse);
  });
  const input: Nd = { data: Float64Array.from(x.data), shape: x.shape };
  if (sumAxialOut) {
    const [a, b] = passes.map((pass) => pass(input));
    return a.data.map((value, i) => value + b.data[i]);
  }
  return passes[1](passes[0](input)).data;
}

/** A state_dict of AxialAttention(dim, heads, dim_heads) with random weights. */
function randomWeights(dim: number, hidden: number): Record<string, Float32Array> {
  const weights: Record<string, Float32Array> = {};
  for (const p of [0, 1]) {
    weights[`axial_attentions.${p}.fn.to_q.weight`] = tensor([hidden, dim], 1 / Math.sqrt(dim)).data;
    weights[`axial_attentions.${p}.fn.to_kv.weight`] = tensor([2 * hidden, dim], 1 / Math.sqrt(dim)).data;
    weights[`axial_attentions.${p}.fn.to_out.weight`] = tensor([dim, hidden], 1 / Math.sqrt(hidden)).data;
    weights[`axial_attentions.${p}.fn.to_out.bias`] = tensor([dim], 0.1).data;
  }
  return weights;
}

/** x's shape for a case: B = 2, the channels at dimIndex. */
function inputShape({ dim, dimIndex = -1, H, W }: LayerCase): number[] {
  const shape = [2, H, W];
  shape.splice(dimIndex < 0 ? dimIndex + 4 : dimIndex, 0, dim);
  return shape;
}

const LAYER_CASES: LayerCase[] = [
  { dim: 8, heads: 2, dimIndex: 1, sumAxialOut: true, H: 5, W: 3 },
  { dim: 8, heads: 4, dimHeads: 3, dimIndex: -1, sumAxialOut: false, H: 3, W: 6 },
  { dim: 6, heads: 1, dimHeads: 5, dimIndex: 1, sumAxialOut: false, H: 1, W: 7 },
  { dim: 6, heads: 1, dimIndex: -1, sumAxialOut: true, H: 4, W: 4 },
  { dim: 8, heads: 2, dimIndex: -2, sumAxialOut: false, H: 6, W: 2 },
  { dim: 16, dimIndex: 3, H: 2, W: 5 }, // PyTorch's defaults: heads 8, sum_axial_out
  { dim: 4, heads: 2, H: 1, W: 1 }, // dim_index -1 by default
];

const caseName = (c: LayerCase): string =>
  `dim ${c.dim}, heads ${c.heads ?? '8 (default)'}, dimHeads ${c.dimHeads ?? 'default'}, dimIndex ${c.dimIndex ?? '-1 (default)'}, sumAxialOut ${c.sumAxialOut ?? 'true (default)'}, ${c.H}×${c.W}`;

function layerCase(c: LayerCase) {
  return once(`layer ${caseName(c)}`, () => {
    const hidden = (c.heads ?? 8) * (c.dimHeads ?? c.dim / (c.heads ?? 8));
    const weights = randomWeights(c.dim, hidden);
    const x = tensor(inputShape(c));
    return { weights, x, expected: referenceAxialAttention(x, c, weights) };
  });
}

function config(c: LayerCase, weights: Record<string, Float32Array | Tensor>): nativeLib.AxialAttentionConfig {
  const { H: _H, W: _W, ...rest } = c;
  return { ...rest, weights };
}

describe.each(runners)('$name: AxialAttention (lucidrains), B = 2', ({ lib, prepare }) => {
  it.each(LAYER_CASES.map((c) => [caseName(c), c] as const))('%s: forward and forwardAsync', async (_, c) => {
    const { weights, x, expected } = layerCase(c);
    prepare();
    const layer = new lib.AxialAttention(config(c, weights));
    const out = layer.forward(x);
    expect(out.shape).toEqual(x.shape);
    expect(relFrobenius(out.data, expected)).toBeLessThan(TOLERANCE);
    // forwardAsync reads x before it returns: changing x afterwards changes nothing.
    const changing = { data: x.data.slice(), shape: [...x.shape] };
    const pending = layer.forwardAsync(changing);
    changing.data.fill(Number.NaN);
    changing.shape.fill(1);
    const outAsync = await pending;
    expect(outAsync.shape).toEqual(x.shape);
    expect(relFrobenius(outAsync.data, expected)).toBeLessThan(TOLERANCE);
  });
});

// ---- the fixture made by lucidrains' own source ----------------------------------------------

interface FixtureTensor {
  shape: number[];
  data: number[];
}
interface FixtureCase {
  config: Record<string, number | boolean | number[]>;
  x: FixtureTensor;
  state_dict: Record<string, FixtureTensor>;
  out: FixtureTensor;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/axial-lucidrains.json', import.meta.url), 'utf8')) as {
  AxialAttention: FixtureCase[];
  AxialPositionalEmbedding: FixtureCase[];
};
const fromFixture = (t: FixtureTensor): Tensor => ({ data: Float32Array.from(t.data), shape: t.shape });
/** PyTorch's keyword arguments → this package's config keys (dim_heads → dimHeads). */
const camelCase = (config: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(config).map(([key, value]) => [key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), value]));
const stateDict = (c: FixtureCase): Record<string, Tensor> => Object.fromEntries(Object.entries(c.state_dict).map(([name, t]) => [name, fromFixture(t)]));

describe.each(runners)('$name: lucidrains\' own outputs (test/fixtures/axial-lucidrains.json)', ({ lib, prepare }) => {
  it.each(fixture.AxialAttention.map((c) => [JSON.stringify(c.config), c] as const))('AxialAttention(%s)', async (_, c) => {
    prepare();
    const layer = new lib.AxialAttention({ ...camelCase(c.config), weights: stateDict(c) } as nativeLib.AxialAttentionConfig);
    const x = fromFixture(c.x);
    for (const out of [layer.forward(x), await layer.forwardAsync(x)]) {
      expect(out.shape).toEqual(c.out.shape);
      expect(relFrobenius(out.data, c.out.data)).toBeLessThan(TOLERANCE);
    }
  });

  it.each(fixture.AxialPositionalEmbedding.map((c) => [JSON.stringify(c.config), c] as const))('AxialPositionalEmbedding(%s)', (_, c) => {
    prepare();
    const embedding = new lib.AxialPositionalEmbedding({ ...camelCase(c.config), weights: stateDict(c) } as nativeLib.AxialPositionalEmbeddingConfig);
    const out = embedding.forward(fromFixture(c.x));
    expect(out.shape).toEqual(c.out.shape);
    expect(relFrobenius(out.data, c.out.data)).toBeLessThan(1e-7);
  });
});

// ---- lucidrains' AxialPositionalEmbedding ------------------------------------------------

/** AxialPositionalEmbedding.__init__'s parameter shapes (emb_dim_index as given, not normalised, as there). */
function embeddingShapes(dim: number, shape: number[], embDimIndex: number): number[][] {
  const total = shape.length + 2;
  const axialIndexes: number[] = [];
  for (let i = 1; i < total; i++) if (i !== embDimIndex) axialIndexes.push(i);
  return shape.map((size, i) => {
    const paramShape = new Array<number>(total).fill(1);
    paramShape[embDimIndex < 0 ? embDimIndex + total : embDimIndex] = dim;
    paramShape[axialIndexes[i]] = size;
    return paramShape;
  });
}

/** x + param broadcast (numpy rules: a size-1 axis of param repeats). */
function broadcastAdd(x: Nd, param: Nd): Nd {
  const data = new Float64Array(x.data.length);
  const strides = param.shape.map((size, axis) => (size === 1 ? 0 : product(param.shape.slice(axis + 1))));
  const index = new Array<number>(x.shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    data[o] = Math.fround(x.data[o] + param.data[index.reduce((s, i, axis) => s + i * strides[axis], 0)]);
    for (let i = x.shape.length - 1; i >= 0 && ++index[i] === x.shape[i]; i--) index[i] = 0;
  }
  return { data, shape: x.shape };
}

const EMBEDDING_CASES: Array<{ embDimIndex?: 1 | 2 | 3 | -1; xShape: number[] }> = [
  { xShape: [2, 5, 3, 4] }, // emb_dim_index 1 by default: [B, dim, H, W]
  { embDimIndex: -1, xShape: [2, 3, 4, 5] },
  { embDimIndex: 3, xShape: [2, 1, 6, 5] },
  { embDimIndex: 2, xShape: [2, 3, 5, 2] },
];

describe.each(runners)('$name: AxialPositionalEmbedding', ({ lib, prepare }) => {
  it.each(EMBEDDING_CASES)('embDimIndex $embDimIndex, x $xShape', ({ embDimIndex, xShape }) => {
    const axis = embDimIndex === undefined ? 1 : embDimIndex < 0 ? embDimIndex + 4 : embDimIndex;
    const dim = xShape[axis];
    const spatial = xShape.filter((_, a) => a !== 0 && a !== axis);
    const shapes = embeddingShapes(dim, spatial, embDimIndex ?? 1);
    const params = shapes.map((shape) => tensor(shape));
    const x = tensor(xShape);
    const expected = params.reduce<Nd>((sum, p) => broadcastAdd(sum, { data: Float64Array.from(p.data), shape: p.shape }), { data: Float64Array.from(x.data), shape: xShape });
    prepare();
    const embedding = new lib.AxialPositionalEmbedding({ dim, shape: spatial, embDimIndex, weights: { param_0: params[0], param_1: params[1].data } });
    const out = embedding.forward(x);
    expect(out.shape).toEqual(xShape);
    // Rounded after each add, as PyTorch's float32 x + param_0 + param_1: the same floats.
    expect(Array.from(out.data)).toEqual(Array.from(expected.data));
  });
});

// ---- weights: copies, tensors, names -----------------------------------------------------------

describe('AxialAttention weights', () => {
  const c: LayerCase = { dim: 8, heads: 2, dimIndex: 1, H: 3, W: 4 };
  const names = [0, 1].flatMap((p) => ['to_q.weight', 'to_kv.weight', 'to_out.weight', 'to_out.bias'].map((w) => `axial_attentions.${p}.fn.${w}`));

  it.each(runners)('$name: are copied at construction (changing the caller\'s arrays later changes nothing)', ({ lib, prepare }) => {
    const { weights, x, expected } = layerCase(c);
    prepare();
    const copies = Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, w.slice()]));
    const layer = new lib.AxialAttention(config(c, copies));
    for (const w of Object.values(copies)) w.fill(Number.NaN);
    expect(relFrobenius(layer.forward(x).data, expected)).toBeLessThan(TOLERANCE);
  });

  it.each(runners)('$name: may be tensors { data, shape } in PyTorch\'s shapes', ({ lib, prepare }) => {
    const { weights, x, expected } = layerCase(c);
    prepare();
    const shapes: Record<string, number[]> = {};
    for (const p of [0, 1]) {
      shapes[`axial_attentions.${p}.fn.to_q.weight`] = [8, 8];
      shapes[`axial_attentions.${p}.fn.to_kv.weight`] = [16, 8];
      shapes[`axial_attentions.${p}.fn.to_out.weight`] = [8, 8];
      shapes[`axial_attentions.${p}.fn.to_out.bias`] = [8];
    }
    const tensors = Object.fromEntries(Object.entries(weights).map(([name, data]) => [name, { data, shape: shapes[name] }]));
    expect(relFrobenius(new lib.AxialAttention(config(c, tensors)).forward(x).data, expected)).toBeLessThan(TOLERANCE);
  });

  it('unknown names are TypeErrors listing the accepted names', () => {
    const { weights } = layerCase(c);
    const misspelt = { ...weights, 'axial_attentions.0.fn.to_q.bias': new Float32Array(8) };
    expect(() => new nativeLib.AxialAttention(config(c, misspelt))).toThrow(
      new TypeError(`AxialAttention: expected weights keys to be among ${names.join(', ')} but received "axial_attentions.0.fn.to_q.bias"`),
    );
    // A height/width/out_conv object (this package's former AxialAttention) is refused by its first key.
    expect(() => new nativeLib.AxialAttention({ dim: 8, weights: { height: {}, width: {}, out_conv: {} } as never })).toThrow(
      new TypeError(`AxialAttention: expected weights keys to be among ${names.join(', ')} but received "height"`),
    );
  });

  it('missing names and wrong shapes are refused with the PyTorch name', () => {
    const { weights } = layerCase(c);
    const { 'axial_attentions.1.fn.to_out.bias': _bias, ...missing } = weights;
    expect(() => new nativeLib.AxialAttention(config(c, missing))).toThrow(
      new TypeError('AxialAttention: expected weights["axial_attentions.1.fn.to_out.bias"] to be a Float32Array of 8 floats or a tensor { data, shape: [8] } ([dim]) but received undefined'),
    );
    const short = { ...weights, 'axial_attentions.0.fn.to_kv.weight': new Float32Array(64) };
    expect(() => new nativeLib.AxialAttention(config(c, short))).toThrow(
      new RangeError('AxialAttention: expected weights["axial_attentions.0.fn.to_kv.weight"].length to equal 128 ([2*heads*dimHeads, dim] = [16, 8]) but received 64'),
    );
    expect(() => new nativeLib.AxialAttention(config(c, { ...weights, 'axial_attentions.0.fn.to_out.weight': { data: new Float32Array(64), shape: [8, 8, 1] } }))).not.toThrow();
    expect(() => new nativeLib.AxialAttention(config(c, { ...weights, 'axial_attentions.0.fn.to_out.weight': { data: new Float32Array(64), shape: [4, 16] } }))).toThrow(
      new RangeError('AxialAttention: expected weights["axial_attentions.0.fn.to_out.weight"].shape to be [8, 8] ([dim, heads*dimHeads]) but received [4, 16]'),
    );
  });
});

describe('AxialPositionalEmbedding weights', () => {
  it.each(runners)('$name: are copied at construction and may be tensors', ({ lib, prepare }) => {
    prepare();
    const param0 = tensor([1, 3, 2, 1]), param1 = tensor([1, 3, 1, 4]);
    const x = tensor([1, 3, 2, 4]);
    const bare = new lib.AxialPositionalEmbedding({ dim: 3, shape: [2, 4], weights: { param_0: param0.data.slice(), param_1: param1.data.slice() } });
    const before = bare.forward(x).data;
    const mutable = { param_0: { data: param0.data.slice(), shape: [1, 3, 2, 1] }, param_1: { data: param1.data.slice(), shape: [1, 3, 1, 4] } };
    const fromTensors = new lib.AxialPositionalEmbedding({ dim: 3, shape: [2, 4], weights: mutable });
    mutable.param_0.data.fill(Number.NaN);
    mutable.param_1.data.fill(Number.NaN);
    expect(fromTensors.forward(x).data).toEqual(before);
  });

  it('unknown, missing and misshapen parameters are refused', () => {
    const param_0 = new Float32Array(6), param_1 = new Float32Array(12);
    const make = (weights: Record<string, unknown>, embDimIndex?: 1 | -1) => () => new nativeLib.AxialPositionalEmbedding({ dim: 3, shape: [2, 4], embDimIndex, weights: weights as never });
    expect(make({ param_0, param_1, param_2: param_1 })).toThrow(new TypeError('AxialPositionalEmbedding: expected weights keys to be among param_0, param_1 but received "param_2"'));
    expect(make({ param_0 })).toThrow(new TypeError('AxialPositionalEmbedding: expected weights.param_1 to be a Float32Array of 12 floats or a tensor { data, shape: [1, 3, 1, 4] } ([1, dim, 1, W]) but received undefined'));
    expect(() => new nativeLib.AxialPositionalEmbedding({ dim: 3, shape: [1, 4], weights: { param_0: new Float32Array(2), param_1 } })).toThrow(
      new RangeError('AxialPositionalEmbedding: expected weights.param_0.length to equal 3 ([1, dim, H, 1] = [1, 3, 1, 1]) but received 2'),
    );
    expect(make({ param_0: { data: param_0, shape: [1, 2, 1, 3] }, param_1 }, -1)).not.toThrow();
    expect(make({ param_0: { data: param_0, shape: [1, 3, 2, 1] }, param_1 }, -1)).toThrow(
      new RangeError('AxialPositionalEmbedding: expected weights.param_0.shape to be [1, 2, 1, 3] ([1, H, 1, dim]) but received [1, 3, 2, 1]'),
    );
  });
});

// ---- argument errors ---------------------------------------------------------------------------

describe('argument errors', () => {
  const lib = nativeLib;
  it('axialAttention', () => {
    const q = tensor([1, 2, 3, 4, 5]);
    expect(() => lib.axialAttention(q, q, q, { axis: 'depth' as 'height' })).toThrow(new TypeError('axialAttention: expected axis to be "height" or "width" but received "depth"'));
    expect(() => lib.axialAttention(q, tensor([1, 2, 3, 5, 5]), q, { axis: 'width' })).toThrow(new RangeError('axialAttention: expected k.shape[3] to equal q.shape[3] (4) but received 5'));
    expect(() => lib.axialAttention(tensor([2, 3, 4, 5]), q, q, { axis: 'width' })).toThrow(new RangeError('axialAttention: expected q.shape.length to be 5 but received 4'));
    expect(() => lib.axialAttention(q, q, q, { axis: 'width', casual: true } as never)).toThrow(new TypeError('axialAttention: expected options keys to be among axis, causal, scale, out but received "casual"'));
  });

  it('AxialAttention config and input', async () => {
    const { weights } = layerCase({ dim: 8, heads: 2, dimIndex: 1, H: 3, W: 4 });
    expect(() => new lib.AxialAttention({ dim: 8, heads: 3, weights })).toThrow(new RangeError('AxialAttention: expected config.heads to divide config.dim (8) but received 3'));
    expect(() => new lib.AxialAttention({ dim: 8, heads: 2, dimIndex: 0 as 1, weights })).toThrow(new RangeError('AxialAttention: expected config.dimIndex to be 1, 2, 3, -1, -2 or -3 but received 0'));
    expect(() => new lib.AxialAttention({ dim: 8, heads: 2, weights, causal: true } as never)).toThrow(
      new TypeError('AxialAttention: expected config keys to be among dim, heads, dimHeads, dimIndex, sumAxialOut, weights but received "causal"'),
    );
    const layer = new lib.AxialAttention({ dim: 8, heads: 2, dimIndex: 1, weights });
    expect(() => layer.forward(tensor([2, 3, 4, 8]))).toThrow(new RangeError('AxialAttention: expected x.shape[1] to equal dim (8) but received 3'));
    expect(() => layer.forward(tensor([8, 3, 4]))).toThrow(new RangeError('AxialAttention: expected x.shape.length to be 4 but received 3'));
    await expect(layer.forwardAsync(tensor([2, 8, 3, 4]), { signal: AbortSignal.abort(new Error('stop')) })).rejects.toThrow(new Error('stop'));
    await expect(layer.forwardAsync(tensor([2, 8, 3, 4]), { sigal: null } as never)).rejects.toThrow(new TypeError('AxialAttention: expected options keys to be among signal but received "sigal"'));
  });

  it('AxialPositionalEmbedding config and input', () => {
    const weights = { param_0: new Float32Array(6), param_1: new Float32Array(12) };
    expect(() => new lib.AxialPositionalEmbedding({ dim: 3, shape: [2, 4], embDimIndex: -2 as -1, weights })).toThrow(
      new RangeError('AxialPositionalEmbedding: expected config.embDimIndex to be 1, 2, 3 or -1 but received -2'),
    );
    expect(() => new lib.AxialPositionalEmbedding({ dim: 3, shape: [2, 4, 5], weights })).toThrow(new RangeError('AxialPositionalEmbedding: expected config.shape.length to be 2 (images) but received 3'));
    const embedding = new lib.AxialPositionalEmbedding({ dim: 3, shape: [2, 4], weights });
    expect(() => embedding.forward(tensor([1, 3, 4, 2]))).toThrow(new RangeError('AxialPositionalEmbedding: expected x.shape[2] to equal shape[0] (2) but received 4'));
    expect(() => embedding.forward(tensor([1, 2, 2, 4]))).toThrow(new RangeError('AxialPositionalEmbedding: expected x.shape[1] to equal dim (3) but received 2'));
  });
});
