/**
 * Criss-cross attention (Huang et al., "CCNet: Criss-Cross Attention for
 * Semantic Segmentation", ICCV 2019): each pixel (i, j) attends to the H + W - 1
 * pixels of its row i and column j (the centre once) with one joint softmax,
 * in O(H·W·(H + W)) time, never O((H·W)²). Also the CrissCrossAttention layer.
 */
import { nativeAddon } from '../backend';
import { criss_cross_forward } from '../js/criss_cross';
import type { NativeCrissCrossArgs } from '../native';
import type { Tensor, WeightTensor } from '../types';
import { type Conv1x1, type Conv1x1Weights, checkConv1x1, conv1x1 } from './conv1x1';
import { checkChoice, checkDimEqual, checkFloat32Factor, checkInteger, checkOptionKeys, checkOut, checkTensor, checkWeight, describe, invalidArgument, isFloat32Array, isRecord } from '../validate';

const OP = 'crissCrossAttention';

/** 'channels-first': [B, C, H, W] (PyTorch's NCHW); 'channels-last': [B, H, W, C]. */
export type ImageLayout = 'channels-first' | 'channels-last';

export interface CrissCrossOptions {
  /** Memory order of q, k, v and the output. Default 'channels-first'. */
  layout?: ImageLayout;
  /** Multiplier of q·k. Default 1 (CCNet does not scale). */
  scale?: number;
  /** Output buffer of B*C*H*W floats (sharing no memory with q, k, v). */
  out?: Float32Array;
}

const OPTION_KEYS = ['layout', 'scale', 'out'] as const;

/** Element strides [b, c, y, x] of a contiguous image. */
function imageStrides(layout: ImageLayout, C: number, H: number, W: number): [number, number, number, number] {
  return layout === 'channels-first' ? [C * H * W, H * W, W, 1] : [H * W * C, 1, W * C, C];
}

/**
 * Criss-cross attention of q, k [B, C', H, W] and v [B, C, H, W] (or
 * [B, H, W, C'] / [B, H, W, C] with layout 'channels-last'); returns v's shape:
 *   out[b,:,i,j] = Σ softmax(scale · q[b,:,i,j]·k[b,:,y,x]) · v[b,:,y,x]
 * over the pixels (y, x) of column j and row i, the centre counted once.
 */
export function crissCrossAttention(q: Tensor, k: Tensor, v: Tensor, options?: CrissCrossOptions): Tensor {
  const qt = checkTensor(q, 'q', 4, 4, OP);
  const kt = checkTensor(k, 'k', 4, 4, OP);
  const vt = checkTensor(v, 'v', 4, 4, OP);
  const opts = checkOptionKeys(options, OPTION_KEYS, OP);
  const layout = checkChoice<ImageLayout>(opts.layout, 'layout', ['channels-first', 'channels-last'], 'channels-first', OP);
  const scale = checkFloat32Factor(opts.scale, 'scale', 1, OP);
  // Axis of each logical dim in this layout.
  const [cAxis, yAxis, xAxis] = layout === 'channels-first' ? [1, 2, 3] : [3, 1, 2];
  const spatial = [0, yAxis, xAxis];
  for (const d of spatial) checkDimEqual(`k.shape[${d}]`, kt.shape[d], `q.shape[${d}]`, qt.shape[d], OP);
  checkDimEqual(`k.shape[${cAxis}]`, kt.shape[cAxis], `q.shape[${cAxis}]`, qt.shape[cAxis], OP);
  for (const d of spatial) checkDimEqual(`v.shape[${d}]`, vt.shape[d], `q.shape[${d}]`, qt.shape[d], OP);
  const B = qt.shape[0], H = qt.shape[yAxis], W = qt.shape[xAxis];
  const Cqk = qt.shape[cAxis], Cv = vt.shape[cAxis];
  const inputs: Array<[string, ArrayBufferView]> = [['q.data', qt.data], ['k.data', kt.data], ['v.data', vt.data]];
  const out = checkOut(opts.out, vt.data.length, 'the element count of v', inputs, OP) ?? new Float32Array(vt.data.length);

  const [qStrideB, qStrideC, qStrideY, qStrideX] = imageStrides(layout, Cqk, H, W);
  const [vStrideB, vStrideC, vStrideY, vStrideX] = imageStrides(layout, Cv, H, W);
  const args: NativeCrissCrossArgs = {
    q: qt.data, k: kt.data, v: vt.data, out,
    B, Cqk, Cv, H, W,
    qStrideB, qStrideC, qStrideY, qStrideX,
    kStrideB: qStrideB, kStrideC: qStrideC, kStrideY: qStrideY, kStrideX: qStrideX,
    vStrideB, vStrideC, vStrideY, vStrideX,
    oStrideB: vStrideB, oStrideC: vStrideC, oStrideY: vStrideY, oStrideX: vStrideX,
    scale,
  };
  const addon = nativeAddon();
  if (addon !== null) addon.crissCross(args);
  else criss_cross_forward(args);
  return { data: out, shape: vt.shape.slice() };
}

