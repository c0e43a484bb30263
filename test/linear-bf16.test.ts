/**
 * packLinear(weight, bias, { dtype: 'bfloat16' }) and MultiHeadAttention's
 * weightsDtype: the weights rounded once to bfloat16, widened exactly in the
 * kernel. On every backend (js, wasm, native per ISA × 1 and 2 threads):
 * equal to the float64 oracle run on the ROUNDED weights (float32 arithmetic
 * only), within bfloat16's error of the unrounded ones, bias and tails
 * (outFeatures not a multiple of the panels, odd inFeatures) included; the same
 * bits as float32 packing of the rounded weights; outStride/outOffset,
 * forwardAsync and abort as with float32 weights; option errors.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { relFrobenius } from './oracle/attention.mjs';
import { roundBf16 } from './oracle/inputs.mjs';
import { referenceLinear } from './oracle/linear.mjs';
import { restoreNativeModeAfterAll } from './native-modes';
import { backendRunners, expectError, loadJsLib, loadWasmLib, tensor, type Lib } from './helpers';

const jsLib: Lib = await loadJsLib();
const wasmLib = await loadWasmLib();
const runners = backendRunners<Lib>(jsLib, nativeLib, wasmLib);
restoreNativeModeAfterAll(nativeAddon());

/** Float32 arithmetic on exact inputs: within this of the float64 result. */
const FLOAT32_TOL = 1e-5;
/** Rounding N(0,1) weights to bfloat16 (8 significant bits) moves y by ~2e-3 relative. */
const BF16_TOL = 1e-2;

const rounded = (w: Tensor): Tensor => ({ data: roundBf16(w.data), shape: w.shape });

// [rows, inFeatures, outFeatures]: decode rows (1-4), a full register tile and more, tails on both axes.
const SHAPES: Array<[number, number, number]> = [
  [1, 64, 64],
  [1, 513, 100],
  [2, 33, 17],
  [3, 256, 130],
  [4, 1024, 768],
  [7, 80, 33],
  [17, 129, 257],
];

