/**
 * MultiHeadAttention: the attention layer of a transformer, for inference.
 *
 *   q = x·Wqᵀ + bq      [B, Lq, H·D]   = [B, Lq, H, D]   (layout 'blhd', no transpose)
 *   k = c·Wkᵀ + bk      [B, Lk, Hkv·D]  c = context (cross-attention) or x (self-attention)
 *   v = c·Wvᵀ + bv      [B, Lk, Hkv·D]
 *   o = attention(q, k, v)              [B, Lq, H, D]  = [B, Lq, H·D]
 *   y = o·Woᵀ + bo      [B, Lq, dModel]
 *
 * Weights use PyTorch's nn.Linear convention, [out_features, in_features]
 * row-major, so a state_dict exported from PyTorch loads as it is. The four
 * projections run in the package's packed GEMM (native: multithreaded SIMD),
 * packed (copied) once here; attention runs in the fused kernel.
 */
import { attention, attentionAsync } from './attention';
import { checkSignal } from './abort';
import { KvCache, type KvCacheDtype, asKvCache } from './kv-cache';
import { type LinearWeightsDtype, type PackedLinear, packLinear } from './linear';
import type { BoolTensor, Tensor, WeightTensor } from './types';
import {
  MAX_ELEMENTS,
  checkBoolean,
  checkDimEqual,
  checkInteger,
  checkKeyPadding,
  checkMask,
  checkOptionKeys,
  checkStorageDtype,
  checkTensor,
  checkWeight,
  describe,
  invalidArgument,
  isRecord,
} from './validate';

const LAYER = 'MultiHeadAttention';

/**
 * Projection weights, PyTorch nn.Linear layout [out_features, in_features]:
 * wq [numHeads·headDim, dModel], wk and wv [numKvHeads·headDim, contextDim],
 * wo [dModel, numHeads·headDim]; biases [out_features], optional. Each a bare
 * Float32Array or a tensor of that shape; copied (packed) at construction;
 * other keys are refused.
 * PyTorch's nn.MultiheadAttention keeps wq, wk, wv stacked in
 * `in_proj_weight` [3·dModel, dModel]: pass its three row blocks
 * (`subarray(0, E*E)`, `subarray(E*E, 2*E*E)`, `subarray(2*E*E)`),
 * and `out_proj.weight` as wo.
 */
export interface MultiHeadAttentionWeights {
  wq: WeightTensor;
  wk: WeightTensor;
  wv: WeightTensor;
  wo: WeightTensor;
  bq?: WeightTensor | null;
  bk?: WeightTensor | null;
  bv?: WeightTensor | null;
  bo?: WeightTensor | null;
}

