/**
 * Cross-check of the native kernel, on every ISA this CPU supports and with 1
 * and 2 threads, against the float64 oracle and the pure-TS fallback, over
 * the grid of attention-grid.ts (wasm.test.ts runs it on the WebAssembly kernel).
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionAsync } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import type { NativeAttentionArgs } from '../lib/native';
import { restoreNativeModeAfterAll } from './native-modes';
import { buildCases, checkGridCase, inputs, validKernelArgs } from './attention-grid';

const addon = nativeAddon();
const TOL = 1e-5;

const cases = buildCases();
const isas = addon ? addon.info().supportedIsas : [];
restoreNativeModeAfterAll(addon);

describe.runIf(addon !== null)('native kernel vs float64 reference and TS fallback', () => {
  for (const isa of isas) {
    for (const threads of [1, 2]) {
      describe(`${isa}, ${threads} thread(s)`, () => {
        for (const c of cases) {
          it(c.name, () => {
            addon!.setIsa(isa);
            addon!.setThreads(threads);
            checkGridCase(c, attention, TOL);
          });
        }
      });
    }
  }

  it('1 and 2 threads give bit-identical results', () => {
    const c = cases.find((x) => x.name === 'causal square 513')!;
    const { q, k, v, opts } = inputs(c);
    addon!.setThreads(1);
    const one = attention(q, k, v, opts).data;
    addon!.setThreads(2);
    const two = attention(q, k, v, opts).data;
    expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
  });

  it('attentionAsync equals attention on every ISA', async () => {
    for (const isa of isas) {
      addon!.setIsa(isa);
      for (const c of cases.filter((x) => x.Lq * x.Lk >= 128 * 128).slice(0, 4)) {
        const { q, k, v, opts } = inputs(c);
        const sync = attention(q, k, v, opts).data;
        const async = (await attentionAsync(q, k, v, opts)).data;
        expect(Buffer.from(async.buffer).equals(Buffer.from(sync.buffer))).toBe(true);
      }
    }
  });

  it('many concurrent attentionAsync calls all resolve to the sync result', async () => {
    const c = cases.find((x) => x.name === 'GQA H=8 Hkv=2')!;
    const { q, k, v, opts } = inputs(c);
    const sync = attention(q, k, v, opts).data;
    const results = await Promise.all(Array.from({ length: 64 }, () => attentionAsync(q, k, v, opts)));
    for (const r of results) expect(Buffer.from(r.data.buffer).equals(Buffer.from(sync.buffer))).toBe(true);
  });
});

describe.runIf(addon !== null)('native binding guards (bypassing the TS checks)', () => {
  const base = (): NativeAttentionArgs => validKernelArgs();
  it('accepts the valid call', () => {
    expect(() => addon!.attention(base())).not.toThrow();
  });
  it('rejects a wrong typed-array kind', () => {
    expect(() => addon!.attention({ ...base(), k: new Float64Array(64) as unknown as Float32Array })).toThrow(
      new TypeError('fused-attention (native): expected k to be a Float32Array or a Uint16Array (bfloat16)'),
    );
    expect(() => addon!.attention({ ...base(), keyLengths: new Uint32Array(1) as unknown as Int32Array })).toThrow(
      new TypeError('fused-attention (native): expected keyLengths to be a Int32Array'),
    );
  });
  it('rejects strides that reach past the end of an array', () => {
    expect(() => addon!.attention({ ...base(), Lk: 5 })).toThrow(
      new RangeError('fused-attention (native): expected k to hold at least 72 elements but it holds 64'),
    );
    expect(() => addon!.attention({ ...base(), vStrideL: 9 })).toThrow(
      new RangeError('fused-attention (native): expected v to hold at least 67 elements but it holds 64'),
    );
  });
  it('rejects dims whose extent overflows int64', () => {
    expect(() => addon!.attention({ ...base(), B: 2 ** 40, qStrideB: 2 ** 40 })).toThrow(
      new RangeError('fused-attention (native): q extent overflows'),
    );
  });
  it('rejects a mask too short for its strides', () => {
    expect(() => addon!.attention({ ...base(), mask: new Float32Array(15), maskStrideQ: 4 })).toThrow(
      new RangeError('fused-attention (native): expected mask to hold at least 16 elements but it holds 15'),
    );
  });
  it('reads a mask along the keys with maskStrideK (0 or 1), and checks its extent with it', () => {
    const row = { mask: new Float32Array(4), maskStrideQ: 1 }; // [Lq, 1]: one value per query row
    expect(() => addon!.attention({ ...base(), ...row, maskStrideK: 0 })).not.toThrow();
    expect(() => addon!.attention({ ...base(), ...row, maskStrideK: 1 })).toThrow(
      new RangeError('fused-attention (native): expected mask to hold at least 7 elements but it holds 4'),
    );
    expect(() => addon!.attention({ ...base(), ...row, maskStrideK: 2 })).toThrow(
      new RangeError('fused-attention (native): expected maskStrideK to be an integer in [0, 1]'),
    );
    expect(() => addon!.attention({ ...base(), boolMask: new Uint8Array(1), boolMaskStrideK: 0 })).not.toThrow();
    expect(() => addon!.attention({ ...base(), boolMask: new Uint8Array(1), boolMaskStrideK: 1 })).toThrow(
      new RangeError('fused-attention (native): expected boolMask to hold at least 4 elements but it holds 1'),
    );
  });
  it('plans with empty out, lse and weights placeholders (explain), but runs only with full ones', () => {
    const placeholders = { out: new Float32Array(0), lse: new Float32Array(0), weights: new Float32Array(0) };
    expect(addon!.plan({ ...base(), ...placeholders }).workItems).toBeGreaterThan(0);
    expect(() => addon!.attention({ ...base(), ...placeholders })).toThrow(
      new RangeError('fused-attention (native): expected out to hold at least 64 elements but it holds 0'),
    );
  });
  it('rejects key lengths outside [0, Lk] and outputs of the wrong size', () => {
    expect(() => addon!.attention({ ...base(), keyLengths: Int32Array.of(5) })).toThrow(
      new RangeError('fused-attention (native): expected keyLengths values in [0, Lk]'),
    );
    expect(() => addon!.attention({ ...base(), lse: new Float32Array(7) })).toThrow(
      new RangeError('fused-attention (native): expected lse to hold 8 elements but it holds 7'),
    );
  });
  it('rejects non-integer dims and a bad scale', () => {
    expect(() => addon!.attention({ ...base(), D: 8.5 })).toThrow(RangeError);
    expect(() => addon!.attention({ ...base(), scale: Number.NaN })).toThrow(RangeError);
  });
});
