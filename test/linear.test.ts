/**
 * linear, packLinear and PackedLinear (forward, forwardAsync) against a
 * float64 reference, on the JS backend and on the native one for every ISA ×
 * 1 and 2 threads: a grid of rows × inFeatures × outFeatures with and without
 * bias, x of rank 1-4, rows written into a wider buffer (neighbours poisoned
 * and checked), forwardAsync vs forward, packed weights across setIsa, 1 vs 2
 * threads bit for bit, random shapes with guarded views, abort, detach, GC.
 * Plus every argument error (whole message) and the binding's own guards.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import type { NativeIsa, NativeLinearArgs } from '../lib/native';
import { relFrobenius } from './oracle/attention.mjs';
import { referenceLinear } from './oracle/linear.mjs';
import { randn } from './oracle/prng.mjs';
import { restoreNativeModeAfterAll } from './native-modes';
import { tensor, filledTensor, expectError, loadJsLib, product, backendRunners, type ErrorType, type Lib } from './helpers';

const TOLERANCE = 1e-5;

const jsLib: Lib = await loadJsLib();

const addon = nativeAddon();

const runners = backendRunners<Lib>(jsLib, nativeLib);
const isas: NativeIsa[] = addon ? addon.info().supportedIsas : [];

/** Σ_k |x_k·w_jk| + |b_j| per output: the scale a float32 dot product's rounding error is relative to. */
function magnitudes(x: Float32Array, M: number, K: number, w: Float32Array, N: number, b: Float32Array | null): Float64Array {
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = b ? Math.abs(b[j]) : 0;
      for (let k = 0; k < K; k++) s += Math.abs(x[i * K + k] * w[j * K + k]);
      y[i * N + j] = s;
    }
  }
  return y;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

const ROWS = [1, 2, 3, 7, 17, 129, 300];
const INS = [1, 3, 16, 64, 80, 513];
const OUTS = [1, 5, 16, 33, 100, 768];

interface GridCase {
  K: number;
  N: number;
  bias: boolean;
  x: Tensor;
  weight: Tensor;
  b: Tensor | null;
  expected: Float64Array;
}

/** The cases of one row count, built once and shared by every runner. */
const gridCache = new Map<number, GridCase[]>();
function gridCases(M: number): GridCase[] {
  let cases = gridCache.get(M);
  if (cases) return cases;
  cases = [];
  let seed = 1000 * M;
  for (const K of INS) {
    for (const N of OUTS) {
      const x = tensor([M, K], seed++);
      const weight = tensor([N, K], seed++);
      const bias = tensor([N], seed++);
      for (const withBias of [false, true]) {
        const b = withBias ? bias : null;
        cases.push({ K, N, bias: withBias, x, weight, b, expected: referenceLinear(x.data, M, K, weight.data, N, b ? b.data : null) });
      }
    }
  }
  gridCache.set(M, cases);
  return cases;
}

