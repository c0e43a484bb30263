/**
 * Axial attention (Ho et al. 2019, "Axial Attention in Multidimensional
 * Transformers"): on [B, heads, H, W, D] tensors, every column (axis 'height')
 * or every row (axis 'width') is one independent sequence. No new kernel and
 * no transpose: the existing attention kernel reads the tensors with strides,
 *   'height': batch B*heads (stride H*W*D), kernel heads = the W columns (stride D),   positions = H rows (stride W*D)
 *   'width':  batch B*heads (stride H*W*D), kernel heads = the H rows (stride W*D),    positions = W columns (stride D)
 * Also the AxialAttention layer built on it.
 */
import { nativeAddon } from '../backend';
import { attention_forward } from '../js/attention';
import type { NativeAttentionArgs } from '../native';
import type { Tensor } from '../types';
import { checkBoolean, checkChoice, checkImage, checkInteger, checkOptionKeys, checkOutBuffer, checkScale, checkSame } from './check';
import { type Conv1x1, type Conv1x1Weights, checkConv1x1, conv1x1, fromHeadsLast, toHeadsLast } from './conv1x1';
import { describe, invalidArgument, isRecord } from '../validate';

const OP = 'axialAttention';

export type Axis = 'height' | 'width';

export interface AxialAttentionOptions {
  /** 'height': attend along H within each column; 'width': along W within each row. */
  axis: Axis;
  /** Position p along the axis sees positions <= p only. Default false. */
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
  return {
    q, k, v, out,
    B: B * heads, H: sequences, Hkv: sequences, Lq: length, Lk: length, D, Dv,
    qStrideB: H * W * D, qStrideH: seqStride * D, qStrideL: posStride * D,
    kStrideB: H * W * D, kStrideH: seqStride * D, kStrideL: posStride * D,
    vStrideB: H * W * Dv, vStrideH: seqStride * Dv, vStrideL: posStride * Dv,
    oStrideB: H * W * Dv, oStrideH: seqStride * Dv, oStrideL: posStride * Dv,
    mask: null, maskStrideB: 0, maskStrideH: 0, maskStrideQ: 0, maskStrideK: 1,
    boolMask: null, boolMaskStrideB: 0, boolMaskStrideH: 0, boolMaskStrideQ: 0, boolMaskStrideK: 1,
    keyPadding: null, keyLengths: null,
    scale,
    alignOffset: 0, // Lk - Lq
    windowLeft: -1,
    windowRight: causal ? 0 : -1,
    alibiSlopes: null, softcap: 0, lse: null, weights: null,
  };
}

/**
 * Attention along one spatial axis of q, k [B, heads, H, W, D] and v
 * [B, heads, H, W, Dv]; returns [B, heads, H, W, Dv]. For axis 'height' each
 * of the W columns of each (b, head) is a sequence of H positions; for 'width'
 * each of the H rows a sequence of W positions.
 */
export function axialAttention(q: Tensor, k: Tensor, v: Tensor, options: AxialAttentionOptions): Tensor {
  const qt = checkImage(q, 'q', 5, OP);
  const kt = checkImage(k, 'k', 5, OP);
  const vt = checkImage(v, 'v', 5, OP);
  if (options === undefined) throw invalidArgument(TypeError, 'options to be an object { axis: "height" | "width", causal?, scale?, out? }', describe(options), OP);
  const opts = checkOptionKeys(options, AXIAL_KEYS, OP);
  const axis = checkChoice<Axis>(opts.axis, 'axis', ['height', 'width'], undefined, OP);
  const [B, heads, H, W, D] = qt.shape;
  for (let d = 0; d < 5; d++) checkSame(`k.shape[${d}]`, kt.shape[d], `q.shape[${d}]`, qt.shape[d], OP);
  for (let d = 0; d < 4; d++) checkSame(`v.shape[${d}]`, vt.shape[d], `q.shape[${d}]`, qt.shape[d], OP);
  const Dv = vt.shape[4];
  const causal = checkBoolean(opts.causal, 'causal', false, OP);
  const scale = checkScale(opts.scale, 1 / Math.sqrt(D), OP);
  const length = B * heads * H * W * Dv;
  const inputs: Array<[string, ArrayBufferView]> = [['q.data', qt.data], ['k.data', kt.data], ['v.data', vt.data]];
  const out = checkOutBuffer(opts.out, length, 'B*heads*H*W*Dv', inputs, OP) ?? new Float32Array(length);
  const args = axialArgs(qt.data, kt.data, vt.data, out, { B, heads, H, W, D, Dv }, axis, causal, scale);
  const addon = nativeAddon();
  if (addon !== null) addon.attention(args);
  else attention_forward(args);
  return { data: out, shape: [B, heads, H, W, Dv] };
}

// ---- the layer ----------------------------------------------------------------

/** The projections of one axial pass: 1×1 convs to heads·dHead (query, key) and heads·dValue (value) channels. */
export interface AxialPassWeights {
  query_conv: Conv1x1Weights;
  key_conv: Conv1x1Weights;
  value_conv: Conv1x1Weights;
}