// ---- the layer ----------------------------------------------------------------

/**
 * Weights of {@link CrissCrossAttention}, named as in CCNet's
 * `CrissCrossAttention` module state_dict: `query_conv` and `key_conv`
 * Conv2d(C, C', 1) (C' = C/8 by default), `value_conv` Conv2d(C, C, 1), and
 * `gamma` (a number, a Float32Array of length 1 or a tensor of shape [1]).
 * Copied at construction; other keys are refused.
 */
export interface CrissCrossWeights {
  query_conv: Conv1x1Weights;
  key_conv: Conv1x1Weights;
  value_conv: Conv1x1Weights;
  gamma: number | WeightTensor;
}

const WEIGHT_KEYS = ['query_conv', 'key_conv', 'value_conv', 'gamma'] as const;

export interface CrissCrossConfig {
  /** Channels C of x. */
  channels: number;
  /** Channels C' of query and key. Default floor(C / 8) (at least 1). */
  qkChannels?: number;
  weights: CrissCrossWeights;
  /** How many times the module runs, with the same weights (CCNet's R). Default 2. */
  recurrence?: number;
}

const LAYER = 'CrissCrossAttention';

/** gamma: a finite number, a Float32Array of length 1 or a tensor of shape [1]. */
function checkGamma(value: unknown): number {
  const name = 'weights.gamma';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidArgument(RangeError, `${name} to be finite`, describe(value), LAYER);
    return value;
  }
  if (!isFloat32Array(value) && !isRecord(value)) {
    throw invalidArgument(TypeError, `${name} to be a number, a Float32Array of length 1 or a tensor { data, shape: [1] }`, describe(value), LAYER);
  }
  const gamma = checkWeight(value, name, [1], 'a scalar', LAYER)[0];
  if (!Number.isFinite(gamma)) {
    const data = isFloat32Array(value) ? value : (value as { data: Float32Array }).data;
    throw invalidArgument(RangeError, `${name}${data === value ? '' : '.data'} to be finite`, describe(data), LAYER);
  }
  return gamma;
}

/**
 * CCNet's recurrent criss-cross attention: R times (shared weights)
 *   x ← gamma · crissCrossAttention(query_conv(x), key_conv(x), value_conv(x)) + x
 * on x [B, C, H, W]. After two passes every pixel has seen every other.
 */
export class CrissCrossAttention {
  readonly channels: number;
  readonly qkChannels: number;
  readonly recurrence: number;
  readonly gamma: number;
  private readonly query: Conv1x1;
  private readonly key: Conv1x1;
  private readonly value: Conv1x1;

  constructor(config: CrissCrossConfig) {
    if (config === undefined) throw invalidArgument(TypeError, 'config to be an object', 'undefined', LAYER);
    const c = checkOptionKeys(config, ['channels', 'qkChannels', 'weights', 'recurrence'], LAYER, 'config');
    this.channels = checkInteger(c.channels, 'channels', 1, undefined, LAYER);
    this.qkChannels = checkInteger(c.qkChannels, 'qkChannels', 1, Math.max(1, Math.floor(this.channels / 8)), LAYER);
    this.recurrence = checkInteger(c.recurrence, 'recurrence', 1, 2, LAYER);
    const w = c.weights;
    if (!isRecord(w)) throw invalidArgument(TypeError, 'weights to be an object { query_conv, key_conv, value_conv, gamma }', describe(w), LAYER);
    checkOptionKeys(w, WEIGHT_KEYS, LAYER, 'weights');
    this.query = checkConv1x1(w.query_conv, 'weights.query_conv', this.channels, this.qkChannels, LAYER);
    this.key = checkConv1x1(w.key_conv, 'weights.key_conv', this.channels, this.qkChannels, LAYER);
    this.value = checkConv1x1(w.value_conv, 'weights.value_conv', this.channels, this.channels, LAYER);
    this.gamma = checkGamma(w.gamma);
  }

  /** x [B, C, H, W] → [B, C, H, W]. */
  forward(x: Tensor): Tensor {
    const xt = checkTensor(x, 'x', 4, 4, LAYER);
    const [B, C, H, W] = xt.shape;
    checkDimEqual('x.shape[1]', C, 'channels', this.channels, LAYER);
    const HW = H * W;
    let features = xt.data;
    for (let r = 0; r < this.recurrence; r++) {
      const q = conv1x1(this.query, features, B, HW);
      const k = conv1x1(this.key, features, B, HW);
      const v = conv1x1(this.value, features, B, HW);
      const attended = crissCrossAttention({ data: q, shape: [B, this.qkChannels, H, W] }, { data: k, shape: [B, this.qkChannels, H, W] }, { data: v, shape: [B, C, H, W] });
      const next = attended.data; // gamma·attn + x, in place
      for (let i = 0; i < next.length; i++) next[i] = this.gamma * next[i] + features[i];
      features = next;
    }
    return { data: features, shape: [B, C, H, W] };
  }
}