describe.each(runners)('linear on $name', ({ lib, prepare }) => {
  it.each(ROWS)('rows = %i: every inFeatures × outFeatures, with and without bias, linear and packLinear', (M) => {
    prepare();
    for (const c of gridCases(M)) {
      const label = `M=${M} K=${c.K} N=${c.N} bias=${c.bias}`;
      const once = lib.linear(c.x, c.weight, c.b);
      expect(once.shape, label).toEqual([M, c.N]);
      expect(relFrobenius(once.data, c.expected), label).toBeLessThanOrEqual(TOLERANCE);
      const packed = lib.packLinear(c.weight, c.b);
      expect([packed.inFeatures, packed.outFeatures, packed.hasBias]).toEqual([c.K, c.N, c.bias]);
      const y = packed.forward(c.x);
      expect(y.shape, label).toEqual([M, c.N]);
      expect(relFrobenius(y.data, c.expected), label).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('x of rank 1, 2, 3 and 4: rows are the product of the leading dims', () => {
    prepare();
    const weight = tensor([33, 16], 7);
    const bias = tensor([33], 8);
    const packed = lib.packLinear(weight, bias);
    for (const shape of [[16], [5, 16], [2, 3, 16], [2, 1, 3, 16]]) {
      const x = tensor(shape, 9);
      const M = product(shape) / 16;
      const expected = referenceLinear(x.data, M, 16, weight.data, 33, bias.data);
      const outShape = [...shape.slice(0, -1), 33];
      for (const y of [lib.linear(x, weight, bias), packed.forward(x)]) {
        expect(y.shape).toEqual(outShape);
        expect(relFrobenius(y.data, expected)).toBeLessThanOrEqual(TOLERANCE);
      }
    }
  });

  it('out: written and returned as data', () => {
    prepare();
    const x = tensor([7, 80], 11);
    const weight = tensor([100, 80], 12);
    const out = new Float32Array(700);
    const y = lib.linear(x, weight, null, { out });
    expect(y.data).toBe(out);
    const out2 = new Float32Array(700);
    expect(lib.packLinear(weight).forward(x, { out: out2 }).data).toBe(out2);
    const expected = referenceLinear(x.data, 7, 80, weight.data, 100, null);
    expect(relFrobenius(out, expected)).toBeLessThanOrEqual(TOLERANCE);
    expect(relFrobenius(out2, expected)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('Q, K and V side by side in one wide buffer (outStride, outOffset); neighbours untouched', async () => {
    prepare();
    const rows = 17, inF = 64, offset = 5;
    const widths = [48, 16, 16];
    const stride = widths.reduce((a, b) => a + b, 0) + 3; // 3 spare columns per row
    const x = tensor([rows, inF], 20);
    const projections = widths.map((n, p) => lib.packLinear(tensor([n, inF], 21 + p), tensor([n], 31 + p)));
    const dense = projections.map((proj) => proj.forward(x).data);
    const POISON = -1234.5;
    const check = (wide: Float32Array): void => {
      let written = 0;
      for (let i = 0; i < wide.length; i++) {
        const rel = i - offset;
        const r = Math.floor(rel / stride), col = rel - r * stride;
        let expected = POISON;
        if (rel >= 0 && r < rows) {
          let start = 0;
          for (let p = 0; p < 3; p++) {
            if (col >= start && col < start + widths[p]) {
              expected = dense[p][r * widths[p] + col - start];
              written++;
            }
            start += widths[p];
          }
        }
        if (!Object.is(wide[i], expected)) throw new Error(`wide[${i}] (row ${r}, column ${col}) is ${wide[i]}, expected ${expected}`);
      }
      expect(written).toBe(rows * (stride - 3));
    };
    const length = offset + rows * stride + 4;
    const wide = new Float32Array(length).fill(POISON);
    let start = offset;
    for (let p = 0; p < 3; p++) {
      const y = projections[p].forward(x, { out: wide, outStride: stride, outOffset: start });
      expect(y.data).toBe(wide);
      expect(y.shape).toEqual([length]);
      start += widths[p];
    }
    check(wide);
    // The same three calls in flight together: each copies back only its own columns.
    const wideAsync = new Float32Array(length).fill(POISON);
    start = offset;
    const calls: Array<Promise<Tensor>> = [];
    for (let p = 0; p < 3; p++) {
      calls.push(projections[p].forwardAsync(x, { out: wideAsync, outStride: stride, outOffset: start }));
      start += widths[p];
    }
    await Promise.all(calls);
    check(wideAsync);
  });

  it('forwardAsync gives forward\'s bits', async () => {
    prepare();
    for (const [M, K, N] of [[129, 80, 100], [1, 513, 768], [3, 64, 33]]) {
      const x = tensor([M, K], M + K);
      const packed = lib.packLinear(tensor([N, K], N), tensor([N], N + 1));
      const sync = packed.forward(x);
      const pending = packed.forwardAsync(x);
      const asyncResult = await pending;
      expect(asyncResult.shape).toEqual([M, N]);
      expect(sameBits(asyncResult.data, sync.data)).toBe(true);
    }
  });

  it('random shapes, strides and offsets; views with guard margins are read and written within bounds', () => {
    prepare();
    const GUARD = 16;
    const POISON = 4321.25;
    fc.assert(
      fc.property(
        fc.record({
          leading: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 3 }),
          K: fc.integer({ min: 1, max: 90 }),
          N: fc.integer({ min: 1, max: 140 }),
          bias: fc.boolean(),
          extraStride: fc.integer({ min: 0, max: 9 }),
          offset: fc.integer({ min: 0, max: 20 }),
          seed: fc.integer({ min: 1, max: 1 << 30 }),
        }),
        ({ leading, K, N, bias, extraStride, offset, seed }) => {
          const M = product(leading);
          // x as a view in the middle of a larger buffer whose margins are NaN: any read past it would poison a result.
          const xBuffer = new Float32Array(M * K + 2 * GUARD).fill(Number.NaN);
          xBuffer.set(randn(M * K, seed), GUARD);
          const x = { data: xBuffer.subarray(GUARD, GUARD + M * K), shape: [...leading, K] };
          const weight = tensor([N, K], seed + 1);
          const b = bias ? tensor([N], seed + 2) : null;
          const expected = referenceLinear(x.data, M, K, weight.data, N, b ? b.data : null);
          const scale = magnitudes(x.data, M, K, weight.data, N, b ? b.data : null);
          const stride = N + extraStride;
          const extent = offset + (M - 1) * stride + N;
          const outBuffer = new Float32Array(extent + 2 * GUARD).fill(POISON);
          const out = outBuffer.subarray(GUARD, GUARD + extent);
          const packed = lib.packLinear(weight, b);
          packed.forward(x, { out, outStride: stride, outOffset: offset });
          const once = lib.linear(x, weight, b).data;
          for (let i = 0; i < outBuffer.length; i++) {
            const rel = i - GUARD - offset;
            const r = Math.floor(rel / stride), col = rel - r * stride;
            const inside = rel >= 0 && r < M && col < N;
            if (!inside) {
              if (outBuffer[i] !== POISON) return false;
              continue;
            }
            const want = expected[r * N + col];
            const bound = TOLERANCE * scale[r * N + col] + 1e-30;
            if (!(Math.abs(outBuffer[i] - want) <= bound)) return false;
            if (!(Math.abs(once[r * N + col] - want) <= bound)) return false;
          }
          return true;
        },
      ),
      { numRuns: 40, seed: 20251124 },
    );
  });
});

describe.runIf(addon !== null)('native linear', () => {
  const native = addon!;
  restoreNativeModeAfterAll(native);

  it('packed weights are ISA-independent: packed under one ISA, run under another, same bits as packed there', () => {
    native.setThreads(2);
    const x = tensor([129, 80], 40);
    const weight = tensor([100, 80], 41);
    const bias = tensor([100], 42);
    const expected = referenceLinear(x.data, 129, 80, weight.data, 100, bias.data);
    const packedUnder = new Map<NativeIsa, nativeLib.PackedLinear>();
    for (const isa of isas) {
      native.setIsa(isa);
      packedUnder.set(isa, nativeLib.packLinear(weight, bias));
    }
    for (const runIsa of isas) {
      native.setIsa(runIsa);
      const own = packedUnder.get(runIsa)!.forward(x).data;
      expect(relFrobenius(own, expected)).toBeLessThanOrEqual(TOLERANCE);
      for (const packIsa of isas) expect(sameBits(packedUnder.get(packIsa)!.forward(x).data, own)).toBe(true);
    }
  });

  it('1 and 2 threads give the same bits on every path (tiles, one-strip streaming, rows-dot, pack-then-tiles)', () => {
    // Each large enough for two threads on both the packed and the one-shot path.
    const cases: Array<[number, number, number, boolean]> = [
      [600, 200, 300, true],
      [300, 513, 768, true],
      [129, 256, 300, false],
      [1, 4096, 1024, true],
      [3, 1024, 2048, true],
    ];
    for (const isa of isas) {
      native.setIsa(isa);
      for (const [M, K, N, withBias] of cases) {
        const x = tensor([M, K], M * 3 + K);
        const weight = tensor([N, K], N);
        const b = withBias ? tensor([N], N + 5) : null;
        const packed = nativeLib.packLinear(weight, b);
        const results: Float32Array[][] = [];
        for (const threads of [1, 2]) {
          native.setThreads(threads);
          const args: NativeLinearArgs = {
            x: x.data, rows: M, inFeatures: K, outFeatures: N, weight: weight.data, bias: b ? b.data : null,
            packed: null, out: new Float32Array(M * N), outStride: N, outOffset: 0,
          };
          expect(native.linearPlan(args).threads, `${isa} ${M}x${K}x${N} one-shot at ${threads} thread(s)`).toBe(threads);
          results.push([packed.forward(x).data, nativeLib.linear(x, weight, b).data]);
        }
        expect(sameBits(results[0][0], results[1][0]), `${isa} ${M}x${K}x${N} packed`).toBe(true);
        expect(sameBits(results[0][1], results[1][1]), `${isa} ${M}x${K}x${N} one-shot`).toBe(true);
      }
    }
  });

  it('plans: small calls stay on one thread; few rows stream the weights; large calls tile', () => {
    native.setThreads(2);
    const plan = (M: number, K: number, N: number, packed: boolean) => {
      const weight = new Float32Array(N * K);
      return native.linearPlan({
        x: new Float32Array(M * K), rows: M, inFeatures: K, outFeatures: N,
        weight: packed ? null : weight, bias: null,
        packed: packed ? native.linearPack({ weight, bias: null, inFeatures: K, outFeatures: N, dtype: 'float32' }) : null,
        out: new Float32Array(M * N), outStride: N, outOffset: 0,
      });
    };
    expect(plan(4, 64, 64, true)).toMatchObject({ path: 'tiles', threads: 1 });
    expect(plan(16, 128, 128, true)).toMatchObject({ path: 'tiles', threads: 1 });
    expect(plan(2, 64, 64, false)).toMatchObject({ path: 'rows-dot', threads: 1 });
    expect(plan(64, 64, 64, false)).toMatchObject({ path: 'rows-dot', threads: 1 });
    expect(plan(300, 512, 256, false)).toMatchObject({ path: 'rows-dot', threads: 2, blockN: 32, workItems: 8 });
    expect(plan(300, 4096, 256, false)).toMatchObject({ path: 'rows-dot', threads: 2, blockN: 16, workItems: 16 });
    expect(plan(513, 64, 64, false)).toMatchObject({ path: 'pack-then-tiles', threads: 2 });
    expect(plan(1024, 512, 512, true)).toMatchObject({ path: 'tiles', threads: 2 });
    expect(plan(1, 4096, 4096, true)).toMatchObject({ path: 'tiles', threads: 2, blockM: 1, blockK: 4096 });
    expect(plan(4, 2048, 2048, false)).toMatchObject({ path: 'rows-dot', threads: 2 });
  });

  it('forwardAsync: an aborted signal rejects with its reason and leaves out untouched', async () => {
    const packed = nativeLib.packLinear(tensor([1024, 1024], 50));
    const x = tensor([2048, 1024], 51);
    const before = new AbortController();
    before.abort();
    const out = new Float32Array(2048 * 1024);
    await expect(packed.forwardAsync(x, { out, signal: before.signal })).rejects.toBe(before.signal.reason);
    const during = new AbortController();
    const pending = packed.forwardAsync(x, { out, signal: during.signal });
    during.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    // Calls run in order: once a later one has settled, the aborted one has been delivered too.
    await packed.forwardAsync(tensor([1, 1024], 52));
    expect(out.every((v) => v === 0)).toBe(true);
  });

  it('forwardAsync reads a copy of x (x detached right after the call) and refuses to write a detached out', async () => {
    const weight = tensor([64, 48], 60);
    const packed = nativeLib.packLinear(weight);
    const x = tensor([300, 48], 61);
    const expected = packed.forward(x).data;
    const xCopy = { data: x.data.slice(), shape: x.shape };
    const pending = packed.forwardAsync(xCopy);
    structuredClone(xCopy.data.buffer, { transfer: [xCopy.data.buffer] });
    expect(xCopy.data.length).toBe(0);
    expect(sameBits((await pending).data, expected)).toBe(true);

    const out = new Float32Array(300 * 64);
    const writing = packed.forwardAsync(x, { out });
    structuredClone(out.buffer, { transfer: [out.buffer] });
    await expect(writing).rejects.toThrow(
      new RangeError('fused-attention (native): an output buffer was detached or resized while forwardAsync ran'),
    );
  });

  it('forwardAsync writes its rows into a SharedArrayBuffer out, its other columns untouched', async () => {
    const packed = nativeLib.packLinear(tensor([5, 16], 70), tensor([5], 71));
    const x = tensor([9, 16], 72);
    const expected = packed.forward(x).data;
    const out = new Float32Array(new SharedArrayBuffer(4 * (9 * 8 + 2))).fill(-1);
    await packed.forwardAsync(x, { out, outStride: 8, outOffset: 2 });
    for (let r = 0; r < 9; r++) {
      for (let c = 0; c < 8; c++) expect(out[2 + r * 8 + c]).toBe(c < 5 ? expected[r * 5 + c] : -1);
    }
    expect([out[0], out[1]]).toEqual([-1, -1]);
  });

  it('worker threads that pack, call forwardAsync and exit (normally, process.exit, terminate) leave the process running', () => {
    // Node unloads an addon when the last worker using it exits; the addon's own
    // threads must not be left running unmapped code (binding.gyp: -z nodelete),
    // and process.exit() in a worker skips External finalizers (cleanup_env frees the weights).
    const root = path.join(__dirname, '..');
    const addonPath = (createRequire(__filename)('node-gyp-build') as { resolve(dir: string): string }).resolve(root);
    const script = `
      const { Worker } = require('node:worker_threads');
      const body = (i) => \`
        const a = require(\${JSON.stringify(${JSON.stringify(addonPath)})});
        const K = 512, N = 512, M = 128;
        const packed = a.linearPack({ weight: new Float32Array(N * K), bias: null, inFeatures: K, outFeatures: N, dtype: 'float32' });
        const args = { x: new Float32Array(M * K), rows: M, inFeatures: K, outFeatures: N, weight: null, bias: null,
                       packed, out: new Float32Array(M * N), outStride: N, outOffset: 0 };
        for (let j = 0; j < 4; j++) a.linearAsync(args);
        a.linear(args);
        if (\${i} % 3 === 1) process.exit(0);
      \`;
      (async () => {
        for (let i = 0; i < 24; i++) {
          await new Promise((resolve, reject) => {
            const w = new Worker(body(i), { eval: true });
            w.on('exit', resolve);
            w.on('error', reject);
            if (i % 3 === 2) setTimeout(() => w.terminate(), 2);
          });
        }
        console.log('workers done');
      })();`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('workers done');
  });

  it('packed weights outlive their PackedLinear while a forwardAsync call is in flight', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const weight = tensor([512, 256], 80);
    const x = tensor([256, 256], 81);
    const expected = nativeLib.packLinear(weight).forward(x).data;
    const pending = (() => nativeLib.packLinear(weight).forwardAsync(x))();
    for (let i = 0; i < 3; i++) gc();
    expect(sameBits((await pending).data, expected)).toBe(true);
    for (let i = 0; i < 3; i++) gc();
  });
});

// ---- argument errors ------------------------------------------------------------

const W = () => filledTensor([5, 3]);
const X = () => filledTensor([2, 3]);

interface ErrorCase {
  name: string;
  run: (lib: Lib) => unknown;
  type: ErrorType;
  message: string;
}

const errorCases: ErrorCase[] = [
  { name: 'x null', run: (l) => l.linear(null as never, W()), type: TypeError, message: 'linear: expected x to be an object { data: Float32Array, shape: number[] } but received null' },
  { name: 'x a bare Float32Array', run: (l) => l.linear(new Float32Array(3) as never, W()), type: TypeError, message: 'linear: expected x to be an object { data: Float32Array, shape: number[] } but received Float32Array [0, 0, 0]' },
  { name: 'x rank 0', run: (l) => l.linear({ data: new Float32Array(1), shape: [] }, W()), type: RangeError, message: 'linear: expected x.shape.length to be at least 1 but received 0' },
  { name: 'x shape not an array', run: (l) => l.linear({ data: new Float32Array(3), shape: 3 as never }, W()), type: TypeError, message: 'linear: expected x.shape to be an array of integers but received 3' },
  { name: 'x dim fractional', run: (l) => l.linear({ data: new Float32Array(6), shape: [2.5, 3] }, W()), type: RangeError, message: 'linear: expected x.shape[0] to be an integer >= 0 but received 2.5' },
  { name: 'x dim negative', run: (l) => l.linear({ data: new Float32Array(6), shape: [-2, 3] }, W()), type: RangeError, message: 'linear: expected x.shape[0] to be an integer >= 0 but received -2' },
  { name: 'x dim a string', run: (l) => l.linear({ data: new Float32Array(6), shape: ['2', 3] as never }, W()), type: TypeError, message: 'linear: expected x.shape[0] to be an integer >= 0 but received "2"' },
  { name: 'x data Float64Array', run: (l) => l.linear({ data: new Float64Array(6) as never, shape: [2, 3] }, W()), type: TypeError, message: 'linear: expected x.data to be a Float32Array but received Float64Array(6)' },
  { name: 'x data too short', run: (l) => l.linear({ data: new Float32Array(5), shape: [2, 3] }, W()), type: RangeError, message: 'linear: expected x.data.length to equal the product of x.shape (6) but received 5' },
  { name: 'x huge', run: (l) => l.linear({ data: new Float32Array(3), shape: [2 ** 31, 2 ** 31, 3] }, W()), type: RangeError, message: 'linear: expected x.shape to describe at most 4294967296 elements but received 13835058055282164000' },
  { name: 'in-feature mismatch', run: (l) => l.linear(filledTensor([2, 4]), W()), type: RangeError, message: 'linear: expected x.shape[1] to equal weight.shape[1] (3) but received 4' },
  { name: 'in-feature mismatch, rank 3', run: (l) => l.linear(filledTensor([2, 2, 4]), W()), type: RangeError, message: 'linear: expected x.shape[2] to equal weight.shape[1] (3) but received 4' },
  { name: 'weight rank 1', run: (l) => l.linear(X(), filledTensor([15])), type: RangeError, message: 'linear: expected weight.shape.length to be 2 but received 1' },
  { name: 'weight rank 3', run: (l) => l.linear(X(), filledTensor([1, 5, 3])), type: RangeError, message: 'linear: expected weight.shape.length to be 2 but received 3' },
  { name: 'weight data Int32Array', run: (l) => l.linear(X(), { data: new Int32Array(15) as never, shape: [5, 3] }), type: TypeError, message: 'linear: expected weight.data to be a Float32Array but received Int32Array(15)' },
  { name: 'weight data length', run: (l) => l.linear(X(), { data: new Float32Array(14), shape: [5, 3] }), type: RangeError, message: 'linear: expected weight.data.length to equal the product of weight.shape (15) but received 14' },
  { name: 'weight missing', run: (l) => l.linear(X(), undefined as never), type: TypeError, message: 'linear: expected weight to be an object { data: Float32Array, shape: number[] } but received undefined' },
  { name: 'bias rank 2', run: (l) => l.linear(X(), W(), filledTensor([1, 5])), type: RangeError, message: 'linear: expected bias.shape.length to be 1 but received 2' },
  { name: 'bias length vs outFeatures', run: (l) => l.linear(X(), W(), filledTensor([4])), type: RangeError, message: 'linear: expected bias.shape[0] to equal weight.shape[0] (5) but received 4' },
  { name: 'bias a bare array', run: (l) => l.linear(X(), W(), [1, 2, 3, 4, 5] as never), type: TypeError, message: 'linear: expected bias to be an object { data: Float32Array, shape: number[] } but received Array' },
  { name: 'linear options with outStride', run: (l) => l.linear(X(), W(), null, { outStride: 5 } as never), type: TypeError, message: 'linear: expected options keys to be among out but received "outStride"' },
  { name: 'linear out wrong kind', run: (l) => l.linear(X(), W(), null, { out: new Float64Array(10) as never }), type: TypeError, message: 'linear: expected out to be a Float32Array but received Float64Array(10)' },
  { name: 'linear out too small', run: (l) => l.linear(X(), W(), null, { out: new Float32Array(9) }), type: RangeError, message: 'linear: expected out.length to equal rows*outFeatures (10) but received 9' },
  {
    name: 'linear out overlaps x',
    run: (l) => {
      const buffer = new Float32Array(16);
      return l.linear({ data: buffer.subarray(0, 6), shape: [2, 3] }, W(), null, { out: buffer.subarray(4, 14) });
    },
    type: RangeError,
    message: 'linear: expected out not to share memory with x.data but received an overlapping view of the same buffer',
  },
  {
    name: 'linear out overlaps weight',
    run: (l) => {
      const buffer = new Float32Array(30);
      return l.linear(X(), { data: buffer.subarray(0, 15), shape: [5, 3] }, null, { out: buffer.subarray(14, 24) });
    },
    type: RangeError,
    message: 'linear: expected out not to share memory with weight.data but received an overlapping view of the same buffer',
  },
  { name: 'packLinear weight rank', run: (l) => l.packLinear(filledTensor([15])), type: RangeError, message: 'packLinear: expected weight.shape.length to be 2 but received 1' },
  { name: 'packLinear bias length', run: (l) => l.packLinear(W(), filledTensor([6])), type: RangeError, message: 'packLinear: expected bias.shape[0] to equal weight.shape[0] (5) but received 6' },
  { name: 'new PackedLinear weight kind', run: (l) => new l.PackedLinear({ data: [1, 2] as never, shape: [1, 2] }), type: TypeError, message: 'packLinear: expected weight.data to be a Float32Array but received Array' },
  { name: 'forward in-feature mismatch', run: (l) => l.packLinear(W()).forward(filledTensor([4, 2])), type: RangeError, message: 'PackedLinear.forward: expected x.shape[1] to equal inFeatures (3) but received 2' },
  { name: 'forward x data kind', run: (l) => l.packLinear(W()).forward({ data: new Uint8Array(6) as never, shape: [2, 3] }), type: TypeError, message: 'PackedLinear.forward: expected x.data to be a Float32Array but received Uint8Array(6)' },
  { name: 'forward unknown option', run: (l) => l.packLinear(W()).forward(X(), { stride: 5 } as never), type: TypeError, message: 'PackedLinear.forward: expected options keys to be among out, outStride, outOffset but received "stride"' },
  { name: 'forward options not an object', run: (l) => l.packLinear(W()).forward(X(), 5 as never), type: TypeError, message: 'PackedLinear.forward: expected options to be an object but received 5' },
  { name: 'outStride < outFeatures', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(20), outStride: 4 }), type: RangeError, message: 'PackedLinear.forward: expected outStride to be an integer >= outFeatures (5) but received 4' },
  { name: 'outStride fractional', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(20), outStride: 5.5 }), type: RangeError, message: 'PackedLinear.forward: expected outStride to be an integer >= outFeatures (5) but received 5.5' },
  { name: 'outStride a string', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(20), outStride: '8' as never }), type: TypeError, message: 'PackedLinear.forward: expected outStride to be an integer >= outFeatures (5) but received "8"' },
  { name: 'outStride huge', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(20), outStride: 2 ** 53 }), type: RangeError, message: 'PackedLinear.forward: expected outStride to be at most 4294967296 but received 9007199254740992' },
  { name: 'outOffset negative', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(20), outOffset: -1 }), type: RangeError, message: 'PackedLinear.forward: expected outOffset to be an integer >= 0 but received -1' },
  { name: 'outOffset NaN', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(20), outOffset: Number.NaN }), type: RangeError, message: 'PackedLinear.forward: expected outOffset to be an integer >= 0 but received NaN' },
  { name: 'outStride without out', run: (l) => l.packLinear(W()).forward(X(), { outStride: 8 }), type: TypeError, message: 'PackedLinear.forward: expected out to be a Float32Array when outStride or outOffset is given but received undefined' },
  { name: 'strided out too small', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(15), outStride: 8, outOffset: 3 }), type: RangeError, message: 'PackedLinear.forward: expected out.length to be at least outOffset + (rows - 1)*outStride + outFeatures (16) but received 15' },
  { name: 'dense out wrong length', run: (l) => l.packLinear(W()).forward(X(), { out: new Float32Array(11) }), type: RangeError, message: 'PackedLinear.forward: expected out.length to equal rows*outFeatures (10) but received 11' },
  {
    name: 'forward out overlaps x',
    run: (l) => {
      const buffer = new Float32Array(40);
      return l.packLinear(W()).forward({ data: buffer.subarray(30, 36), shape: [2, 3] }, { out: buffer, outStride: 8 });
    },
    type: RangeError,
    message: 'PackedLinear.forward: expected out not to share memory with x.data but received an overlapping view of the same buffer',
  },
  { name: 'output too large', run: (l) => l.packLinear(filledTensor([2 ** 12, 1])).forward({ data: new Float32Array(2 ** 21), shape: [2 ** 21, 1] }), type: RangeError, message: 'PackedLinear.forward: expected rows*outFeatures to be at most 4294967296 but received 8589934592' },
];