const WEIGHT_KEYS = ['wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'bo'] as const;

/** nn.MultiheadAttention's state_dict names, the likeliest unknown keys: how each maps here. */
const PYTORCH_NAMES: Readonly<Record<string, string>> = {
  in_proj_weight: 'split PyTorch\'s in_proj_weight [3*dModel, dModel] into its three row blocks wq, wk, wv',
  in_proj_bias: 'split PyTorch\'s in_proj_bias [3*dModel] into bq, bk, bv',
  'out_proj.weight': 'pass PyTorch\'s out_proj.weight as wo',
  'out_proj.bias': 'pass PyTorch\'s out_proj.bias as bo',
};

/** Unknown keys in the weights are refused (a misspelt bias would silently be dropped). */
function checkWeightKeys(weights: Record<string, unknown>): void {
  for (const key of Object.keys(weights)) {
    if ((WEIGHT_KEYS as readonly string[]).includes(key)) continue;
    const hint = Object.hasOwn(PYTORCH_NAMES, key) ? ` (${PYTORCH_NAMES[key]})` : '';
    throw invalidArgument(TypeError, `weights keys to be among ${WEIGHT_KEYS.join(', ')}${hint}`, describe(key), LAYER);
  }
}

export interface MultiHeadAttentionConfig {
  /** Width of x and of the output. */
  dModel: number;
  /** Query heads H. */
  numHeads: number;
  /** Key/value heads (GQA/MQA); must divide numHeads. Default numHeads. */
  numKvHeads?: number;
  /** Width D of one head. Default dModel / numHeads (which must then be an integer). */
  headDim?: number;
  /** Width of the context for cross-attention (PyTorch's kdim = vdim). Default dModel. */
  contextDim?: number;
  /**
   * Element type the four projections are packed in: 'float32' (default) or
   * 'bfloat16', each weight rounded once (see packLinear's dtype): half the
   * memory natively, and a decode step streams half the weight bytes. The
   * biases, activations and attention stay float32.
   */
  weightsDtype?: LinearWeightsDtype;
  weights: MultiHeadAttentionWeights;
}

/** Options of {@link MultiHeadAttention.forward}. */
export interface MhaForwardOptions {
  /** [B, Lk, contextDim]: cross-attention keys/values come from it; absent = self-attention. */
  context?: Tensor;
  /** Causal mask, bottom-right aligned (query i sees keys j <= i + Lk - Lq). */
  causal?: boolean;
  /** Additive (Float32Array) or boolean (Uint8Array) mask broadcastable to [B, H, Lq, Lk]. */
  mask?: Tensor | BoolTensor | null;
  /** [B, Lk] flattened, nonzero = real token. */
  keyPadding?: Uint8Array | null;
}

/** Options of {@link MultiHeadAttention.forwardAsync}: those of forward plus an AbortSignal. */
export interface MhaForwardAsyncOptions extends MhaForwardOptions {
  /**
   * Aborts the call: the promise rejects with `signal.reason`, the projection
   * or attention call in flight is aborted and no later one starts.
   */
  signal?: AbortSignal;
}

/** Options of {@link MultiHeadAttention.step}. */
export interface MhaStepOptions {
  /**
   * Per batch row, how many of the T positions of x are real (the first
   * counts[b]); default all T. The outputs of the other positions are
   * computed but meaningless.
   */
  counts?: ArrayLike<number>;
}

const FORWARD_KEYS = ['context', 'causal', 'mask', 'keyPadding'] as const;
const FORWARD_ASYNC_KEYS = [...FORWARD_KEYS, 'signal'] as const;
const STEP_KEYS = ['counts'] as const;

/**
 * x as rows: [B, L, width] or [L, width] → B, L (rank 3 or 2); B and L may be 0 where minDim is 0. `widest` is
 * the widest row the layer makes from them (a projection or the attention
 * output), which must stay within MAX_ELEMENTS like every tensor.
 */
function checkSequence(value: unknown, name: string, width: number, widthName: string, widest: [number, string], op: string, minDim: 0 | 1 = 1): { t: Tensor; B: number; L: number } {
  const t = checkTensor(value, name, 2, 3, op, minDim);
  const rank = t.shape.length;
  checkDimEqual(`${name}.shape[${rank - 1}]`, t.shape[rank - 1], widthName, width, op);
  const B = rank === 3 ? t.shape[0] : 1;
  const L = t.shape[rank - 2];
  const [widestWidth, widestName] = widest;
  if (B * L * widestWidth > MAX_ELEMENTS) {
    throw invalidArgument(RangeError, `${name}'s positions times ${widestName} (${widestWidth}) to be at most ${MAX_ELEMENTS}`, describe(B * L * widestWidth), op);
  }
  return { t, B, L };
}

export class MultiHeadAttention {
  readonly dModel: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly contextDim: number;
  /** Element type of the packed projection weights. */
  readonly weightsDtype: LinearWeightsDtype;
  private readonly wq: PackedLinear;
  private readonly wk: PackedLinear;
  private readonly wv: PackedLinear;
  private readonly wo: PackedLinear;

  constructor(config: MultiHeadAttentionConfig) {
    if (!isRecord(config)) throw invalidArgument(TypeError, 'config to be an object', describe(config), LAYER);
    const c = checkOptionKeys(config, ['dModel', 'numHeads', 'numKvHeads', 'headDim', 'contextDim', 'weightsDtype', 'weights'], LAYER, 'config');
    this.dModel = checkInteger(c.dModel, 'config.dModel', 1, undefined, LAYER);
    this.numHeads = checkInteger(c.numHeads, 'config.numHeads', 1, undefined, LAYER);
    this.numKvHeads = checkInteger(c.numKvHeads, 'config.numKvHeads', 1, this.numHeads, LAYER);
    if (this.numHeads % this.numKvHeads !== 0) {
      throw invalidArgument(RangeError, `config.numKvHeads to divide config.numHeads (${this.numHeads})`, describe(this.numKvHeads), LAYER);
    }
    if (c.headDim === undefined && this.dModel % this.numHeads !== 0) {
      throw invalidArgument(RangeError, `config.headDim, or config.numHeads to divide config.dModel (${this.dModel})`, `numHeads ${this.numHeads} and no headDim`, LAYER);
    }
    this.headDim = checkInteger(c.headDim, 'config.headDim', 1, this.dModel / this.numHeads, LAYER);
    this.contextDim = checkInteger(c.contextDim, 'config.contextDim', 1, this.dModel, LAYER);
    const dtype = checkStorageDtype(c.weightsDtype, 'config.weightsDtype', LAYER);
    this.weightsDtype = dtype;
    const w = c.weights;
    if (!isRecord(w)) throw invalidArgument(TypeError, 'config.weights to be an object { wq, wk, wv, wo, bq?, bk?, bv?, bo? }', describe(w), LAYER);
    checkWeightKeys(w);
    const { dModel, contextDim } = this;
    const qWidth = this.numHeads * this.headDim;
    const kvWidth = this.numKvHeads * this.headDim;
    const linear = (name: string, out: number, inputs: number, outText: string, inputsText: string): PackedLinear => {
      const weight = checkWeight(w[`w${name}`], `weights.w${name}`, [out, inputs], `[${outText}, ${inputsText}]`, LAYER);
      const rawBias = w[`b${name}`];
      const bias = rawBias === undefined || rawBias === null ? null : checkWeight(rawBias, `weights.b${name}`, [out], `[${outText}]`, LAYER);
      return packLinear({ data: weight, shape: [out, inputs] }, bias === null ? null : { data: bias, shape: [out] }, { dtype });
    };
    this.wq = linear('q', qWidth, dModel, 'numHeads*headDim', 'dModel');
    this.wk = linear('k', kvWidth, contextDim, 'numKvHeads*headDim', 'contextDim');
    this.wv = linear('v', kvWidth, contextDim, 'numKvHeads*headDim', 'contextDim');
    this.wo = linear('o', dModel, qWidth, 'dModel', 'numHeads*headDim');
  }

  /** A KvCache sized for this layer's heads (for {@link step}). */
  createCache(batch: number, maxLength: number, dtype: KvCacheDtype = 'float32'): KvCache {
    // Checked here, so a message names these arguments, not KvCache's config.
    const op = `${LAYER}.createCache`;
    checkInteger(batch, 'batch', 1, undefined, op);
    checkInteger(maxLength, 'maxLength', 1, undefined, op);
    checkStorageDtype(dtype, 'dtype', op);
    return new KvCache({ batch, numKvHeads: this.numKvHeads, headDim: this.headDim, maxLength, dtype });
  }

  /**
   * Self-attention (x [B, L, dModel], or [L, dModel]) or, with
   * `options.context` [B, Lk, contextDim], cross-attention. Returns
   * [B, L, dModel] (the rank of x).
   */
  forward(x: Tensor, options?: MhaForwardOptions): Tensor {
    const call = this.prepare(x, options, FORWARD_KEYS);
    const q = this.wq.forward(call.x);
    const k = this.wk.forward(call.context);
    const v = this.wv.forward(call.context);
    const o = attention(this.heads(q, call.B, call.Lq, this.numHeads), this.heads(k, call.B, call.Lk, this.numKvHeads), this.heads(v, call.B, call.Lk, this.numKvHeads), call.attentionOptions);
    return this.project(o, call.B, call.Lq, call.rank);
  }

  /** {@link forward} off the event loop: projections and attention run on the package's dispatcher thread. */
  async forwardAsync(x: Tensor, options?: MhaForwardAsyncOptions): Promise<Tensor> {
    const call = this.prepare(x, options, FORWARD_ASYNC_KEYS);
    const signal = call.signal;
    signal?.throwIfAborted();
    const [q, k, v] = await Promise.all([
      this.wq.forwardAsync(call.x, { signal }),
      this.wk.forwardAsync(call.context, { signal }),
      this.wv.forwardAsync(call.context, { signal }),
    ]);
    const o = await attentionAsync(this.heads(q, call.B, call.Lq, this.numHeads), this.heads(k, call.B, call.Lk, this.numKvHeads), this.heads(v, call.B, call.Lk, this.numKvHeads), { ...call.attentionOptions, signal });
    const y = await this.wo.forwardAsync({ data: o.data, shape: [call.B * call.Lq, this.numHeads * this.headDim] }, { signal });
    return { data: y.data, shape: call.rank === 3 ? [call.B, call.Lq, this.dModel] : [call.Lq, this.dModel] };
  }

  /**
   * One decoding step: x [B, T, dModel] holds the next T positions of each
   * sequence (T = 1 for token-by-token generation). Their keys and values are
   * appended to `cache` (which must have this layer's numKvHeads and headDim),
   * then each position attends causally to everything the cache holds up to
   * itself. Returns [B, T, dModel].
   */
  step(x: Tensor, cacheArg: KvCache, options?: MhaStepOptions): Tensor {
    const op = `${LAYER}.step`;
    const cache = asKvCache(cacheArg, op);
    if (cache === null) throw invalidArgument(TypeError, 'cache to be a KvCache', describe(cacheArg), op);
    if (cache.numKvHeads !== this.numKvHeads || cache.headDim !== this.headDim || cache.valueDim !== this.headDim) {
      throw invalidArgument(
        RangeError,
        `a cache of numKvHeads ${this.numKvHeads} and headDim ${this.headDim}`,
        `numKvHeads ${cache.numKvHeads}, headDim ${cache.headDim}, valueDim ${cache.valueDim}`,
        op,
      );
    }
    const { t, B, L: T } = checkSequence(x, 'x', this.dModel, 'dModel', this.widest(true), op);
    checkDimEqual("x's batch", B, 'cache.batch', cache.batch, op);
    const opts = checkOptionKeys(options, STEP_KEYS, op);
    // Checked before anything is written, so a full cache leaves it untouched.
    const counts = cache.checkCounts(opts.counts, T, op);
    const rows: Tensor = { data: t.data, shape: [B * T, this.dModel] };
    const q = this.wq.forward(rows);
    const k = this.wk.forward(rows);
    const v = this.wv.forward(rows);
    const queryStart = cache.lengths;
    const width = this.numKvHeads * this.headDim;
    const strided = (data: Float32Array) => ({ data, offset: 0, strideB: T * width, strideT: width, strideH: this.headDim });
    cache.appendRows(strided(k.data), strided(v.data), counts);
    const o = attention(this.heads(q, B, T, this.numHeads), cache, { causal: true, layout: 'blhd', queryStart });
    return this.project(o, B, T, t.shape.length);
  }

  /** The widest row made from each position of x: q, the attention output, y, and k and v when they come from x too. */
  private widest(selfAttention: boolean): [number, string] {
    const rows: Array<[number, string]> = [[this.numHeads * this.headDim, 'numHeads*headDim'], [this.dModel, 'dModel']];
    if (selfAttention) rows.push([this.numKvHeads * this.headDim, 'numKvHeads*headDim']);
    return rows.reduce((a, b) => (b[0] > a[0] ? b : a));
  }

  /** Checks x and the options (`keys` are those allowed) once, for forward and forwardAsync. */
  private prepare(x: unknown, options: unknown, keys: readonly string[]) {
    // Empty batches and sequences give empty results, as in PyTorch; an empty context gives the bias bo.
    const opts = checkOptionKeys(options, keys, LAYER);
    const { t, B, L: Lq } = checkSequence(x, 'x', this.dModel, 'dModel', this.widest(opts.context === undefined), LAYER, 0);
    const rank = t.shape.length;
    let context = t;
    let Lk = Lq;
    if (opts.context !== undefined) {
      const ctx = checkSequence(opts.context, 'options.context', this.contextDim, 'contextDim', [this.numKvHeads * this.headDim, 'numKvHeads*headDim'], LAYER, 0);
      checkDimEqual('options.context.shape.length', ctx.t.shape.length, 'x.shape.length', rank, LAYER);
      checkDimEqual('options.context.shape[0]', ctx.B, 'x.shape[0]', B, LAYER);
      context = ctx.t;
      Lk = ctx.L;
    } else if (this.contextDim !== this.dModel) {
      throw invalidArgument(TypeError, `options.context (contextDim ${this.contextDim} differs from dModel ${this.dModel})`, 'undefined', LAYER);
    }
    const causal = checkBoolean(opts.causal, 'options.causal', false, LAYER);
    const mask = this.checkForwardMask(opts.mask, B, Lq, Lk);
    const keyPadding = checkKeyPadding(opts.keyPadding, B, Lk, LAYER, 'options.keyPadding', `B*Lk, the batch times the key length (${B}*${Lk} = ${B * Lk})`);
    return {
      B,
      Lq,
      Lk,
      rank,
      x: { data: t.data, shape: [B * Lq, this.dModel] },
      context: { data: context.data, shape: [B * Lk, this.contextDim] },
      attentionOptions: { layout: 'blhd' as const, causal, mask, keyPadding },
      signal: checkSignal(opts.signal, `${LAYER}.forwardAsync`) ?? undefined,
    };
  }

  /**
   * options.mask against [B, numHeads, Lq, Lk] in this layer's words (attention()
   * would name its internal q and k); the same broadcasting rules as attention().
   */
  private checkForwardMask(value: unknown, B: number, Lq: number, Lk: number): Tensor | BoolTensor | null {
    if (value === undefined || value === null) return null;
    const mask = checkMask(value, 'options.mask', LAYER);
    const rank = mask.shape.length;
    const target = [B, this.numHeads, Lq, Lk];
    const targetName = ['the batch B', 'numHeads', 'the query length Lq', 'the key length Lk'];
    for (let m = 0; m < rank; m++) {
      const axis = 4 - rank + m;
      const size = mask.shape[m];
      if (size !== 1 && size !== target[axis]) {
        const expected = target[axis] === 1 ? `1 (${targetName[axis]})` : `1 or ${targetName[axis]} (${target[axis]})`;
        throw invalidArgument(RangeError, `options.mask.shape[${m}] to be ${expected}`, describe(size), LAYER);
      }
    }
    return mask as Tensor | BoolTensor;
  }

  /** Projection rows [B·L, heads·D] seen as [B, L, heads, D] (layout 'blhd'): the same memory. */
  private heads(rows: Tensor, B: number, L: number, heads: number): Tensor {
    return { data: rows.data, shape: [B, L, heads, this.headDim] };
  }

  /** y = o·Woᵀ + bo, shaped like x. */
  private project(o: Tensor, B: number, L: number, rank: number): Tensor {
    const y = this.wo.forward({ data: o.data, shape: [B * L, this.numHeads * this.headDim] });
    return { data: y.data, shape: rank === 3 ? [B, L, this.dModel] : [L, this.dModel] };
  }
}
