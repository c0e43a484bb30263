/**
 * Axial attention on images.
 *
 * `axialAttention()` is the bare per-axis op (Ho et al. 2019, "Axial Attention
 * in Multidimensional Transformers"): on [B, heads, H, W, D] tensors, every
 * column (axis 'height') or every row (axis 'width') is one independent
 * sequence. No transpose: the attention kernel reads the tensors with strides,
 *   'height': batch B*heads (stride H*W*D), kernel heads = the W columns (stride D),   positions = H rows (stride W*D)
 *   'width':  batch B*heads (stride H*W*D), kernel heads = the H rows (stride W*D),    positions = W columns (stride D)
 *
 * `AxialAttention` and `AxialPositionalEmbedding` are the layers of lucidrains'
 * PyTorch package axial_attention (0.6.1, commit eff2c10), loading their
 * state_dicts under the same names.
 */
import { attention, attentionAsync } from '../attention';
import { nativeAddon } from '../backend';
import { attention_forward } from '../js/attention';
import { type PackedLinear, packLinear } from '../linear';
import type { NativeAttentionArgs } from '../native';
import { kernelArgs, type Strides } from '../options';
import type { Tensor } from '../types';
import { checkBoolean, checkChoice, checkDimEqual, checkFloat32Factor, checkInteger, checkOptionKeys, checkOut, checkTensor, checkWeight, describe, invalidArgument, isRecord } from '../validate';

const OP = 'axialAttention';

export type Axis = 'height' | 'width';

export interface AxialAttentionOptions {
  /** 'height': attend along H within each column; 'width': along W within each row. */
  axis: Axis;
  /**
   * Causal along this call's own axis: the query at position p of a column
   * ('height') or row ('width') sees the keys at positions <= p of that same
   * column or row, nothing else. Two causal calls in a row (height, then width)
   * let pixel (i, j) see the quadrant i' <= i, j' <= j, which is not raster
   * order. Default false.
   */
  causal?: boolean;
  /** Multiplier of q·k. Default 1 / sqrt(D). */
  scale?: number;
  /** Output buffer of B*heads*H*W*Dv floats (sharing no memory with q, k, v). */
  out?: Float32Array;
}

const AXIAL_KEYS = ['axis', 'causal', 'scale', 'out'] as const;

/** The kernel arguments of one axial call: q, k [B,heads,H,W,D], v [B,heads,H,W,Dv], contiguous. */
function axialArgs(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, dims: { B: number; heads: number; H: number; W: number; D: number; Dv: number }, axis: Axis, causal: boolean, scale: number): NativeAttentionArgs {
  const { B, heads, H, W, D, Dv } = dims;
  // Per-head image strides (in elements of the last dim), then the two spatial axes.
  const sequences = axis === 'height' ? W : H;
  const length = axis === 'height' ? H : W;
  const seqStride = axis === 'height' ? 1 : W; // in pixels
  const posStride = axis === 'height' ? W : 1; // in pixels
  const strides = (width: number): Strides => [H * W * width, seqStride * width, posStride * width];
  return kernelArgs(
    { q, k, v, out, B: B * heads, H: sequences, Hkv: sequences, Lq: length, Lk: length, D, Dv },
    { q: strides(D), k: strides(D), v: strides(Dv), out: strides(Dv) },
    { scale, windowRight: causal ? 0 : -1 },
  );
}

/**
 * Attention along one spatial axis of q, k [B, heads, H, W, D] and v
 * [B, heads, H, W, Dv]; returns [B, heads, H, W, Dv]. For axis 'height' each
 * of the W columns of each (b, head) is a sequence of H positions; for 'width'
 * each of the H rows a sequence of W positions.
 */