describe.each([{ name: 'js', lib: jsLib }, ...(addon ? [{ name: 'native', lib: nativeLib }] : [])])('linear argument errors ($name)', ({ lib }) => {
  it.each(errorCases)('$name', ({ run, type, message }) => {
    expectError(() => run(lib), type, message);
  });

  it('forwardAsync rejects (never throws) with the same messages, prefixed by its own name', async () => {
    const packed = lib.packLinear(W());
    const bad = packed.forwardAsync(filledTensor([4, 2]));
    await expect(bad).rejects.toThrow(new RangeError('PackedLinear.forwardAsync: expected x.shape[1] to equal inFeatures (3) but received 2'));
    await expect(packed.forwardAsync(X(), { signal: 'stop' as never })).rejects.toThrow(
      new TypeError('PackedLinear.forwardAsync: expected signal to be an AbortSignal but received "stop"'),
    );
    await expect(packed.forwardAsync(X(), { out: new Float32Array(20), outStride: 3 })).rejects.toThrow(
      new RangeError('PackedLinear.forwardAsync: expected outStride to be an integer >= outFeatures (5) but received 3'),
    );
  });
});

describe.runIf(addon !== null)('linear binding guards (the addon called directly, past the TS checks)', () => {
  const native = addon!;
  const args = (over: Partial<NativeLinearArgs>): NativeLinearArgs => ({
    x: new Float32Array(6), rows: 2, inFeatures: 3, outFeatures: 5, weight: new Float32Array(15), bias: null,
    packed: null, out: new Float32Array(10), outStride: 5, outOffset: 0, ...over,
  });
  const packed = () => native.linearPack({ weight: new Float32Array(15), bias: null, inFeatures: 3, outFeatures: 5, dtype: 'float32' });
  const cases: Array<[string, () => unknown, ErrorType, string]> = [
    ['x shorter than rows*inFeatures', () => native.linear(args({ x: new Float32Array(5) })), RangeError, 'fused-attention (native): expected x to hold 6 elements but it holds 5'],
    ['x a Float64Array', () => native.linear(args({ x: new Float64Array(6) as never })), TypeError, 'fused-attention (native): expected x to be a Float32Array'],
    ['weight length', () => native.linear(args({ weight: new Float32Array(14) })), RangeError, 'fused-attention (native): expected weight to hold 15 elements but it holds 14'],
    ['weight for a huge inFeatures', () => native.linear(args({ inFeatures: 2 ** 40 })), RangeError, 'fused-attention (native): expected weight to hold 5497558138880 elements but it holds 15'],
    ['weight element count overflows', () => native.linear(args({ inFeatures: 2 ** 40, outFeatures: 2 ** 40 })), RangeError, 'fused-attention (native): weight element count overflows'],
    ['bias length', () => native.linear(args({ bias: new Float32Array(4) })), RangeError, 'fused-attention (native): expected bias to hold 5 elements but it holds 4'],
    ['out too small for the stride', () => native.linear(args({ outStride: 7 })), RangeError, 'fused-attention (native): expected out to hold at least 12 elements but it holds 10'],
    ['out too small for the offset', () => native.linear(args({ outOffset: 1 })), RangeError, 'fused-attention (native): expected out to hold at least 11 elements but it holds 10'],
    ['out far too small for a huge stride and offset', () => native.linear(args({ outStride: 2 ** 40, outOffset: 2 ** 40 })), RangeError, 'fused-attention (native): expected out to hold at least 2199023255557 elements but it holds 10'],
    ['outStride < outFeatures', () => native.linear(args({ outStride: 4 })), RangeError, 'fused-attention (native): expected outStride to be an integer in [5, 1099511627776]'],
    ['outStride beyond the limit', () => native.linear(args({ outStride: 2 ** 41 })), RangeError, 'fused-attention (native): expected outStride to be an integer in [5, 1099511627776]'],
    ['rows fractional', () => native.linear(args({ rows: 1.5 })), RangeError, 'fused-attention (native): expected rows to be an integer in [1, 1099511627776]'],
    ['rows missing', () => native.linear(args({ rows: undefined as never })), TypeError, 'fused-attention (native): expected rows to be a number'],
    ['packed a plain object', () => native.linear(args({ packed: {} as never })), TypeError, 'fused-attention (native): expected packed to be a handle returned by linearPack'],
    ['packed dims mismatch', () => native.linear(args({ packed: packed(), inFeatures: 5, outFeatures: 3, x: new Float32Array(10), out: new Float32Array(6), outStride: 3 })), RangeError, 'fused-attention (native): expected inFeatures and outFeatures to match the packed weights (3, 5)'],
    ['linearAsync without packed weights', () => native.linearAsync(args({})), TypeError, 'fused-attention (native): expected packed to be a handle returned by linearPack'],
    ['linearAsync out too small', () => native.linearAsync(args({ packed: packed(), weight: null, out: new Float32Array(9) })), RangeError, 'fused-attention (native): expected out to hold at least 10 elements but it holds 9'],
    ['linearAsync bad cancel flag', () => native.linearAsync(args({ packed: packed(), weight: null }), new Float32Array(1) as never), TypeError, 'fused-attention (native): expected the cancel flag to be an Int32Array of length >= 1'],
    ['linearPack weight length', () => native.linearPack({ weight: new Float32Array(14), bias: null, inFeatures: 3, outFeatures: 5, dtype: 'float32' }), RangeError, 'fused-attention (native): expected weight to hold 15 elements but it holds 14'],
    ['linearPack overflow', () => native.linearPack({ weight: new Float32Array(15), bias: null, inFeatures: 2 ** 40, outFeatures: 2 ** 40, dtype: 'float32' }), RangeError, 'fused-attention (native): weight element count overflows'],
    ['linearPack bias length', () => native.linearPack({ weight: new Float32Array(15), bias: new Float32Array(6), inFeatures: 3, outFeatures: 5, dtype: 'float32' }), RangeError, 'fused-attention (native): expected bias to hold 5 elements but it holds 6'],
    ['linearPack dtype unknown', () => native.linearPack({ weight: new Float32Array(15), bias: null, inFeatures: 3, outFeatures: 5, dtype: 'float16' as never }), RangeError, "fused-attention (native): expected dtype to be 'float32' or 'bfloat16'"],
    ['linearPack dtype missing', () => native.linearPack({ weight: new Float32Array(15), bias: null, inFeatures: 3, outFeatures: 5 } as never), TypeError, "fused-attention (native): expected dtype to be 'float32' or 'bfloat16'"],
  ];
  it.each(cases)('%s', (_name, run, type, message) => {
    expectError(run, type, message);
  });

  it('a fake packed handle from elsewhere is refused: a packed handle only comes from linearPack', () => {
    // Another handle-like value: an External-free object with a similar field, and a typed array.
    expectError(() => native.linear(args({ packed: { weights: 1 } as never })), TypeError, 'fused-attention (native): expected packed to be a handle returned by linearPack');
    expectError(() => native.linear(args({ packed: new Float32Array(15) as never })), TypeError, 'fused-attention (native): expected packed to be a handle returned by linearPack');
  });
});
