/**
 * scale, softcap and ALiBi slopes at the edges of float32. The native kernels
 * compute in float32 (and multiply scale, softcap and slopes by log2(e)), the
 * JS kernel in float64: values float32 cannot carry are refused, and the
 * accepted edge values give the same finite result on both backends (every
 * native ISA, 1 and 2 threads).
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { AttentionOptions } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { nativeModes } from './native-modes';
import { relFrobenius } from './oracle/attention.mjs';
import { tensor, loadJsLib } from './helpers';

const jsLib: typeof nativeLib = await loadJsLib();

const modes = nativeModes(nativeAddon());

function expectFinite(data: Float32Array): void {
  expect(data.every((x) => Number.isFinite(x))).toBe(true);
}

// B=1, H=2, Lq=Lk=4: query i sits at key i, distances up to 3 (Lq + Lk = 8).
const dims = { B: 1, H: 2, L: 4, D: 8 };
const k = tensor([dims.B, dims.H, dims.L, dims.D], 2);
const v = tensor([dims.B, dims.H, dims.L, dims.D], 3);

const edges: Array<{ name: string; qFactor: number; options: AttentionOptions }> = [
  // q·k·2**127 stays moderate because q is tiny (2**-125): a sharp but finite softmax.
  { name: 'scale 2**127', qFactor: 2 ** -125, options: { scale: 2 ** 127 } },
  { name: 'scale 2**-126 (uniform weights)', qFactor: 1, options: { scale: 2 ** -126 } },
  { name: 'softcap 2**127 (no capping in effect)', qFactor: 1, options: { softcap: 2 ** 127 } },
  { name: 'softcap 2**-126 (scores capped to about 0)', qFactor: 1, options: { softcap: 2 ** -126 } },
  { name: 'ALiBi slopes ±2**127 / (Lq + Lk)', qFactor: 1, options: { alibiSlopes: Float32Array.from([2 ** 124, -(2 ** 124)]) } },
];

describe('the accepted float32 edges give one finite result on every backend', () => {
  it.each(edges)('$name', ({ qFactor, options }) => {
    const q = tensor([dims.B, dims.H, dims.L, dims.D], 1, qFactor);
    const request = { ...options, returnLse: true, returnWeights: true } as const;
    const js = jsLib.attention(q, k, v, request);
    expectFinite(js.data);
    expectFinite(js.lse.data);
    for (const mode of modes) {
      mode.select();
      const native = nativeLib.attention(q, k, v, request);
      expectFinite(native.data);
      expectFinite(native.lse.data);
      expect(relFrobenius(native.data, js.data), mode.name).toBeLessThanOrEqual(1e-5);
      expect(relFrobenius(native.weights.data, js.weights.data), mode.name).toBeLessThanOrEqual(1e-5);
      // lse scales with the slopes (about 2**124 here): compare it relatively.
      expect(relFrobenius(native.lse.data, js.lse.data), mode.name).toBeLessThanOrEqual(1e-5);
    }
  });

  it('the ALiBi edge: slope +2**124 picks the aligned key, -2**124 the farthest one', () => {
    const q = tensor([dims.B, dims.H, dims.L, dims.D], 1);
    const out = jsLib.attention(q, k, v, { alibiSlopes: Float32Array.from([2 ** 124, -(2 ** 124)]) });
    const row = (h: number, i: number) => Array.from(out.data.subarray((h * dims.L + i) * dims.D, (h * dims.L + i + 1) * dims.D));
    const value = (h: number, j: number) => Array.from(v.data.subarray((h * dims.L + j) * dims.D, (h * dims.L + j + 1) * dims.D));
    for (let i = 0; i < dims.L; i++) {
      expect(row(0, i)).toEqual(value(0, i));
      expect(row(1, i)).toEqual(value(1, i < 2 ? 3 : 0));
    }
  });
});

describe('values float32 cannot carry are refused with one message', () => {
  const q = tensor([dims.B, dims.H, dims.L, dims.D], 1);
  const range = 'a number from 2**-126 to 2**127 (the native kernels compute in float32)';
  it.each([
    { options: { scale: 1e39 }, message: `attention: expected scale to be ${range} but received 1e+39` },
    { options: { softcap: 1e-46 }, message: `attention: expected softcap to be ${range} but received 1e-46` },
    {
      options: { alibiSlopes: Float32Array.from([0.5, 3e38]) },
      message:
        'attention: expected |alibiSlopes[1]| to be at most 2**127 / (Lq + Lk) = 2.1267647932558654e+37 (slope times a key distance must stay finite in float32) but received 3.0000000054977558e+38',
    },
  ])('$message', ({ options, message }) => {
    for (const lib of [jsLib, nativeLib]) {
      expect(() => lib.attention(q, k, v, options)).toThrow(new RangeError(message));
      expect(() => lib.explain(q, k, v, options)).toThrow(new RangeError(message));
    }
  });

  it('crissCrossAttention and axialAttention take the same range of scale', () => {
    const image = tensor([1, 2, 3, 3], 4);
    expect(() => nativeLib.crissCrossAttention(image, image, image, { scale: 1e39 })).toThrow(
      new RangeError(`crissCrossAttention: expected scale to be ${range} but received 1e+39`),
    );
    const edge = nativeLib.crissCrossAttention(image, image, image, { scale: 2 ** -126 });
    expectFinite(edge.data);
    const heads = tensor([1, 1, 3, 3, 2], 5);
    expect(() => nativeLib.axialAttention(heads, heads, heads, { axis: 'height', scale: 2 ** -127 })).toThrow(
      new RangeError(`axialAttention: expected scale to be ${range} but received ${2 ** -127}`),
    );
  });
});