export function axialAttention(q: Tensor, k: Tensor, v: Tensor, options: AxialAttentionOptions): Tensor {
  const qt = checkTensor(q, 'q', 5, 5, OP);
  const kt = checkTensor(k, 'k', 5, 5, OP);
  const vt = checkTensor(v, 'v', 5, 5, OP);
  if (options === undefined) throw invalidArgument(TypeError, 'options to be an object { axis: "height" | "width", causal?, scale?, out? }', describe(options), OP);
  const opts = checkOptionKeys(options, AXIAL_KEYS, OP);
  const axis = checkChoice<Axis>(opts.axis, 'axis', ['height', 'width'], undefined, OP);
  const [B, heads, H, W, D] = qt.shape;
  for (let d = 0; d < 5; d++) checkDimEqual(`k.shape[${d}]`, kt.shape[d], `q.shape[${d}]`, qt.shape[d], OP);
  for (let d = 0; d < 4; d++) checkDimEqual(`v.shape[${d}]`, vt.shape[d], `q.shape[${d}]`, qt.shape[d], OP);
  const Dv = vt.shape[4];
  const causal = checkBoolean(opts.causal, 'causal', false, OP);
  const scale = checkFloat32Factor(opts.scale, 'scale', 1 / Math.sqrt(D), OP);
  const length = B * heads * H * W * Dv;
  const inputs: Array<[string, ArrayBufferView]> = [['q.data', qt.data], ['k.data', kt.data], ['v.data', vt.data]];
  const out = checkOut(opts.out, length, 'B*heads*H*W*Dv', inputs, OP) ?? new Float32Array(length);
  const args = axialArgs(qt.data, kt.data, vt.data, out, { B, heads, H, W, D, Dv }, axis, causal, scale);
  const addon = nativeAddon();
  if (addon !== null) addon.attention(args);
  else attention_forward(args);
  return { data: out, shape: [B, heads, H, W, Dv] };
}

// ---- lucidrains' layers ------------------------------------------------------------

/** Which axis of a rank-4 image holds the channels (PyTorch's dim_index / emb_dim_index; negative counts from the end). */
export type ChannelIndex = 1 | 2 | 3 | -1 | -2 | -3;

/** A layer weight: a bare Float32Array (PyTorch's row-major order) or a tensor { data, shape }. */
export type WeightValue = Float32Array | Tensor;

type AxialPassWeightName = 'to_q.weight' | 'to_kv.weight' | 'to_out.weight' | 'to_out.bias';

/** The state_dict names of lucidrains' AxialAttention(dim, num_dimensions=2): pass 0 runs along H, pass 1 along W. */
export type AxialAttentionWeightName = `axial_attentions.${0 | 1}.fn.${AxialPassWeightName}`;

/**
 * The state_dict of lucidrains' AxialAttention, under its own names, with
 * hidden = heads·dimHeads:
 *   `axial_attentions.{0,1}.fn.to_q.weight`   [hidden, dim]     (Linear, bias=False)
 *   `axial_attentions.{0,1}.fn.to_kv.weight`  [2·hidden, dim]   (Linear, bias=False; keys, then values)
 *   `axial_attentions.{0,1}.fn.to_out.weight` [dim, hidden]
 *   `axial_attentions.{0,1}.fn.to_out.bias`   [dim]
 */
export type AxialAttentionWeights = Readonly<Record<AxialAttentionWeightName, WeightValue>>;

export interface AxialAttentionConfig {
  /** Channels of the input and output (PyTorch's `dim`). */
  dim: number;
  /** Attention heads; must divide dim, as in PyTorch. Default 8. */
  heads?: number;
  /** Channels per head; default dim / heads. */
  dimHeads?: number;
  /** The channel axis of the input: 1 for [B, C, H, W], -1 (or 3) for [B, H, W, C]. Default -1, as in PyTorch. */
  dimIndex?: ChannelIndex;
  /** true: output = pass0(x) + pass1(x); false: output = pass1(pass0(x)). Default true. */
  sumAxialOut?: boolean;
  /** The module's state_dict (see {@link AxialAttentionWeights}); a wider Record type is accepted and checked at run time. */
  weights: AxialAttentionWeights | Readonly<Record<string, WeightValue>>;
}

/** Options of {@link AxialAttention.forwardAsync}. */
export interface AxialForwardAsyncOptions {
  /** Aborts the call: the promise rejects with `signal.reason` and the remaining kernels are stopped or skipped. */
  signal?: AbortSignal;
}