describe.each(runners)('bfloat16 packed weights, $name', ({ lib, prepare }) => {
  for (const [M, K, N] of SHAPES) {
    for (const withBias of [false, true]) {
      it(`${M}x${K} → ${N}${withBias ? ' + bias' : ''}: float32 arithmetic on the rounded weights, bfloat16 error on the originals`, () => {
        prepare();
        const x = tensor([M, K], 1);
        const w = tensor([N, K], 2);
        const b = withBias ? tensor([N], 3) : null;
        const packed = lib.packLinear(w, b, { dtype: 'bfloat16' });
        expect(packed.dtype).toBe('bfloat16');
        const y = packed.forward(x);
        expect(y.shape).toEqual([M, N]);
        const exact = referenceLinear(x.data, M, K, rounded(w).data, N, b ? b.data : null);
        expect(relFrobenius(y.data, exact)).toBeLessThanOrEqual(FLOAT32_TOL);
        const unrounded = relFrobenius(y.data, referenceLinear(x.data, M, K, w.data, N, b ? b.data : null));
        expect(unrounded).toBeLessThanOrEqual(BF16_TOL);
        expect(unrounded).toBeGreaterThan(1e-4); // the weights really were rounded
        // Same operations as float32 packing of the rounded weights: same bits.
        expect(Array.from(y.data)).toEqual(Array.from(lib.packLinear(rounded(w), b).forward(x).data));
      });
    }
  }

  it('rows into a wider buffer (outStride, outOffset) and forwardAsync give the forward bits', async () => {
    prepare();
    const [M, K, N] = [5, 96, 40];
    const x = tensor([M, K], 4);
    const packed = lib.packLinear(tensor([N, K], 5), tensor([N], 6), { dtype: 'bfloat16' });
    const dense = packed.forward(x).data;
    const out = new Float32Array(3 + M * 64).fill(-7);
    packed.forward(x, { out, outStride: 64, outOffset: 3 });
    for (let r = 0; r < M; r++) {
      expect(Array.from(out.subarray(3 + r * 64, 3 + r * 64 + N))).toEqual(Array.from(dense.subarray(r * N, (r + 1) * N)));
      expect(Array.from(out.subarray(3 + r * 64 + N, 3 + (r + 1) * 64)).every((v) => v === -7)).toBe(true);
    }
    expect(Array.from((await packed.forwardAsync(x)).data)).toEqual(Array.from(dense));
  });

  it('an aborted forwardAsync rejects with the reason and writes nothing', async () => {
    prepare();
    const packed = lib.packLinear(tensor([64, 64], 7), null, { dtype: 'bfloat16' });
    const controller = new AbortController();
    const out = new Float32Array(64).fill(3);
    const pending = packed.forwardAsync(tensor([1, 64], 8), { out, signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(out.every((v) => v === 3)).toBe(true);
  });

  it('zero rows give an empty result', () => {
    prepare();
    const packed = lib.packLinear(tensor([8, 16], 9), null, { dtype: 'bfloat16' });
    const y = packed.forward({ data: new Float32Array(0), shape: [0, 16] });
    expect(y.shape).toEqual([0, 8]);
  });

  it('MultiHeadAttention({ weightsDtype: "bfloat16" }) equals the layer built from the rounded weights', () => {
    prepare();
    const [E, H, L] = [32, 4, 9];
    const weights = {
      wq: tensor([E, E], 10), bq: tensor([E], 11), wk: tensor([16, E], 12), bk: tensor([16], 13),
      wv: tensor([16, E], 14), bv: tensor([16], 15), wo: tensor([E, E], 16), bo: tensor([E], 17),
    };
    const roundedWeights = { ...weights, wq: rounded(weights.wq), wk: rounded(weights.wk), wv: rounded(weights.wv), wo: rounded(weights.wo) };
    const x = tensor([1, L, E], 18);
    const config = { dModel: E, numHeads: H, numKvHeads: 2 };
    const bf16 = new lib.MultiHeadAttention({ ...config, weightsDtype: 'bfloat16', weights });
    expect(bf16.weightsDtype).toBe('bfloat16');
    const fromRounded = new lib.MultiHeadAttention({ ...config, weights: roundedWeights });
    const f32 = new lib.MultiHeadAttention({ ...config, weights });
    expect(f32.weightsDtype).toBe('float32');
    const y = bf16.forward(x, { causal: true }).data;
    expect(Array.from(y)).toEqual(Array.from(fromRounded.forward(x, { causal: true }).data));
    const error = relFrobenius(y, Float64Array.from(f32.forward(x, { causal: true }).data));
    expect(error).toBeLessThanOrEqual(BF16_TOL);
    expect(error).toBeGreaterThan(1e-4);
  });
});

describe('bfloat16 packed weights: options', () => {
  const w = tensor([4, 3], 1);
  it.each([
    ['a dtype it does not know', { dtype: 'float16' }, TypeError, 'packLinear: expected options.dtype to be "float32" or "bfloat16" but received "float16"'],
    ['an unknown key', { dtpye: 'bfloat16' }, TypeError, 'packLinear: expected options keys to be among dtype but received "dtpye"'],
    ['options not an object', 'bfloat16', TypeError, 'packLinear: expected options to be an object but received "bfloat16"'],
  ])('packLinear refuses %s', (_name, options, type, message) => {
    expectError(() => nativeLib.packLinear(w, null, options as never), type, message);
    expectError(() => new nativeLib.PackedLinear(w, null, options as never), type, message);
  });

  it('float32 is the default, and the native plan says which weights a call reads', () => {
    expect(nativeLib.packLinear(w).dtype).toBe('float32');
    expect(nativeLib.packLinear(w, null, {}).dtype).toBe('float32');
    expect(nativeLib.packLinear(w, null, { dtype: undefined }).dtype).toBe('float32');
  });

  it('MultiHeadAttention refuses a weightsDtype it does not know', () => {
    expectError(
      () => new nativeLib.MultiHeadAttention({ dModel: 8, numHeads: 2, weightsDtype: 'half' as never, weights: {} as never }),
      TypeError,
      'MultiHeadAttention: expected config.weightsDtype to be "float32" or "bfloat16" but received "half"',
    );
  });
});
