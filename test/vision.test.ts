/**
 * 2-D attention: crissCrossAttention and the CrissCrossAttention and
 * CoordinateAttention layers (axial attention: test/axial.test.ts), against float64
 * references written here from the papers' definitions (independent of lib/),
 * on the JS backend and on the native one for every ISA this CPU supports:
 * square and non-square maps (1×1, 1×7, 13×5, and 64×64 for the functions),
 * C' ≠ C, batch 2. Plus the argument errors.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { referenceCrissCross, toChannelsLast, relFrobenius } from './oracle/attention.mjs';
import { tensorSequence, loadJsLib, backendRunners, type Lib } from './helpers';
import { onceCache } from './oracle/inputs.mjs';

const TOLERANCE = 1e-5;

const jsLib: Lib = await loadJsLib();

const runners = backendRunners<Lib>(jsLib, nativeLib);

const tensor = tensorSequence();

// ---- float64 references, from the definitions --------------------------------------

interface Conv {
  weight: Float32Array;
  bias: Float32Array;
}
const conv = (cout: number, cin: number): Conv => ({ weight: tensor([cout, cin], 1 / Math.sqrt(cin)).data, bias: tensor([cout], 0.1).data });

/** 1×1 conv of x [B, cin, P] in float64. */
function referenceConv(c: Conv, x: ArrayLike<number>, B: number, cin: number, P: number): Float64Array {
  const cout = c.bias.length;
  const out = new Float64Array(B * cout * P);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < cout; o++)
      for (let p = 0; p < P; p++) {
        let s = c.bias[o];
        for (let i = 0; i < cin; i++) s += c.weight[o * cin + i] * x[(b * cin + i) * P + p];
        out[(b * cout + o) * P + p] = s;
      }
  return out;
}

const f32 = (x: ArrayLike<number>): Float32Array => Float32Array.from(x);

// Inputs and references are computed once per case and shared by every runner.
const once = onceCache();

// ---- functions -------------------------------------------------------------------------

const MAPS: Array<[number, number]> = [[1, 1], [1, 7], [13, 5], [64, 64]];
const LAYER_MAPS: Array<[number, number]> = [[1, 1], [1, 7], [13, 5]];

