/**
 * The WebAssembly backend (dist/fused_attention.wasm, lib/wasm.ts): the
 * correctness grid of attention-grid.ts against the float64 oracle and the TS
 * kernel, attentionAsync (long calls on its worker thread) and explain on it,
 * the same argument errors as the other backends, bfloat16 K/V, and the
 * module's own guards. The options,
 * KvCache and MHA suites run it too (helpers.ts backendRunners). Skipped,
 * with a test that says so, when the module is not built (npm run build:wasm).
 */
import { describe, expect, it } from 'vitest';
import type { NativeAttentionArgs } from '../lib/native';
import type { AttentionOptions } from '../lib/types';
import { referenceAttention, relFrobenius } from './oracle/attention.mjs';
import { buildCases, checkGridCase, inputs, validKernelArgs } from './attention-grid';
import { WASM_BUILT, WASM_ISA, loadJsLib, loadWasmLib, tensor, type Lib } from './helpers';

const TOL = 1e-5;

const jsLib = await loadJsLib();
// The plain SIMD128 build, then the one the loader picks (the relaxed-SIMD build where this engine runs it).
const plainLib = await loadWasmLib('simd128');
const wasmLib = WASM_ISA === 'relaxed-simd' ? await loadWasmLib() : plainLib;
// The backend module of wasmLib's instance (the module graph loaded last).
const wasmBackend = WASM_BUILT ? await import('../lib/backend') : null;
/** Each build this engine runs, for the accuracy grid. */
const builds = WASM_ISA === 'relaxed-simd' ? [{ isa: 'simd128', lib: plainLib }, { isa: 'relaxed-simd', lib: wasmLib }] : [{ isa: 'simd128', lib: plainLib }];

describe.runIf(!WASM_BUILT)('WebAssembly backend', () => {
  it.skip('skipped: dist/fused_attention.wasm is not built (npm run build:wasm; needs clang with wasm32 and wasi-libc)', () => {});
});

describe.runIf(WASM_BUILT).each(builds)('WebAssembly kernel ($isa) vs float64 reference and TS fallback', ({ isa, lib: buildLib }) => {
  const lib = buildLib!;

  it('is the backend of this instance', () => {
    expect(lib.backend()).toMatchObject({ name: 'wasm', isa, threads: 1 });
  });

  for (const c of buildCases()) {
    it(c.name, () => {
      checkGridCase(c, lib.attention, TOL);
    });
  }
});