/**
 * Weights of {@link AxialAttention}, each a PyTorch Conv2d(kernel_size=1):
 * `height.*` read the C input channels; `width.*` read the heads·dValue
 * channels the height pass produced; `out_conv` maps heads·dValue back to C.
 */
export interface AxialAttentionWeights {
  height: AxialPassWeights;
  width: AxialPassWeights;
  out_conv: Conv1x1Weights;
}

export interface AxialAttentionConfig {
  /** Input (and output) channels C. */
  channels: number;
  heads: number;
  /** Channels per head of query and key. */
  dHead: number;
  /** Channels per head of value; default dHead. */
  dValue?: number;
  weights: AxialAttentionWeights;
  /** Add the input to the output. Default true. */
  residual?: boolean;
  /** Causal along both axes (autoregressive image models). Default false. */
  causal?: boolean;
}

const LAYER = 'AxialAttention';

interface AxialPass {
  query: Conv1x1;
  key: Conv1x1;
  value: Conv1x1;
}

/**
 * x [B, C, H, W] → 1×1 projections to heads → attention along H (each column)
 * → 1×1 projections → attention along W (each row) → 1×1 output conv to C
 * (+ x when residual). Convolutions run in TypeScript; attention on the
 * fused kernel.
 */
export class AxialAttention {
  readonly channels: number;
  readonly heads: number;
  readonly dHead: number;
  readonly dValue: number;
  readonly residual: boolean;
  readonly causal: boolean;
  private readonly passes: [AxialPass, AxialPass];
  private readonly output: Conv1x1;

  constructor(config: AxialAttentionConfig) {
    if (config === undefined) throw invalidArgument(TypeError, 'config to be an object', 'undefined', LAYER);
    const c = checkOptionKeys(config, ['channels', 'heads', 'dHead', 'dValue', 'weights', 'residual', 'causal'], LAYER, 'config');
    this.channels = checkInteger(c.channels, 'channels', 1, undefined, LAYER);
    this.heads = checkInteger(c.heads, 'heads', 1, undefined, LAYER);
    this.dHead = checkInteger(c.dHead, 'dHead', 1, undefined, LAYER);
    this.dValue = checkInteger(c.dValue, 'dValue', 1, this.dHead, LAYER);
    this.residual = checkBoolean(c.residual, 'residual', true, LAYER);
    this.causal = checkBoolean(c.causal, 'causal', false, LAYER);
    const w = c.weights;
    if (!isRecord(w)) throw invalidArgument(TypeError, 'weights to be an object { height, width, out_conv }', describe(w), LAYER);
    const hd = this.heads * this.dHead;
    const hv = this.heads * this.dValue;
    const pass = (name: 'height' | 'width', cin: number): AxialPass => {
      const p = w[name];
      if (!isRecord(p)) throw invalidArgument(TypeError, `weights.${name} to be an object { query_conv, key_conv, value_conv }`, describe(p), LAYER);
      return {
        query: checkConv1x1(p.query_conv, `weights.${name}.query_conv`, cin, hd, LAYER),
        key: checkConv1x1(p.key_conv, `weights.${name}.key_conv`, cin, hd, LAYER),
        value: checkConv1x1(p.value_conv, `weights.${name}.value_conv`, cin, hv, LAYER),
      };
    };
    this.passes = [pass('height', this.channels), pass('width', hv)];
    this.output = checkConv1x1(w.out_conv, 'weights.out_conv', hv, this.channels, LAYER);
  }

  /** x [B, C, H, W] → [B, C, H, W]. */
  forward(x: Tensor): Tensor {
    const xt = checkImage(x, 'x', 4, LAYER);
    const [B, C, H, W] = xt.shape;
    checkSame('x.shape[1]', C, 'channels', this.channels, LAYER);
    const HW = H * W;
    const { heads, dHead, dValue } = this;
    let features = xt.data; // [B, channels of this pass, HW]
    const axes: Axis[] = ['height', 'width'];
    for (let a = 0; a < 2; a++) {
      const pass = this.passes[a];
      const q = toHeadsLast(conv1x1(pass.query, features, B, HW), B, heads, dHead, HW);
      const k = toHeadsLast(conv1x1(pass.key, features, B, HW), B, heads, dHead, HW);
      const v = toHeadsLast(conv1x1(pass.value, features, B, HW), B, heads, dValue, HW);
      const attended = axialAttention(
        { data: q, shape: [B, heads, H, W, dHead] },
        { data: k, shape: [B, heads, H, W, dHead] },
        { data: v, shape: [B, heads, H, W, dValue] },
        { axis: axes[a], causal: this.causal },
      );
      features = fromHeadsLast(attended.data, B, heads, dValue, HW);
    }
    const out = conv1x1(this.output, features, B, HW);
    if (this.residual) for (let i = 0; i < out.length; i++) out[i] += xt.data[i];
    return { data: out, shape: [B, C, H, W] };
  }
}
