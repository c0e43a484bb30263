/**
 * Coordinate attention (Hou, Zhou and Feng, CVPR 2021), inference form:
 *   z_h[b,c,i] = mean_j x[b,c,i,j],   z_w[b,c,j] = mean_i x[b,c,i,j]
 *   f = h_swish(bn1(conv1([z_h, z_w])))          one 1×1 conv over the H + W positions
 *   g_h = sigmoid(conv_h(f[:, :, :H])),  g_w = sigmoid(conv_w(f[:, :, H:]))
 *   out[b,c,i,j] = x[b,c,i,j] · g_h[b,c,i] · g_w[b,c,j]
 * with h_swish(t) = t · relu6(t + 3) / 6 and batch norm folded to a scale and
 * shift from its running statistics. Everything runs in TypeScript: the work
 * is O(B·C·(H·W + (H + W)·C/r)), no attention kernel is needed.
 */
import type { Tensor, WeightTensor } from '../types';
import { type Conv1x1, type Conv1x1Weights, checkConv1x1, conv1x1 } from './conv1x1';
import { checkDimEqual, checkFiniteElements, checkInteger, checkOptionKeys, checkPositive, checkTensor, checkWeight, describe, invalidArgument, isRecord } from '../validate';

const LAYER = 'CoordinateAttention';

/**
 * A PyTorch BatchNorm2d(C) state_dict: weight, bias, running_mean,
 * running_var (each [C], finite; running_var >= 0); eps (default 1e-5).
 * `num_batches_tracked`, which every BatchNorm state_dict holds, is accepted
 * and ignored (it only matters for training).
 */
export interface BatchNorm2dWeights {
  weight: WeightTensor;
  bias: WeightTensor;
  running_mean: WeightTensor;
  running_var: WeightTensor;
  eps?: number;
  num_batches_tracked?: unknown;
}

const BN_KEYS = ['weight', 'bias', 'running_mean', 'running_var', 'eps', 'num_batches_tracked'] as const;
const WEIGHT_KEYS = ['conv1', 'bn1', 'conv_h', 'conv_w'] as const;

/**
 * Weights of {@link CoordinateAttention}, named as in the paper's `CoordAtt`
 * module state_dict: `conv1` Conv2d(C, mip, 1), `bn1` BatchNorm2d(mip),
 * `conv_h` and `conv_w` Conv2d(mip, C, 1). mip is the caller's choice
 * (the reference code uses max(8, C / reduction)). Copied at construction
 * (bn1 folded into a scale and shift); other keys are refused.
 */
export interface CoordinateAttentionWeights {
  conv1: Conv1x1Weights;
  bn1: BatchNorm2dWeights;
  conv_h: Conv1x1Weights;
  conv_w: Conv1x1Weights;
}

export interface CoordinateAttentionConfig {
  /** Channels C of x (and of the output). */
  channels: number;
  /** Channels of the squeezed features (C / r in the paper). */
  mip: number;
  weights: CoordinateAttentionWeights;
}

export class CoordinateAttention {
  readonly channels: number;
  readonly mip: number;
  private readonly conv1: Conv1x1;
  private readonly convH: Conv1x1;
  private readonly convW: Conv1x1;
  /** Batch norm folded: bn(t) = t · bnScale + bnShift per channel. */
  private readonly bnScale: Float64Array;
  private readonly bnShift: Float64Array;