const LAYER = 'AxialAttention';
const PASS_WEIGHTS: readonly AxialPassWeightName[] = ['to_q.weight', 'to_kv.weight', 'to_out.weight', 'to_out.bias'];
const passWeightName = (pass: number, weight: AxialPassWeightName): AxialAttentionWeightName => `axial_attentions.${pass as 0 | 1}.fn.${weight}`;
const AXIAL_WEIGHT_NAMES: readonly string[] = [0, 1].flatMap((pass) => PASS_WEIGHTS.map((weight) => passWeightName(pass, weight)));

/** One SelfAttention of the layer: to_kv split into its key and value halves, each packed for the GEMM. */
interface AxialPass {
  toQ: PackedLinear;
  toK: PackedLinear;
  toV: PackedLinear;
  toOut: PackedLinear;
}

/** A checked input image (its shape copied) and its pixels as channels-last rows [B·H·W, C], whatever its channel axis. */
interface ImageRows {
  shape: number[];
  B: number;
  H: number;
  W: number;
  rows: Float32Array;
}

/** PyTorch's dim_index → the axis 1..3 of a rank-4 tensor. */
function checkChannelIndex(value: unknown, name: string, fallback: ChannelIndex, allowed: readonly number[], op: string): number {
  const index = value === undefined ? fallback : value;
  if (typeof index !== 'number' || !allowed.includes(index)) {
    throw invalidArgument(typeof index === 'number' ? RangeError : TypeError, `${name} to be ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`, describe(index), op);
  }
  return index < 0 ? index + 4 : index;
}

/** Element strides of x [4 dims] over (batch, first spatial axis, second spatial axis, channel). */
function imageStrides(shape: readonly number[], channelAxis: number): [number, number, number, number] {
  const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const [first, second] = [1, 2, 3].filter((axis) => axis !== channelAxis);
  return [strides[0], strides[first], strides[second], strides[channelAxis]];
}

/** Copies between an image with `strides` and channels-last rows [B, H, W, C], in the direction `toRows` says. */
function copyRows(image: Float32Array, rows: Float32Array, dims: [number, number, number, number], strides: [number, number, number, number], toRows: boolean): void {
  const [B, H, W, C] = dims;
  const [sb, sh, sw, sc] = strides;
  let r = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const pixel = b * sb + h * sh + w * sw;
        for (let c = 0; c < C; c++, r++) {
          if (toRows) rows[r] = image[pixel + c * sc];
          else image[pixel + c * sc] = rows[r];
        }
      }
    }
  }
}

/**
 * lucidrains' `AxialAttention(dim, num_dimensions=2, heads, dim_heads,
 * dim_index, sum_axial_out)` from the PyTorch package axial_attention
 * (0.6.1, commit eff2c10), loading its state_dict. Two SelfAttention
 * passes: pass 0 along H (each column of each image is a sequence of H
 * pixels), pass 1 along W (each row a sequence of W pixels). In a pass,
 * every pixel's channels x give q = to_q(x), [k | v] = to_kv(x), split into
 * heads of dimHeads channels (head-major), softmax(q·kᵀ / sqrt(dimHeads))·v
 * per head over the pixels of its sequence, heads concatenated, then
 * to_out. No mask, no positional terms (add an {@link AxialPositionalEmbedding}
 * first), no residual. The projections run on the package's GEMM
 * (packLinear) and the attention on the fused kernel, reading the projected
 * rows in place (layout 'blhd'). Weights are copied at construction.
 */
export class AxialAttention {
  readonly dim: number;
  readonly heads: number;
  readonly dimHeads: number;
  /** The channel axis, 1..3 (a negative dimIndex resolved). */
  readonly dimIndex: number;
  readonly sumAxialOut: boolean;
  readonly #passes: [AxialPass, AxialPass];

