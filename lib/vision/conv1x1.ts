/**
 * 1×1 convolutions (per-pixel matrix products) of channels-first images:
 * out[b,o,p] = bias[o] + Σ_c weight[o,c] · x[b,c,p] over the HW pixels p. The
 * weight is PyTorch's Conv2d layout [Cout, Cin, 1, 1] (row-major [Cout, Cin]),
 * which is nn.Linear's, so with the native backend the pixels go through the
 * package's GEMM (linear()); the TypeScript loops below are the JS backend's.
 */
import { nativeAddon } from '../backend';
import { linear } from '../linear';
import type { WeightTensor } from '../types';
import { checkOptionKeys, checkWeight, describe, invalidArgument, isRecord } from '../validate';

/**
 * One Conv2d(Cin, Cout, kernel_size=1) of a PyTorch state_dict: `weight`
 * [Cout, Cin, 1, 1] (a tensor of that shape or of [Cout, Cin], or a bare
 * Float32Array of Cout*Cin floats) and `bias` [Cout] (absent or null for
 * bias=False). Copied when the layer is constructed.
 */
export interface Conv1x1Weights {
  weight: WeightTensor;
  bias?: WeightTensor | null;
}

/** A checked 1×1 convolution, holding private copies of the weights. */
export interface Conv1x1 {
  weight: Float32Array;
  bias: Float32Array | null;
  cin: number;
  cout: number;
}

const CONV_KEYS = ['weight', 'bias'] as const;

/** Checks `value` as Conv1x1Weights of Cin → Cout channels (`name` is its path in the weights object) and copies them. */
export function checkConv1x1(value: unknown, name: string, cin: number, cout: number, op: string): Conv1x1 {
  if (!isRecord(value)) throw invalidArgument(TypeError, `${name} to be an object { weight, bias? }`, describe(value), op);
  checkOptionKeys(value, CONV_KEYS, op, name);
  const weight = checkWeight(value.weight, `${name}.weight`, [cout, cin, 1, 1], '[Cout, Cin, 1, 1]', op);
  const bias = value.bias === undefined || value.bias === null ? null : checkWeight(value.bias, `${name}.bias`, [cout], '[Cout]', op);
  return { weight, bias, cin, cout };
}

/**
 * out [B, cout, HW] = conv(x [B, cin, HW]); `out` is written in full. x is first
 * transposed to pixel-major [HW, cin] so each output is a dot product of two
 * contiguous rows; a 4-output × 2-pixel block keeps 8 sums in locals (float64),
 * so each weight and pixel value loaded feeds 2 or 4 multiply-adds.
 */
export function conv1x1(conv: Conv1x1, x: Float32Array, B: number, HW: number, out: Float32Array = new Float32Array(B * conv.cout * HW)): Float32Array {
  const { weight, bias, cin, cout } = conv;
  const pixels = new Float32Array(HW * cin); // [HW, cin] of one image
  if (nativeAddon() !== null) {
    const w = { data: weight, shape: [cout, cin] };
    const b0 = bias !== null ? { data: bias, shape: [cout] } : null;
    const rows = new Float32Array(HW * cout);
    for (let b = 0; b < B; b++) {
      transposeInto(x, b * cin * HW, cin, HW, pixels);
      linear({ data: pixels, shape: [HW, cin] }, w, b0, { out: rows });
      transposeInto(rows, 0, HW, cout, out, b * cout * HW);
    }
    return out;
  }
  const dot = (w: number, p: number): number => {
    let s = 0;
    for (let c = 0; c < cin; c++) s += weight[w + c] * pixels[p + c];
    return s;
  };
  for (let b = 0; b < B; b++) {
    transposeInto(x, b * cin * HW, cin, HW, pixels);
    const oBase = b * cout * HW;
    let o = 0;
    for (; o + 4 <= cout; o += 4) {
      const w0 = o * cin, w1 = w0 + cin, w2 = w1 + cin, w3 = w2 + cin;
      const r0 = oBase + o * HW, r1 = r0 + HW, r2 = r1 + HW, r3 = r2 + HW;
      const b0 = bias !== null ? bias[o] : 0, b1 = bias !== null ? bias[o + 1] : 0;
      const b2 = bias !== null ? bias[o + 2] : 0, b3 = bias !== null ? bias[o + 3] : 0;
      let p = 0;
      for (; p + 2 <= HW; p += 2) {
        const x0 = p * cin, x1 = x0 + cin;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let c = 0; c < cin; c++) {
          const a = pixels[x0 + c], e = pixels[x1 + c];
          const u0 = weight[w0 + c], u1 = weight[w1 + c], u2 = weight[w2 + c], u3 = weight[w3 + c];
          s00 += u0 * a; s01 += u0 * e;
          s10 += u1 * a; s11 += u1 * e;
          s20 += u2 * a; s21 += u2 * e;
          s30 += u3 * a; s31 += u3 * e;
        }
        out[r0 + p] = s00 + b0; out[r0 + p + 1] = s01 + b0;
        out[r1 + p] = s10 + b1; out[r1 + p + 1] = s11 + b1;
        out[r2 + p] = s20 + b2; out[r2 + p + 1] = s21 + b2;
        out[r3 + p] = s30 + b3; out[r3 + p + 1] = s31 + b3;
      }
      for (; p < HW; p++) {
        out[r0 + p] = dot(w0, p * cin) + b0;
        out[r1 + p] = dot(w1, p * cin) + b1;
        out[r2 + p] = dot(w2, p * cin) + b2;
        out[r3 + p] = dot(w3, p * cin) + b3;
      }
    }
    for (; o < cout; o++) {
      const row = oBase + o * HW;
      const offset = bias !== null ? bias[o] : 0;
      for (let p = 0; p < HW; p++) out[row + p] = dot(o * cin, p * cin) + offset;
    }
  }
  return out;
}

/** dst[dstOffset + j*rows + i] = src[srcOffset + i*cols + j]: a [rows, cols] block transposed. */
function transposeInto(src: Float32Array, srcOffset: number, rows: number, cols: number, dst: Float32Array, dstOffset = 0): void {
  for (let i = 0; i < rows; i++) {
    const from = srcOffset + i * cols;
    for (let j = 0; j < cols; j++) dst[dstOffset + j * rows + i] = src[from + j];
  }
}

/** [B, heads*D, HW] channels-first → [B, heads, HW, D] (head dim last, as attention reads it). */
export function toHeadsLast(x: Float32Array, B: number, heads: number, D: number, HW: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let bh = 0; bh < B * heads; bh++) {
    const base = bh * D * HW;
    for (let d = 0; d < D; d++) {
      const src = base + d * HW;
      for (let p = 0; p < HW; p++) out[base + p * D + d] = x[src + p];
    }
  }
  return out;
}

/** Inverse of toHeadsLast: [B, heads, HW, D] → [B, heads*D, HW]. */
export function fromHeadsLast(x: Float32Array, B: number, heads: number, D: number, HW: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let bh = 0; bh < B * heads; bh++) {
    const base = bh * D * HW;
    for (let d = 0; d < D; d++) {
      const dst = base + d * HW;
      for (let p = 0; p < HW; p++) out[dst + p] = x[base + p * D + d];
    }
  }
  return out;
}