describe.each(runners)('$name', ({ lib, prepare }) => {
  describe.each(MAPS)('%i×%i map', (H, W) => {
    it('crissCrossAttention, channels-first and channels-last, C\' = 4 ≠ C = 6, B = 2', () => {
      const { q, k, v, expected, expectedLast } = once(`criss-cross ${H}x${W}`, () => {
        const q = tensor([2, 4, H, W]), k = tensor([2, 4, H, W]), v = tensor([2, 6, H, W]);
        const expectedLast = toChannelsLast({ data: f32(referenceCrissCross(q, k, v, 0.5)), shape: [2, 6, H, W] }).data;
        return { q, k, v, expected: referenceCrissCross(q, k, v), expectedLast };
      });
      prepare();
      const out = lib.crissCrossAttention(q, k, v);
      expect(out.shape).toEqual([2, 6, H, W]);
      expect(relFrobenius(out.data, expected)).toBeLessThan(TOLERANCE);
      const last = lib.crissCrossAttention(toChannelsLast(q), toChannelsLast(k), toChannelsLast(v), { layout: 'channels-last', scale: 0.5 });
      expect(last.shape).toEqual([2, H, W, 6]);
      expect(relFrobenius(last.data, expectedLast)).toBeLessThan(TOLERANCE);
    });
  });

  describe.each(LAYER_MAPS)('layers on a %i×%i map', (H, W) => {
    it('CrissCrossAttention (C = 16, C\' = C/8, R = 2, shared weights)', () => {
      const B = 2, C = 16, HW = H * W;
      const weights = { query_conv: conv(2, C), key_conv: conv(2, C), value_conv: conv(C, C), gamma: Float32Array.of(0.7) };
      const x = tensor([B, C, H, W]);
      let features = Float64Array.from(x.data);
      for (let r = 0; r < 2; r++) {
        const shaped = (data: Float64Array, channels: number): Tensor => ({ data: f32(data), shape: [B, channels, H, W] });
        const attended = referenceCrissCross(
          shaped(referenceConv(weights.query_conv, features, B, C, HW), 2),
          shaped(referenceConv(weights.key_conv, features, B, C, HW), 2),
          shaped(referenceConv(weights.value_conv, features, B, C, HW), C),
        );
        features = attended.map((a, i) => 0.7 * a + features[i]);
      }
      prepare();
      const out = new lib.CrissCrossAttention({ channels: C, weights }).forward(x);
      expect(out.shape).toEqual([B, C, H, W]);
      expect(relFrobenius(out.data, features)).toBeLessThan(TOLERANCE);
    });

    it('CoordinateAttention (C = 12, mip = 8)', () => {
      const B = 2, C = 12, mip = 8;
      const weights = {
        conv1: conv(mip, C),
        bn1: { weight: tensor([mip], 0.5).data.map((g) => 1 + g), bias: tensor([mip], 0.2).data, running_mean: tensor([mip], 0.1).data, running_var: tensor([mip], 0.3).data.map((s) => 1 + Math.abs(s)), eps: 1e-5 },
        conv_h: conv(C, mip),
        conv_w: conv(C, mip),
      };
      const x = tensor([B, C, H, W]);
      const expected = new Float64Array(x.data.length);
      const sigmoid = (t: number): number => 1 / (1 + Math.exp(-t));
      const hswish = (t: number): number => (t * Math.min(Math.max(t + 3, 0), 6)) / 6;
      for (let b = 0; b < B; b++) {
        // Pool each direction, squeeze every position with conv1 + bn1 + h-swish.
        const pooled: number[][] = []; // [H + W][C]
        for (let i = 0; i < H; i++) pooled.push(Array.from({ length: C }, (_, c) => { let s = 0; for (let j = 0; j < W; j++) s += x.data[((b * C + c) * H + i) * W + j]; return s / W; }));
        for (let j = 0; j < W; j++) pooled.push(Array.from({ length: C }, (_, c) => { let s = 0; for (let i = 0; i < H; i++) s += x.data[((b * C + c) * H + i) * W + j]; return s / H; }));
        const squeezed = pooled.map((z) => Array.from({ length: mip }, (_, m) => {
          let s = weights.conv1.bias[m];
          for (let c = 0; c < C; c++) s += weights.conv1.weight[m * C + c] * z[c];
          const bn = weights.bn1;
          return hswish(((s - bn.running_mean[m]) / Math.sqrt(bn.running_var[m] + bn.eps)) * bn.weight[m] + bn.bias[m]);
        }));
        const gate = (c2: Conv, f: number[], c: number): number => { let s = c2.bias[c]; for (let m = 0; m < mip; m++) s += c2.weight[c * mip + m] * f[m]; return sigmoid(s); };
        for (let c = 0; c < C; c++)
          for (let i = 0; i < H; i++)
            for (let j = 0; j < W; j++) {
              const at = ((b * C + c) * H + i) * W + j;
              expected[at] = x.data[at] * gate(weights.conv_h, squeezed[i], c) * gate(weights.conv_w, squeezed[H + j], c);
            }
      }
      prepare();
      const out = new lib.CoordinateAttention({ channels: C, mip, weights }).forward(x);
      expect(out.shape).toEqual([B, C, H, W]);
      expect(relFrobenius(out.data, expected)).toBeLessThan(TOLERANCE);
    });
  });
});

describe.each(runners)('$name: out and scale', ({ lib, prepare }) => {
  it('write into the caller\'s out buffer and honour scale', () => {
    prepare();
    const qc = tensor([1, 3, 4, 6]), vc = tensor([1, 2, 4, 6]);
    const outCross = new Float32Array(48);
    expect(lib.crissCrossAttention(qc, qc, vc, { out: outCross, scale: 2 }).data).toBe(outCross);
    expect(relFrobenius(outCross, referenceCrissCross(qc, qc, vc, 2))).toBeLessThan(TOLERANCE);
  });
});

describe('argument errors', () => {
  const lib = nativeLib;
  it('crissCrossAttention', () => {
    const q = tensor([1, 2, 3, 4]);
    expect(() => lib.crissCrossAttention(q, q, tensor([1, 5, 3, 5]))).toThrow(new RangeError('crissCrossAttention: expected v.shape[3] to equal q.shape[3] (4) but received 5'));
    expect(() => lib.crissCrossAttention(q, q, q, { layout: 'nhwc' as 'channels-last' })).toThrow(new TypeError('crissCrossAttention: expected layout to be "channels-first" or "channels-last" but received "nhwc"'));
    expect(() => lib.crissCrossAttention(q, q, q, { out: q.data })).toThrow(new RangeError('crissCrossAttention: expected out not to share memory with q.data but received an overlapping view of the same buffer'));
  });
  it('layers', () => {
    const weights = { query_conv: conv(2, 16), key_conv: conv(2, 16), value_conv: conv(16, 8), gamma: 0.5 };
    expect(() => new lib.CrissCrossAttention({ channels: 16, weights })).toThrow(new RangeError('CrissCrossAttention: expected weights.value_conv.weight.length to equal 256 ([Cout, Cin, 1, 1] = [16, 16, 1, 1]) but received 128'));
    const layer = new lib.CrissCrossAttention({ channels: 16, weights: { ...weights, value_conv: conv(16, 16) } });
    expect(() => layer.forward(tensor([1, 8, 2, 2]))).toThrow(new RangeError('CrissCrossAttention: expected x.shape[1] to equal channels (16) but received 8'));
  });
});