  constructor(config: AxialAttentionConfig) {
    if (!isRecord(config)) throw invalidArgument(TypeError, 'config to be an object', describe(config), LAYER);
    const c = checkOptionKeys(config, ['dim', 'heads', 'dimHeads', 'dimIndex', 'sumAxialOut', 'weights'], LAYER, 'config');
    this.dim = checkInteger(c.dim, 'config.dim', 1, undefined, LAYER);
    this.heads = checkInteger(c.heads, 'config.heads', 1, 8, LAYER);
    if (this.dim % this.heads !== 0) throw invalidArgument(RangeError, `config.heads to divide config.dim (${this.dim})`, describe(this.heads), LAYER);
    this.dimHeads = checkInteger(c.dimHeads, 'config.dimHeads', 1, this.dim / this.heads, LAYER);
    this.dimIndex = checkChannelIndex(c.dimIndex, 'config.dimIndex', -1, [1, 2, 3, -1, -2, -3], LAYER);
    this.sumAxialOut = checkBoolean(c.sumAxialOut, 'config.sumAxialOut', true, LAYER);
    if (!isRecord(c.weights)) throw invalidArgument(TypeError, 'config.weights to be an object (the module\'s state_dict)', describe(c.weights), LAYER);
    const w = checkOptionKeys(c.weights, AXIAL_WEIGHT_NAMES, LAYER, 'weights');
    const { dim } = this;
    const hidden = this.heads * this.dimHeads;
    const weight = (pass: number, name: AxialPassWeightName, shape: number[], shapeText: string): Float32Array => {
      const key = passWeightName(pass, name);
      return checkWeight(w[key], `weights[${JSON.stringify(key)}]`, shape, shapeText, LAYER);
    };
    const pass = (p: number): AxialPass => {
      const kv = weight(p, 'to_kv.weight', [2 * hidden, dim], '[2*heads*dimHeads, dim]');
      const pack = (data: Float32Array, out: number, inputs: number, bias: Float32Array | null = null): PackedLinear =>
        packLinear({ data, shape: [out, inputs] }, bias === null ? null : { data: bias, shape: [out] });
      return {
        toQ: pack(weight(p, 'to_q.weight', [hidden, dim], '[heads*dimHeads, dim]'), hidden, dim),
        toK: pack(kv.subarray(0, hidden * dim), hidden, dim),
        toV: pack(kv.subarray(hidden * dim), hidden, dim),
        toOut: pack(weight(p, 'to_out.weight', [dim, hidden], '[dim, heads*dimHeads]'), dim, hidden, weight(p, 'to_out.bias', [dim], '[dim]')),
      };
    };
    this.#passes = [pass(0), pass(1)];
  }

  /** x: [B, dim, H, W] (dimIndex 1), [B, H, dim, W] (2) or [B, H, W, dim] (-1 / 3) → the same shape. */
  forward(x: Tensor): Tensor {
    const image = this.#rows(x);
    const [first, second] = this.#passes;
    const out = this.sumAxialOut
      ? add(this.#pass(first, 'height', image.rows, image), this.#pass(second, 'width', image.rows, image))
      : this.#pass(second, 'width', this.#pass(first, 'height', image.rows, image), image);
    return this.#image(out, image.shape);
  }

  /**
   * Like {@link forward}, off the event loop: the projections and attention
   * calls are queued on the package's dispatcher thread (see attentionAsync).
   * x is read before forwardAsync returns; it may change afterwards.
   */
  async forwardAsync(x: Tensor, options?: AxialForwardAsyncOptions): Promise<Tensor> {
    const opts = checkOptionKeys(options, ['signal'], LAYER);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalidArgument(TypeError, 'options.signal to be an AbortSignal', describe(opts.signal), LAYER);
    const signal = opts.signal as AbortSignal | undefined;
    const image = this.#rows(x);
    const [first, second] = this.#passes;
    let out: Float32Array;
    if (this.sumAxialOut) {
      // Both passes start now, so both read x before this function first awaits.
      const [alongH, alongW] = await Promise.all([this.#passAsync(first, 'height', image.rows, image, signal), this.#passAsync(second, 'width', image.rows, image, signal)]);
      out = add(alongH, alongW);
    } else {
      out = await this.#passAsync(second, 'width', await this.#passAsync(first, 'height', image.rows, image, signal), image, signal);
    }
    return this.#image(out, image.shape);
  }

  /** Checks x; returns it as channels-last rows (x's own data when the channels are last already). */
  #rows(x: unknown): ImageRows {
    const t = checkTensor(x, 'x', 4, 4, LAYER);
    const axis = this.dimIndex;
    checkDimEqual(`x.shape[${axis}]`, t.shape[axis], 'dim', this.dim, LAYER);
    const shape = [...t.shape];
    const [B, H, W] = shape.filter((_, a) => a !== axis);
    if (axis === 3) return { shape, B, H, W, rows: t.data };
    const rows = new Float32Array(t.data.length);
    copyRows(t.data, rows, [B, H, W, this.dim], imageStrides(shape, axis), true);
    return { shape, B, H, W, rows };
  }

  /** Channels-last rows → a tensor of x's shape and channel axis. */
  #image(rows: Float32Array, shape: number[]): Tensor {
    if (this.dimIndex === 3) return { data: rows, shape };
    const [B, H, W] = shape.filter((_, a) => a !== this.dimIndex);
    const data = new Float32Array(rows.length);
    copyRows(data, rows, [B, H, W, this.dim], imageStrides(shape, this.dimIndex), false);
    return { data, shape };
  }

  /**
   * Projection rows [B·H·W, heads·dimHeads] as a 'blhd' tensor whose
   * sequences run along `axis`: along H, [B, H, W·heads, dimHeads] (each
   * (column, head) pair is one kernel head); along W, [B·H, W, heads, dimHeads].
   */
  #heads(rows: Float32Array, axis: Axis, { B, H, W }: ImageRows): Tensor {
    const shape = axis === 'height' ? [B, H, W * this.heads, this.dimHeads] : [B * H, W, this.heads, this.dimHeads];
    return { data: rows, shape };
  }