  constructor(config: CoordinateAttentionConfig) {
    if (config === undefined) throw invalidArgument(TypeError, 'config to be an object', 'undefined', LAYER);
    const c = checkOptionKeys(config, ['channels', 'mip', 'weights'], LAYER, 'config');
    this.channels = checkInteger(c.channels, 'channels', 1, undefined, LAYER);
    this.mip = checkInteger(c.mip, 'mip', 1, undefined, LAYER);
    const w = c.weights;
    if (!isRecord(w)) throw invalidArgument(TypeError, 'weights to be an object { conv1, bn1, conv_h, conv_w }', describe(w), LAYER);
    checkOptionKeys(w, WEIGHT_KEYS, LAYER, 'weights');
    this.conv1 = checkConv1x1(w.conv1, 'weights.conv1', this.channels, this.mip, LAYER);
    this.convH = checkConv1x1(w.conv_h, 'weights.conv_h', this.mip, this.channels, LAYER);
    this.convW = checkConv1x1(w.conv_w, 'weights.conv_w', this.mip, this.channels, LAYER);
    const bn = w.bn1;
    if (!isRecord(bn)) throw invalidArgument(TypeError, 'weights.bn1 to be an object { weight, bias, running_mean, running_var, eps? }', describe(bn), LAYER);
    checkOptionKeys(bn, BN_KEYS, LAYER, 'weights.bn1');
    const statistic = (key: string, min?: number): Float32Array => {
      const values = checkWeight(bn[key], `weights.bn1.${key}`, [this.mip], '[mip]', LAYER);
      checkFiniteElements(values, `weights.bn1.${key}`, LAYER, min);
      return values;
    };
    const gammaBn = statistic('weight');
    const betaBn = statistic('bias');
    const mean = statistic('running_mean');
    const variance = statistic('running_var', 0);
    const eps = checkPositive(bn.eps, 'weights.bn1.eps', 1e-5, LAYER);
    this.bnScale = new Float64Array(this.mip);
    this.bnShift = new Float64Array(this.mip);
    for (let m = 0; m < this.mip; m++) {
      this.bnScale[m] = gammaBn[m] / Math.sqrt(variance[m] + eps);
      this.bnShift[m] = betaBn[m] - mean[m] * this.bnScale[m];
    }
  }

  /** x [B, C, H, W] → x · g_h · g_w, [B, C, H, W]. */
  forward(x: Tensor): Tensor {
    const xt = checkTensor(x, 'x', 4, 4, LAYER);
    const [B, C, H, W] = xt.shape;
    checkDimEqual('x.shape[1]', C, 'channels', this.channels, LAYER);
    const L = H + W;
    const data = xt.data;
    // pooled [B, C, H + W]: the means over W (positions 0..H-1), then over H (H..H+W-1).
    const pooled = new Float32Array(B * C * L);
    for (let bc = 0; bc < B * C; bc++) {
      const plane = bc * H * W;
      const row = bc * L;
      const columnSums = new Float64Array(W);
      for (let i = 0; i < H; i++) {
        let sum = 0;
        for (let j = 0; j < W; j++) {
          const value = data[plane + i * W + j];
          sum += value;
          columnSums[j] += value;
        }
        pooled[row + i] = sum / W;
      }
      for (let j = 0; j < W; j++) pooled[row + H + j] = columnSums[j] / H;
    }
    const squeezed = conv1x1(this.conv1, pooled, B, L); // [B, mip, H + W]
    for (let b = 0; b < B; b++) {
      for (let m = 0; m < this.mip; m++) {
        const base = (b * this.mip + m) * L;
        for (let p = 0; p < L; p++) {
          const t = squeezed[base + p] * this.bnScale[m] + this.bnShift[m];
          squeezed[base + p] = (t * Math.min(Math.max(t + 3, 0), 6)) / 6;
        }
      }
    }
    // Split into [B, mip, H] and [B, mip, W] and gate each direction.
    const fh = new Float32Array(B * this.mip * H);
    const fw = new Float32Array(B * this.mip * W);
    for (let bm = 0; bm < B * this.mip; bm++) {
      fh.set(squeezed.subarray(bm * L, bm * L + H), bm * H);
      fw.set(squeezed.subarray(bm * L + H, bm * L + L), bm * W);
    }
    const gh = conv1x1(this.convH, fh, B, H); // [B, C, H]
    const gw = conv1x1(this.convW, fw, B, W); // [B, C, W]
    for (let i = 0; i < gh.length; i++) gh[i] = 1 / (1 + Math.exp(-gh[i]));
    for (let i = 0; i < gw.length; i++) gw[i] = 1 / (1 + Math.exp(-gw[i]));
    const out = new Float32Array(data.length);
    for (let bc = 0; bc < B * C; bc++) {
      const plane = bc * H * W;
      for (let i = 0; i < H; i++) {
        const rowGate = gh[bc * H + i];
        for (let j = 0; j < W; j++) out[plane + i * W + j] = data[plane + i * W + j] * rowGate * gw[bc * W + j];
      }
    }
    return { data: out, shape: [B, C, H, W] };
  }
}