describe.runIf(WASM_BUILT)(`WebAssembly backend (${WASM_ISA})`, () => {
  const lib = wasmLib!;

  it('is the backend of this instance, and says why', () => {
    expect(lib.backend()).toEqual({ name: 'wasm', isa: WASM_ISA, threads: 1, reason: 'FUSED_ATTENTION_BACKEND=wasm forces the WebAssembly backend' });
  });

  it('attentionAsync equals attention bit for bit', async () => {
    for (const c of buildCases().filter((x) => x.Lq * x.Lk >= 128 * 128).slice(0, 4)) {
      const { q, k, v, opts } = inputs(c);
      const sync = lib.attention(q, k, v, opts).data;
      const viaAsync = (await lib.attentionAsync(q, k, v, opts)).data;
      expect(Buffer.from(viaAsync.buffer).equals(Buffer.from(sync.buffer))).toBe(true);
    }
  });

  it('long attentionAsync calls run on the worker thread: same bits, concurrent calls in order, the event loop keeps turning', async () => {
    const q = tensor([1, 8, 768, 64], 1), k = tensor([1, 8, 768, 64], 2), v = tensor([1, 8, 768, 64], 3);
    const opts: AttentionOptions = { causal: true, mask: { data: tensor([768, 768], 4).data, shape: [768, 768] } };
    const sync = lib.attention(q, k, v, opts).data;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const start = performance.now();
    const results = await Promise.all([1, 2, 3].map(() => lib.attentionAsync(q, k, v, opts)));
    const elapsed = performance.now() - start;
    clearInterval(timer);
    for (const r of results) expect(Buffer.from(r.data.buffer).equals(Buffer.from(sync.buffer))).toBe(true);
    // Three calls of ~10-40 ms each: a kernel on this thread would leave the 1 ms timer a handful of ticks.
    expect(ticks).toBeGreaterThan(elapsed / 10);
  });

  it('an attentionAsync aborted on the worker rejects at once with the reason and never writes its output', async () => {
    const q = tensor([1, 8, 1024, 64], 1);
    const out = new Float32Array(q.data.length).fill(7);
    const controller = new AbortController();
    const pending = lib.attentionAsync(q, q, q, { out, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await lib.attentionAsync(q, q, q); // queued behind the aborted call on the same worker: it has finished by now
    expect(out.every((x) => x === 7)).toBe(true);
  });

  it('decode with the keys split (Lq = 1, Lk = 2048, one kv head) and a KvCache in bfloat16', async () => {
    const q = tensor([1, 4, 1, 64], 1), k = tensor([1, 1, 2048, 64], 2), v = tensor([1, 1, 2048, 64], 3);
    expect(lib.explain(q, k, v)).toMatchObject({ backend: 'wasm', path: 'decode-split-k', threads: 1 });
    expect(relFrobenius(lib.attention(q, k, v).data, referenceAttention(q, k, v, {}))).toBeLessThanOrEqual(TOL);
    const caches = ['float32', 'bfloat16'].map((dtype) => {
      const cache = new lib.KvCache({ batch: 1, numKvHeads: 1, headDim: 64, maxLength: 4096, dtype: dtype as 'float32' | 'bfloat16' });
      cache.append(k, v);
      return cache;
    });
    const [f32, bf16] = caches.map((cache) => lib.attention(q, cache, { returnLse: true }));
    const bf16Async = await lib.attentionAsync(q, caches[1], { returnLse: true }); // 2 MFLOP: below the worker's threshold
    expect(Array.from(bf16Async.data)).toEqual(Array.from(bf16.data));
    const [jsF32, jsBf16] = caches.map((cache) => jsLib.attention(q, cache, { returnLse: true }));
    expect(relFrobenius(f32.data, jsF32.data)).toBeLessThanOrEqual(TOL);
    expect(relFrobenius(bf16.data, jsBf16.data)).toBeLessThanOrEqual(TOL);
    expect(relFrobenius(bf16.lse.data, jsBf16.lse.data)).toBeLessThanOrEqual(TOL);
    expect(relFrobenius(bf16.data, f32.data)).toBeLessThanOrEqual(1e-2);
  });

  it('explain reports the WebAssembly plan, and nothing to compute as 0 work', () => {
    const q = tensor([1, 8, 512, 64], 1), k = tensor([1, 8, 512, 64], 2);
    expect(lib.explain(q, k, k)).toEqual({ backend: 'wasm', isa: WASM_ISA, path: 'tiled', blockQ: 128, blockK: 256, threads: 1, workItems: 32, scratchBytes: expect.any(Number) });
    const empty = { data: new Float32Array(0), shape: [1, 8, 0, 64] };
    expect(lib.explain(empty, k, k)).toEqual({ backend: 'wasm', isa: WASM_ISA, path: 'tiled', blockQ: 0, blockK: 0, threads: 0, workItems: 0, scratchBytes: 0 });
  });

  it('throws the same errors as the JS backend', async () => {
    const q = tensor([1, 2, 3, 4], 1), k = tensor([1, 2, 5, 4], 2), v = tensor([1, 2, 5, 4], 3);
    const bad: Array<[unknown, unknown, unknown, unknown]> = [
      [q, tensor([1, 2, 5, 3], 2), v, undefined],
      [q, k, v, { scale: -1 }],
      [q, k, v, { mask: tensor([3, 3, 5], 4) }],
      [q, k, v, { causal: 'bottom' }],
      [q, k, tensor([1, 2, 4, 4], 3), undefined],
      [{ data: new Float64Array(24), shape: [1, 2, 3, 4] }, k, v, undefined],
    ];
    const caught = (fn: () => unknown): Error => {
      try {
        fn();
      } catch (err) {
        return err as Error;
      }
      throw new Error('expected a throw');
    };
    for (const args of bad) {
      const call = (l: Lib) => (l.attention as (...a: unknown[]) => unknown)(...args);
      const want = caught(() => call(jsLib));
      const got = caught(() => call(lib));
      expect(got.constructor).toBe(want.constructor);
      expect(got.message).toBe(want.message);
      await expect((lib.attentionAsync as (...a: unknown[]) => Promise<unknown>)(...args)).rejects.toThrow(want.message);
    }
  });

  it('options beyond the grid agree with the TS kernel: softcap, ALiBi, window, boolean mask, key padding and lengths, lse and weights, blhd', () => {
    const B = 2, H = 4, Hkv = 2, Lq = 37, Lk = 70, D = 24;
    const q = tensor([B, Lq, H, D], 1), k = tensor([B, Lk, Hkv, D], 2), v = tensor([B, Lk, Hkv, D], 3);
    const boolMask = { data: Uint8Array.from({ length: Lq * Lk }, (_, i) => (i % 7 === 0 ? 0 : 1)), shape: [Lq, Lk] };
    const options: AttentionOptions = {
      layout: 'blhd', softcap: 3, alibiSlopes: Float32Array.of(0.5, 0.25, 0.125, 0.0625), window: [20, 4], mask: boolMask,
      keyPadding: Uint8Array.from({ length: B * Lk }, (_, i) => (i % 11 === 3 ? 0 : 1)), keyLengths: Int32Array.of(Lk, 50),
      returnLse: true, returnWeights: true,
    };
    const got = lib.attention(q, k, v, options as AttentionOptions & { returnLse: true; returnWeights: true });
    const want = jsLib.attention(q, k, v, options as AttentionOptions & { returnLse: true; returnWeights: true });
    expect(relFrobenius(got.data, want.data)).toBeLessThanOrEqual(TOL);
    expect(relFrobenius(got.weights.data, want.weights.data)).toBeLessThanOrEqual(TOL);
    const finite = (x: Float32Array) => x.map((y) => (Number.isFinite(y) ? y : 0));
    expect(relFrobenius(finite(got.lse.data), finite(want.lse.data))).toBeLessThanOrEqual(TOL);
    expect(Array.from(got.lse.data, Number.isFinite)).toEqual(Array.from(want.lse.data, Number.isFinite));
  });

  it('the other ops (linear, packLinear, criss-cross, axial) run the TS kernels on this backend and agree with the JS one', async () => {
    const x = tensor([5, 16], 1), w = tensor([12, 16], 2), b = tensor([12], 3);
    expect(relFrobenius(lib.linear(x, w, b).data, jsLib.linear(x, w, b).data)).toBeLessThanOrEqual(TOL);
    const packed = [lib, jsLib].map((l) => l.packLinear(w, b));
    expect(relFrobenius((await packed[0].forwardAsync(x)).data, packed[1].forward(x).data)).toBeLessThanOrEqual(TOL);
    const img = [tensor([1, 8, 6, 7], 4), tensor([1, 8, 6, 7], 5), tensor([1, 4, 6, 7], 6)] as const;
    expect(relFrobenius(lib.crissCrossAttention(...img).data, jsLib.crissCrossAttention(...img).data)).toBeLessThanOrEqual(TOL);
    const vol = [tensor([1, 2, 6, 7, 8], 7), tensor([1, 2, 6, 7, 8], 8), tensor([1, 2, 6, 7, 8], 9)] as const;
    const axial = (l: Lib) => l.axialAttention(...vol, { axis: 'width', causal: true }).data;
    expect(relFrobenius(axial(lib), axial(jsLib))).toBeLessThanOrEqual(TOL);
  });

  it('a call larger than the memory so far grows it, and later calls reuse it', () => {
    const kernels = wasmBackend!.wasmKernels()!;
    const q = tensor([1, 4, 256, 64], 1), k = tensor([1, 4, 3000, 64], 2);
    lib.attention(q, k, k);
    const grown = kernels.memoryBytes;
    expect(grown).toBeGreaterThan(4 * 3000 * 64 * 4 * 2);
    lib.attention(q, k, k);
    expect(kernels.memoryBytes).toBe(grown);
  });
});

describe.runIf(WASM_BUILT)('WebAssembly module guards (bypassing the TS checks)', () => {
  const base = (): NativeAttentionArgs => validKernelArgs(0.5);
  const kernels = () => wasmBackend!.wasmKernels()!;

  it('runs the valid call', () => {
    const args = base();
    expect(kernels().attention(args)).toBe(true);
    expect(Array.from(args.out)).toEqual(Array.from(args.v));
  });
  it('rejects dims out of range, H not a multiple of Hkv, key lengths past Lk and a bad scale', () => {
    expect(() => kernels().attention({ ...base(), D: 8.5 })).toThrow(new Error('fused-attention (wasm): expected an integer in range for D'));
    expect(() => kernels().attention({ ...base(), Hkv: 3 })).toThrow(new Error('fused-attention (wasm): expected H to be a multiple of Hkv'));
    expect(() => kernels().attention({ ...base(), keyLengths: Int32Array.of(5) })).toThrow(new Error('fused-attention (wasm): expected values in [0, Lk] in keyLengths'));
    expect(() => kernels().attention({ ...base(), scale: Number.NaN })).toThrow(new Error('fused-attention (wasm): expected a finite number > 0 for scale'));
  });
  it('rejects strides that reach past the end of an array', () => {
    expect(() => kernels().attention({ ...base(), Lk: 5 })).toThrow(new Error('fused-attention (wasm): expected more elements in k'));
    expect(() => kernels().attention({ ...base(), vStrideL: 9 })).toThrow(new Error('fused-attention (wasm): expected more elements in v'));
    expect(() => kernels().attention({ ...base(), mask: new Float32Array(15), maskStrideQ: 4 })).toThrow(new Error('fused-attention (wasm): expected more elements in mask'));
    expect(() => kernels().attention({ ...base(), B: 2 ** 40, qStrideB: 2 ** 40 })).toThrow(new Error('fused-attention (wasm): extent overflows for q'));
  });
  it('plans with empty out, lse and weights placeholders', () => {
    const placeholders = { out: new Float32Array(0), lse: new Float32Array(0), weights: new Float32Array(0) };
    expect(kernels().plan({ ...base(), ...placeholders })).toMatchObject({ isa: WASM_ISA, path: 'tiled', threads: 1 });
  });
});