  /** Rows [B·H·W, width] as a matrix for a projection. */
  #matrix(data: Float32Array, width: number, { B, H, W }: ImageRows): Tensor {
    return { data, shape: [B * H * W, width] };
  }

  /** One SelfAttention along `axis` over channels-last rows `input`; returns its rows [B·H·W, dim]. */
  #pass(pass: AxialPass, axis: Axis, input: Float32Array, image: ImageRows): Float32Array {
    const x = this.#matrix(input, this.dim, image);
    const [q, k, v] = [pass.toQ, pass.toK, pass.toV].map((projection) => this.#heads(projection.forward(x).data, axis, image));
    const o = attention(q, k, v, { layout: 'blhd' });
    return pass.toOut.forward(this.#matrix(o.data, this.heads * this.dimHeads, image)).data;
  }

  async #passAsync(pass: AxialPass, axis: Axis, input: Float32Array, image: ImageRows, signal: AbortSignal | undefined): Promise<Float32Array> {
    const x = this.#matrix(input, this.dim, image);
    const projected = await Promise.all([pass.toQ, pass.toK, pass.toV].map((projection) => projection.forwardAsync(x, { signal })));
    const [q, k, v] = projected.map((t) => this.#heads(t.data, axis, image));
    const o = await attentionAsync(q, k, v, { layout: 'blhd', signal });
    const y = await pass.toOut.forwardAsync(this.#matrix(o.data, this.heads * this.dimHeads, image), { signal });
    return y.data;
  }
}

/** a + b elementwise, into a. */
function add(a: Float32Array, b: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}

// ---- positional embedding -------------------------------------------------------------

/** The state_dict of lucidrains' AxialPositionalEmbedding for a 2-D shape: `param_0` (along H) and `param_1` (along W). */
export type AxialPositionalEmbeddingWeights = Readonly<Record<'param_0' | 'param_1', WeightValue>>;

export interface AxialPositionalEmbeddingConfig {
  /** Channels (PyTorch's `dim`). */
  dim: number;
  /** [H, W]: the spatial size of the images it is added to. */
  shape: readonly number[];
  /** The channel axis of the input: 1 (default, as in PyTorch), 2, 3 or -1; the values PyTorch builds consistent parameters for. */
  embDimIndex?: 1 | 2 | 3 | -1;
  weights: AxialPositionalEmbeddingWeights | Readonly<Record<string, WeightValue>>;
}

const EMBEDDING = 'AxialPositionalEmbedding';

/**
 * lucidrains' `AxialPositionalEmbedding(dim, shape, emb_dim_index)` for 2-D
 * shapes [H, W]: x + param_0 + param_1, where param_0 holds one dim-vector per
 * row index (shape [1, dim, H, 1] for embDimIndex 1, [1, H, 1, dim] for -1
 * or 3, [1, H, dim, 1] for 2) and param_1 one per column index ([1, dim, 1, W],
 * [1, 1, W, dim], [1, 1, dim, W]), broadcast over the rest. x's spatial size
 * must equal `shape`. Weights are copied at construction.
 */
export class AxialPositionalEmbedding {
  readonly dim: number;
  readonly shape: readonly [number, number];
  /** The channel axis, 1..3 (-1 resolved to 3). */
  readonly embDimIndex: number;
  readonly #params: [Float32Array, Float32Array];
  /** Each parameter's element strides over x's four axes (0 where it broadcasts). */
  readonly #strides: [number[], number[]];

  constructor(config: AxialPositionalEmbeddingConfig) {
    if (!isRecord(config)) throw invalidArgument(TypeError, 'config to be an object', describe(config), EMBEDDING);
    const c = checkOptionKeys(config, ['dim', 'shape', 'embDimIndex', 'weights'], EMBEDDING, 'config');
    this.dim = checkInteger(c.dim, 'config.dim', 1, undefined, EMBEDDING);
    if (!Array.isArray(c.shape)) throw invalidArgument(TypeError, 'config.shape to be an array [H, W]', describe(c.shape), EMBEDDING);
    if (c.shape.length !== 2) throw invalidArgument(RangeError, 'config.shape.length to be 2 (images)', describe(c.shape.length), EMBEDDING);
    const spatial = c.shape.map((size: unknown, i: number) => checkInteger(size, `config.shape[${i}]`, 1, undefined, EMBEDDING));
    this.shape = [spatial[0], spatial[1]];
    this.embDimIndex = checkChannelIndex(c.embDimIndex, 'config.embDimIndex', 1, [1, 2, 3, -1], EMBEDDING);
    if (!isRecord(c.weights)) throw invalidArgument(TypeError, 'config.weights to be an object { param_0, param_1 }', describe(c.weights), EMBEDDING);
    const w = checkOptionKeys(c.weights, ['param_0', 'param_1'], EMBEDDING, 'weights');
    const spatialAxes = [1, 2, 3].filter((axis) => axis !== this.embDimIndex);
    const param = (i: 0 | 1): [Float32Array, number[]] => {
      const shape = [1, 1, 1, 1];
      shape[this.embDimIndex] = this.dim;
      shape[spatialAxes[i]] = this.shape[i];
      const text = shape.map((_, axis) => (axis === this.embDimIndex ? 'dim' : axis === spatialAxes[i] ? 'HW'[i] : '1')).join(', ');
      const data = checkWeight(w[`param_${i}`], `weights.param_${i}`, shape, `[${text}]`, EMBEDDING);
      const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1].map((stride, axis) => (shape[axis] === 1 ? 0 : stride));
      return [data, strides];
    };
    const [p0, p1] = [param(0), param(1)];
    this.#params = [p0[0], p1[0]];
    this.#strides = [p0[1], p1[1]];
  }

  /** x + param_0 + param_1 (rounded to float32 after each add, as PyTorch does): x keeps its shape. */
  forward(x: Tensor): Tensor {
    const t = checkTensor(x, 'x', 4, 4, EMBEDDING);
    checkDimEqual(`x.shape[${this.embDimIndex}]`, t.shape[this.embDimIndex], 'dim', this.dim, EMBEDDING);
    const spatialAxes = [1, 2, 3].filter((axis) => axis !== this.embDimIndex);
    spatialAxes.forEach((axis, i) => checkDimEqual(`x.shape[${axis}]`, t.shape[axis], `shape[${i}]`, this.shape[i], EMBEDDING));
    const [n0, n1, n2, n3] = t.shape;
    const [p0, p1] = this.#params;
    const [s0, s1] = this.#strides;
    const out = new Float32Array(t.data.length);
    let o = 0;
    for (let i0 = 0; i0 < n0; i0++) {
      for (let i1 = 0; i1 < n1; i1++) {
        for (let i2 = 0; i2 < n2; i2++) {
          const base0 = i1 * s0[1] + i2 * s0[2], base1 = i1 * s1[1] + i2 * s1[2];
          for (let i3 = 0; i3 < n3; i3++, o++) out[o] = Math.fround(t.data[o] + p0[base0 + i3 * s0[3]]) + p1[base1 + i3 * s1[3]];
        }
      }
    }
    return { data: out, shape: [...t.shape] };
  }
}
