/**
 * The attention options (mask kinds, key padding and lengths, layouts,
 * sliding window, ALiBi, softcap, causal alignment, lse and weights), alone
 * and combined with causal, masks, GQA and odd sizes, against the float64
 * oracle (test/oracle/attention.mjs), through attention() and attentionAsync(): on the JS
 * backend, on the native one for every ISA this CPU supports with 1 and
 * 2 threads, and on the WebAssembly one when it is built. Also: keys a
 * boolean mask, key padding, key lengths, window or causal exclude never
 * reach the output, even when their K/V hold NaN or Inf.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import type { AttentionOptions, AttentionResult, Layout, Tensor } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { lseError, referenceAttentionFull, referenceVisibility, relFrobenius, toBlhd, weightsProblem } from './oracle/attention.mjs';
import { additiveMask, alibi, boolMask, caseInputs, flags } from './oracle/inputs.mjs';
import { loadJsLib, loadWasmLib, backendRunners, type Runner, type Dims, type PartialDims } from './helpers';

const TOLERANCE = 1e-5;

type Lib = Pick<typeof nativeLib, 'attention' | 'attentionAsync' | 'explain' | 'backend'>;

const jsLib: Lib = await loadJsLib();

// When the addon is loaded, the native variants run; otherwise they show as skipped.
const probe = { addon: nativeAddon(), skipReason: null as string | null };
const runners = backendRunners<Lib>(jsLib, nativeLib, await loadWasmLib());

// ---- inputs ---------------------------------------------------------------------------

interface OptionCase {
  name: string;
  dims: PartialDims;
  layout?: Layout;
  /** Drop B from every shape (needs B = 1). */
  rank3?: boolean;
  /** Multiplies q and k, so scores are large (softcap, softmax stability). */
  amplitude?: number;
  /** The options under test, built from the call's sizes; layout is added from the case. */
  options?: (d: Dims) => AttentionOptions;
}

// ---- checks ----------------------------------------------------------------------------

function expectFinite(data: ArrayLike<number>, what: string): void {
  let bad = -1;
  for (let i = 0; i < data.length && bad < 0; i++) if (!Number.isFinite(data[i])) bad = i;
  expect(bad, `${what}: first non-finite element`).toBe(-1);
}

/** Runs one case with and without lse/weights and checks everything against the oracle. */
function checkCase(runner: Runner<Lib>, c: OptionCase, seed: number): void {
  const { d, q, k, v, options, outShape, rank3 } = caseInputs(c, seed);
  const oracle = referenceAttentionFull(q, k, v, options, true);
  const lib = runner.lib;
  runner.prepare();

  const plain = lib.attention(q, k, v, options);
  expect(plain.shape).toEqual(outShape);
  expect(Object.keys(plain).sort()).toEqual(['data', 'shape']);
  expectFinite(plain.data, 'out');
  expect(relFrobenius(plain.data, oracle.out)).toBeLessThanOrEqual(TOLERANCE);

  const withLse = lib.attention(q, k, v, { ...options, returnLse: true });
  expect(withLse.lse.shape).toEqual(rank3 ? [d.H, d.Lq] : [d.B, d.H, d.Lq]);
  expect(withLse.weights).toBeUndefined();
  expect(relFrobenius(withLse.data, oracle.out)).toBeLessThanOrEqual(TOLERANCE);
  expect(lseError(withLse.lse.data, oracle.lse)).toBeLessThanOrEqual(TOLERANCE);

  const full = lib.attention(q, k, v, { ...options, returnLse: true, returnWeights: true });
  expect(full.shape).toEqual(outShape);
  expect(full.weights.shape).toEqual(rank3 ? [d.H, d.Lq, d.Lk] : [d.B, d.H, d.Lq, d.Lk]);
  expect(relFrobenius(full.data, oracle.out)).toBeLessThanOrEqual(TOLERANCE);
  expect(lseError(full.lse.data, oracle.lse)).toBeLessThanOrEqual(TOLERANCE);
  expect(relFrobenius(full.weights.data, oracle.weights!)).toBeLessThanOrEqual(TOLERANCE);
  expect(weightsProblem(full.weights.data, d, options, oracle.lse, TOLERANCE)).toBeNull();
}


// ---- the cases ---------------------------------------------------------------------------

const cases: OptionCase[] = [
  // Causal alignment, alone
  { name: 'causal true, square L=17 D=7', dims: { Lq: 17, Lk: 17, D: 7 }, options: () => ({ causal: true }) },
  { name: 'causal true, Lq=17 < Lk=129, D=80', dims: { Lq: 17, Lk: 129, D: 80 }, options: () => ({ causal: true }) },
  { name: 'causal true, Lq=129 > Lk=17 (first rows see nothing)', dims: { Lq: 129, Lk: 17, D: 16 }, options: () => ({ causal: true }) },
  { name: 'causal top-left, square L=17 D=7', dims: { Lq: 17, Lk: 17, D: 7 }, options: () => ({ causal: 'top-left' }) },
  { name: 'causal top-left, Lq=17 < Lk=129, D=80', dims: { Lq: 17, Lk: 129, D: 80 }, options: () => ({ causal: 'top-left' }) },
  { name: 'causal top-left, Lq=129 > Lk=17 (every row sees key 0)', dims: { Lq: 129, Lk: 17, D: 16, Dv: 7 }, options: () => ({ causal: 'top-left' }) },

  // Sliding window, alone and with causal
  { name: 'window [-1, 0] (= causal), Lq=17 Lk=129', dims: { Lq: 17, Lk: 129, D: 16 }, options: () => ({ window: [-1, 0] }) },
  { name: 'window [16, -1], L=129 D=64', dims: { Lq: 129, Lk: 129, D: 64 }, options: () => ({ window: [16, -1] }) },
  { name: 'window [3, 3], Lq=129 > Lk=17', dims: { Lq: 129, Lk: 17, D: 7 }, options: () => ({ window: [3, 3] }) },
  { name: 'window [0, 0]: the aligned key only', dims: { Lq: 33, Lk: 40, D: 8 }, options: () => ({ window: [0, 0] }) },
  { name: 'window [-1, -1]: unbounded', dims: { Lq: 17, Lk: 33, D: 8 }, options: () => ({ window: [-1, -1] }) },
  { name: 'window [16, -1] + causal true, L=129 D=80', dims: { Lq: 129, Lk: 129, D: 80 }, options: () => ({ window: [16, -1], causal: true }) },
  { name: 'window [16, 5] + causal true (right becomes 0)', dims: { Lq: 65, Lk: 130, D: 16 }, options: () => ({ window: [16, 5], causal: true }) },
  { name: 'window [3, 3] + causal top-left, Lq=17 Lk=129', dims: { Lq: 17, Lk: 129, D: 16 }, options: () => ({ window: [3, 3], causal: 'top-left' }) },
  { name: 'window [70, -1] wider than a key block, Lq=200 Lk=300', dims: { B: 1, Lq: 200, Lk: 300, D: 32 }, options: () => ({ window: [70, -1] }) },
  { name: 'window [8, 8], decode Lq=1 Lk=300', dims: { Lq: 1, Lk: 300, D: 64 }, options: () => ({ window: [8, 8] }) },
  {
    name: 'window [5, 2] + GQA H=8 Hkv=2 + boolean mask',
    dims: { H: 8, Hkv: 2, Lq: 129, Lk: 129, D: 16, Dv: 24 },
    options: (d) => ({ window: [5, 2], mask: boolMask([d.B, 1, d.Lq, d.Lk], 5) }),
  },

  // Key lengths
  {
    name: 'keyLengths [0, 5, Lk]: length 0 gives zeros and lse -Infinity',
    dims: { B: 3, Lq: 17, Lk: 129, D: 16 },
    options: (d) => ({ keyLengths: Int32Array.from([0, 5, d.Lk]) }),
  },
  { name: 'keyLengths + causal true, Lq=17 Lk=129', dims: { Lq: 17, Lk: 129, D: 80 }, options: () => ({ keyLengths: Int32Array.from([100, 7]), causal: true }) },
  { name: 'keyLengths + causal true, square (rows past the length)', dims: { Lq: 129, Lk: 129, D: 16 }, options: () => ({ keyLengths: Int32Array.from([64, 1]), causal: true }) },
  {
    name: 'keyLengths + causal top-left + window [4, -1]',
    dims: { Lq: 40, Lk: 129, D: 8 },
    options: () => ({ keyLengths: Int32Array.from([129, 20]), causal: 'top-left', window: [4, -1] }),
  },

  // Key padding
  { name: 'keyPadding, random', dims: { Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ keyPadding: flags(d.B * d.Lk, 11) }) },
  {
    name: 'keyPadding with one batch all padding + causal true',
    dims: { Lq: 33, Lk: 33, D: 7 },
    options: (d) => {
      const keyPadding = flags(d.B * d.Lk, 12, 0.5);
      keyPadding.fill(0, d.Lk); // batch 1: every key is padding
      return { keyPadding, causal: true };
    },
  },
  { name: 'keyPadding values other than 1 count as real tokens', dims: { Lq: 9, Lk: 70, D: 8 }, options: (d) => ({ keyPadding: flags(d.B * d.Lk, 13, 0.3, 255) }) },
  {
    name: 'keyPadding + keyLengths together (both apply)',
    dims: { Lq: 17, Lk: 129, D: 16 },
    options: (d) => ({ keyPadding: flags(d.B * d.Lk, 14), keyLengths: Int32Array.from([90, 129]) }),
  },

  // Boolean masks of every broadcast shape, alone and with causal
  ...[
    (d: Dims) => [d.Lq, d.Lk],
    (d: Dims) => [1, d.Lk],
    (d: Dims) => [d.H, d.Lq, d.Lk],
    (d: Dims) => [d.H, 1, d.Lk],
    (d: Dims) => [1, d.H, d.Lq, d.Lk],
    (d: Dims) => [d.B, 1, 1, d.Lk],
    (d: Dims) => [d.B, 1, d.Lq, d.Lk],
    (d: Dims) => [d.B, d.H, d.Lq, d.Lk],
  ].flatMap((shapeOfMask, index) =>
    [false, true].map(
      (causal): OptionCase => ({
        name: `boolean mask ${JSON.stringify(shapeOfMask({ B: 'B', H: 'H', Lq: 'Lq', Lk: 'Lk' } as unknown as Dims))}${causal ? ' + causal true' : ''}`,
        dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 24 },
        options: (d) => ({ mask: boolMask(shapeOfMask(d), 20 + index), causal }),
      }),
    ),
  ),
  {
    name: 'boolean mask with fully hidden rows, values other than 1 visible',
    dims: { Lq: 9, Lk: 5, D: 4 },
    options: (d) => {
      const mask = boolMask([d.Lq, d.Lk], 31, 0.5, 7);
      mask.data.fill(0, 0, d.Lk).fill(0, 4 * d.Lk, 5 * d.Lk);
      return { mask };
    },
  },
  {
    name: 'boolean mask + causal top-left + keyPadding',
    dims: { Lq: 33, Lk: 65, D: 16 },
    options: (d) => ({ mask: boolMask([d.B, d.H, d.Lq, d.Lk], 32), causal: 'top-left', keyPadding: flags(d.B * d.Lk, 33) }),
  },

  // Additive masks with the new options
  {
    name: 'additive mask [B,1,Lq,Lk] + causal true + keyLengths',
    dims: { H: 4, Hkv: 1, Lq: 17, Lk: 129, D: 16 },
    options: (d) => ({ mask: additiveMask([d.B, 1, d.Lq, d.Lk], 40), causal: true, keyLengths: Int32Array.from([129, 50]) }),
  },
  {
    name: 'additive mask [H,1,Lk] + softcap + ALiBi',
    dims: { H: 4, Lq: 33, Lk: 65, D: 16 },
    amplitude: 3,
    options: (d) => ({ mask: additiveMask([d.H, 1, d.Lk], 41), softcap: 5, alibiSlopes: alibi(d.H) }),
  },

  // ALiBi
  { name: 'ALiBi alone, L=129 D=64', dims: { H: 4, Lq: 129, Lk: 129, D: 64 }, options: (d) => ({ alibiSlopes: alibi(d.H) }) },
  { name: 'ALiBi + causal true, Lq=17 Lk=129', dims: { H: 4, Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ alibiSlopes: alibi(d.H), causal: true }) },
  {
    name: 'ALiBi + causal top-left (distances from i, not i + Lk - Lq), Lq=17 Lk=129',
    dims: { H: 4, Lq: 17, Lk: 129, D: 16 },
    options: (d) => ({ alibiSlopes: alibi(d.H), causal: 'top-left' }),
  },
  {
    name: 'ALiBi + window [16, -1], Lq=129 > Lk=17 (negative alignment)',
    dims: { H: 2, Lq: 129, Lk: 17, D: 8 },
    options: () => ({ alibiSlopes: Float32Array.from([0.5, -0.25]), window: [16, -1] }),
  },
  { name: 'ALiBi with large slopes + GQA', dims: { H: 6, Hkv: 3, Lq: 40, Lk: 90, D: 32 }, options: (d) => ({ alibiSlopes: alibi(d.H).map((s) => s * 40) }) },

  // Softcap
  { name: 'softcap 5 with large scores (q, k ×4)', dims: { Lq: 65, Lk: 129, D: 64 }, amplitude: 4, options: () => ({ softcap: 5 }) },
  { name: 'softcap 50 (almost no effect)', dims: { Lq: 17, Lk: 17, D: 7 }, options: () => ({ softcap: 50 }) },
  {
    name: 'softcap + causal true + additive mask + custom scale',
    dims: { Lq: 33, Lk: 33, D: 16 },
    amplitude: 3,
    options: (d) => ({ softcap: 2, causal: true, mask: additiveMask([d.Lq, d.Lk], 50), scale: 0.7 }),
  },
  { name: 'softcap + ALiBi + GQA H=8 Hkv=2', dims: { H: 8, Hkv: 2, Lq: 17, Lk: 129, D: 80 }, amplitude: 2, options: (d) => ({ softcap: 10, alibiSlopes: alibi(d.H) }) },

  // Layouts
  { name: 'layout blhd, GQA H=8 Hkv=2, Dv != D', dims: { H: 8, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 7 }, layout: 'blhd' },
  {
    name: 'layout blhd + causal true + boolean mask [B,H,Lq,Lk]',
    dims: { H: 4, Hkv: 2, Lq: 129, Lk: 129, D: 80 },
    layout: 'blhd',
    options: (d) => ({ causal: true, mask: boolMask([d.B, d.H, d.Lq, d.Lk], 60) }),
  },
  {
    name: 'layout blhd, rank 3, + window [8, 2] + ALiBi',
    dims: { B: 1, H: 4, Hkv: 1, Lq: 33, Lk: 65, D: 7, Dv: 9 },
    layout: 'blhd',
    rank3: true,
    options: (d) => ({ window: [8, 2], alibiSlopes: alibi(d.H) }),
  },
  { name: 'layout bhld, rank 3, + keyLengths', dims: { B: 1, H: 2, Lq: 17, Lk: 129, D: 16 }, rank3: true, options: () => ({ keyLengths: Int32Array.from([77]) }) },
  {
    name: 'layout blhd + keyPadding + additive mask [B,1,1,Lk]',
    dims: { H: 2, Lq: 17, Lk: 70, D: 32 },
    layout: 'blhd',
    options: (d) => ({ keyPadding: flags(d.B * d.Lk, 61), mask: additiveMask([d.B, 1, 1, d.Lk], 62) }),
  },
  { name: 'layout blhd + causal top-left, decode Lq=1', dims: { H: 4, Hkv: 2, Lq: 1, Lk: 300, D: 64 }, layout: 'blhd', options: () => ({ causal: 'top-left' }) },

  // GQA / MQA and odd sizes with several options
  {
    name: 'MQA H=4 Hkv=1 + causal top-left + keyLengths, Dv=7',
    dims: { H: 4, Hkv: 1, Lq: 17, Lk: 129, D: 16, Dv: 7 },
    options: () => ({ causal: 'top-left', keyLengths: Int32Array.from([129, 3]) }),
  },
  {
    name: 'GQA H=8 Hkv=2, decode Lq=1 Lk=513 + window [100, -1] + keyLengths',
    dims: { H: 8, Hkv: 2, Lq: 1, Lk: 513, D: 64 },
    options: () => ({ window: [100, -1], keyLengths: Int32Array.from([513, 300]) }),
  },
  { name: 'Lq=1 Lk=1 + causal top-left + softcap', dims: { Lq: 1, Lk: 1, D: 3 }, options: () => ({ causal: 'top-left', softcap: 1 }) },
  { name: 'D=1 Dv=1 + window [2, 2] + keyPadding', dims: { Lq: 17, Lk: 17, D: 1, Dv: 1 }, options: (d) => ({ window: [2, 2], keyPadding: flags(d.B * d.Lk, 70) }) },
  {
    name: 'L=129 D=80 Dv=7, causal true + ALiBi + softcap + keyLengths',
    dims: { H: 2, Lq: 129, Lk: 129, D: 80, Dv: 7 },
    options: (d) => ({ causal: true, alibiSlopes: alibi(d.H), softcap: 20, keyLengths: Int32Array.from([129, 100]) }),
  },
  {
    name: 'long band: Lq=Lk=513, window [64, -1] + causal true',
    dims: { B: 1, H: 2, Lq: 513, Lk: 513, D: 64 },
    options: () => ({ window: [64, -1], causal: true }),
  },

  // Everything at once
  {
    name: 'everything: blhd, GQA, top-left, window, keyLengths, keyPadding, boolean mask, ALiBi, softcap',
    dims: { B: 2, H: 6, Hkv: 2, Lq: 17, Lk: 129, D: 7, Dv: 80 },
    layout: 'blhd',
    amplitude: 2,
    options: (d) => ({
      causal: 'top-left',
      window: [40, 3],
      keyLengths: Int32Array.from([129, 60]),
      keyPadding: flags(d.B * d.Lk, 80),
      mask: boolMask([d.B, 1, d.Lq, d.Lk], 81),
      alibiSlopes: alibi(d.H),
      softcap: 4,
    }),
  },
  {
    name: 'everything, rank 3 bhld: causal true, window, keyPadding, additive mask, ALiBi, softcap, Lq > Lk',
    dims: { B: 1, H: 4, Hkv: 2, Lq: 129, Lk: 65, D: 80, Dv: 16 },
    rank3: true,
    options: (d) => ({
      causal: true,
      window: [20, -1],
      keyPadding: flags(d.Lk, 90),
      mask: additiveMask([d.H, d.Lq, d.Lk], 91),
      alibiSlopes: alibi(d.H),
      softcap: 30,
    }),
  },

  // Masks of size 1 on the key axis (one value per row: additive shifts it, boolean shows or hides it all), rank 1 to 4
  {
    name: 'additive mask [1,1,Lq,1] with -Infinity rows + causal true, GQA',
    dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16, Dv: 24 },
    options: (d) => ({ mask: additiveMask([1, 1, d.Lq, 1], 120), causal: true }),
  },
  {
    name: 'additive mask [B,1,1,1]: batch 1 is all -Infinity (zeros, lse -Infinity)',
    dims: { Lq: 33, Lk: 70, D: 8 },
    options: () => ({ mask: { data: Float32Array.from([0.75, -Infinity]), shape: [2, 1, 1, 1] } }),
  },
  { name: 'additive mask [1] (rank 1, one value for everything)', dims: { Lq: 17, Lk: 40, D: 8 }, options: () => ({ mask: { data: Float32Array.from([3.5]), shape: [1] } }) },
  { name: 'additive mask [Lk] (rank 1, per key)', dims: { Lq: 17, Lk: 129, D: 16 }, options: (d) => ({ mask: additiveMask([d.Lk], 121) }) },
  {
    name: 'additive mask [B,H,Lq,1] + softcap + ALiBi + window [9, 2], L=129',
    dims: { Lq: 129, Lk: 129, D: 16 },
    options: (d) => ({ mask: additiveMask([d.B, d.H, d.Lq, 1], 122), softcap: 6, alibiSlopes: alibi(d.H), window: [9, 2] }),
  },
  {
    name: 'additive mask [B,1,Lq,1] + causal true, square L=129 (blocked rows)',
    dims: { Lq: 129, Lk: 129, D: 32 },
    options: (d) => ({ mask: additiveMask([d.B, 1, d.Lq, 1], 123), causal: true }),
  },
  { name: 'additive mask [1,1,1,1], decode Lq=1 Lk=300', dims: { H: 4, Hkv: 1, Lq: 1, Lk: 300, D: 64 }, options: () => ({ mask: { data: Float32Array.from([-2]), shape: [1, 1, 1, 1] } }) },
  { name: 'boolean mask [Lq,1] with hidden rows + window [5, 5]', dims: { Lq: 65, Lk: 129, D: 16 }, options: (d) => ({ mask: boolMask([d.Lq, 1], 124), window: [5, 5] }) },
  {
    name: 'boolean mask [B,1,1,1] = [1, 0], decode Lq=1 Lk=300 GQA',
    dims: { H: 8, Hkv: 2, Lq: 1, Lk: 300, D: 64 },
    options: () => ({ mask: { data: Uint8Array.from([1, 0]), shape: [2, 1, 1, 1] } }),
  },
  { name: 'boolean mask [1] = [0]: every row hidden', dims: { Lq: 9, Lk: 33, D: 8 }, options: () => ({ mask: { data: Uint8Array.from([0]), shape: [1] } }) },
  {
    name: 'boolean mask [H,1,1] + layout blhd + keyPadding',
    dims: { H: 4, Lq: 17, Lk: 70, D: 8 },
    layout: 'blhd',
    options: (d) => ({ mask: { data: Uint8Array.from([1, 0, 7, 0]), shape: [d.H, 1, 1] }, keyPadding: flags(d.B * d.Lk, 125) }),
  },
  {
    name: 'boolean mask [B,1,Lq,1] + causal true, square L=129 (blocked rows)',
    dims: { Lq: 129, Lk: 129, D: 32 },
    options: (d) => ({ mask: boolMask([d.B, 1, d.Lq, 1], 126), causal: true }),
  },
];

describe.each(runners)('options on $name', (runner) => {
  it.each(cases.map((c, index) => ({ ...c, index })))('$name', (c) => checkCase(runner, c, 1000 + 17 * c.index));

  it('attentionAsync resolves to the same out, lse and weights as attention', async () => {
    for (const c of cases.filter((x) => /everything|blhd, GQA|decode Lq=1 Lk=513/.test(x.name))) {
      const { q, k, v, options } = caseInputs(c, 5);
      runner.prepare();
      const sync = runner.lib.attention(q, k, v, { ...options, returnLse: true, returnWeights: true });
      const async = await runner.lib.attentionAsync(q, k, v, { ...options, returnLse: true, returnWeights: true });
      expect(async.shape).toEqual(sync.shape);
      expect(Array.from(async.data)).toEqual(Array.from(sync.data));
      expect(async.lse.shape).toEqual(sync.lse.shape);
      expect(Array.from(async.lse.data)).toEqual(Array.from(sync.lse.data));
      expect(async.weights.shape).toEqual(sync.weights.shape);
      expect(Array.from(async.weights.data)).toEqual(Array.from(sync.weights.data));
      const plain = await runner.lib.attentionAsync(q, k, v, options);
      expect(Object.keys(plain).sort()).toEqual(['data', 'shape']);
    }
  });

  it('the result is the output tensor itself: out is written and returned, lse and weights ride along', () => {
    const c = cases.find((x) => x.name.startsWith('layout blhd, GQA'))!;
    const { q, k, v, options, outShape } = caseInputs(c, 6);
    const out = new Float32Array(outShape.reduce((a, b) => a * b, 1)).fill(Number.NaN);
    runner.prepare();
    const result = runner.lib.attention(q, k, v, { ...options, out, returnLse: true });
    expect(result.data).toBe(out);
    expect(result.shape).toEqual(outShape);
    expectFinite(out, 'out');
  });

  it('causal true and window [-1, 0] agree; causal top-left equals causal true when Lq = Lk', () => {
    const { q, k, v } = caseInputs({ name: '', dims: { Lq: 17, Lk: 129, D: 16 } }, 7);
    runner.prepare();
    const causal = runner.lib.attention(q, k, v, { causal: true, returnLse: true });
    const band = runner.lib.attention(q, k, v, { window: [-1, 0], returnLse: true });
    expect(relFrobenius(band.data, causal.data)).toBeLessThanOrEqual(TOLERANCE);
    expect(lseError(band.lse.data, Float64Array.from(causal.lse.data))).toBeLessThanOrEqual(TOLERANCE);
    const square = caseInputs({ name: '', dims: { Lq: 33, Lk: 33, D: 16 } }, 8);
    const bottomRight = runner.lib.attention(square.q, square.k, square.v, { causal: true });
    const topLeft = runner.lib.attention(square.q, square.k, square.v, { causal: 'top-left' });
    expect(relFrobenius(topLeft.data, bottomRight.data)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('layout blhd gives the transpose of layout bhld', () => {
    const d = { B: 2, H: 4, Hkv: 2, Lq: 17, Lk: 40, D: 8, Dv: 5 };
    const bhld = caseInputs({ name: '', dims: d }, 9);
    runner.prepare();
    const options: AttentionOptions = { causal: true, keyLengths: Int32Array.from([40, 20]), returnLse: true };
    const a = runner.lib.attention(bhld.q, bhld.k, bhld.v, options);
    const b = runner.lib.attention(toBlhd(bhld.q), toBlhd(bhld.k), toBlhd(bhld.v), { ...options, layout: 'blhd' });
    expect(b.shape).toEqual([2, 17, 4, 5]);
    expect(relFrobenius(b.data, toBlhd(a).data)).toBeLessThanOrEqual(TOLERANCE);
    // lse stays in [B, H, Lq] order in both layouts
    expect(b.lse!.shape).toEqual([2, 4, 17]);
    expect(lseError(b.lse!.data, Float64Array.from(a.lse!.data))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('lse merges two halves of the keys into the whole (the reason to return it)', () => {
    const { q, k, v } = caseInputs({ name: '', dims: { B: 1, H: 2, Lq: 9, Lk: 100, D: 16 } }, 10);
    runner.prepare();
    const whole = runner.lib.attention(q, k, v, { returnLse: true });
    const first = runner.lib.attention(q, k, v, { keyLengths: Int32Array.from([60]), returnLse: true });
    const padding = new Uint8Array(100).fill(1, 60);
    const second = runner.lib.attention(q, k, v, { keyPadding: padding, returnLse: true });
    const merged = new Float64Array(whole.data.length);
    for (let row = 0; row < 2 * 9; row++) {
      const l1 = first.lse.data[row];
      const l2 = second.lse.data[row];
      const m = Math.max(l1, l2);
      const w1 = Math.exp(l1 - m);
      const w2 = Math.exp(l2 - m);
      for (let e = 0; e < 16; e++) merged[row * 16 + e] = (w1 * first.data[row * 16 + e] + w2 * second.data[row * 16 + e]) / (w1 + w2);
    }
    expect(relFrobenius(merged, Float64Array.from(whole.data))).toBeLessThanOrEqual(TOLERANCE);
  });
});

// ---- skipped means skipped ------------------------------------------------------------------

interface PoisonCase extends OptionCase {
  /** Keys (b, j) whose K and V rows (every kv head) get NaN / Inf; rows that do not see them must be unaffected. */
  poison: (d: Dims, options: AttentionOptions) => Array<[number, number]>;
  /** Every output row is expected to avoid the poisoned keys. */
  allRowsClean: boolean;
}

/** The keys that `visible` hides from every query of batch b (and every head). */
function hiddenFromAll(d: Dims, options: AttentionOptions): Array<[number, number]> {
  const visible = referenceVisibility(d, options);
  const keys: Array<[number, number]> = [];
  for (let b = 0; b < d.B; b++) {
    for (let j = 0; j < d.Lk; j++) {
      let seen = false;
      for (let h = 0; h < d.H && !seen; h++) for (let i = 0; i < d.Lq && !seen; i++) seen = visible(b, h, i, j);
      if (!seen) keys.push([b, j]);
    }
  }
  return keys;
}

const poisonCases: PoisonCase[] = [
  {
    name: 'boolean mask [B,1,1,Lk]',
    dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16 },
    options: (d) => ({ mask: boolMask([d.B, 1, 1, d.Lk], 100) }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
  {
    name: 'boolean mask [B,1,1,1] = [1, 0] (batch 1 hidden along every key)',
    dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16 },
    options: () => ({ mask: { data: Uint8Array.from([1, 0]), shape: [2, 1, 1, 1] } }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
  {
    name: 'boolean mask [Lq,Lk] (per row: rows that hide the key)',
    dims: { Lq: 65, Lk: 129, D: 16 },
    options: (d) => ({ mask: boolMask([d.Lq, d.Lk], 101, 0.5) }),
    poison: () => [[0, 3], [0, 64], [1, 100]],
    allRowsClean: false,
  },
  {
    name: 'keyPadding',
    dims: { H: 4, Hkv: 1, Lq: 33, Lk: 130, D: 64 },
    options: (d) => ({ keyPadding: flags(d.B * d.Lk, 102) }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
  {
    name: 'keyLengths',
    dims: { Lq: 129, Lk: 129, D: 80 },
    options: () => ({ keyLengths: Int32Array.from([70, 1]) }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
  {
    name: 'keyLengths, layout blhd, decode Lq=1',
    dims: { H: 8, Hkv: 2, Lq: 1, Lk: 513, D: 64 },
    layout: 'blhd',
    options: () => ({ keyLengths: Int32Array.from([300, 17]) }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
  {
    name: 'window [16, -1], decode Lq=1 Lk=300',
    dims: { Lq: 1, Lk: 300, D: 64 },
    options: () => ({ window: [16, -1] }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
  {
    name: 'window [4, 4], square L=129 (per row)',
    dims: { Lq: 129, Lk: 129, D: 16 },
    options: () => ({ window: [4, 4] }),
    poison: () => [[0, 64], [1, 5], [1, 120]],
    allRowsClean: false,
  },
  {
    name: 'causal true, square L=129 (rows before the key)',
    dims: { Lq: 129, Lk: 129, D: 64 },
    options: () => ({ causal: true }),
    poison: () => [[0, 100], [1, 70], [1, 128]],
    allRowsClean: false,
  },
  {
    name: 'causal true, Lq=129 > Lk=17 (rows that see nothing)',
    dims: { Lq: 129, Lk: 17, D: 16 },
    options: () => ({ causal: true }),
    poison: () => [[0, 0], [1, 16]],
    allRowsClean: false,
  },
  {
    name: 'causal top-left, Lq=17 < Lk=129',
    dims: { H: 4, Hkv: 2, Lq: 17, Lk: 129, D: 16 },
    options: () => ({ causal: 'top-left' }),
    poison: hiddenFromAll,
    allRowsClean: true,
  },
];

/** A copy of t with K/V rows (b, every kv head, j) overwritten by `value` (in either layout). */
function poisoned(t: Tensor, d: Dims, heads: number, layout: Layout, keys: Array<[number, number]>, value: number): Tensor {
  const data = t.data.slice();
  const width = t.shape[t.shape.length - 1];
  for (const [b, j] of keys) {
    for (let g = 0; g < heads; g++) {
      const start = layout === 'bhld' ? ((b * heads + g) * d.Lk + j) * width : ((b * d.Lk + j) * heads + g) * width;
      data.fill(value, start, start + width);
    }
  }
  return { data, shape: t.shape };
}

describe.each(runners)('excluded K/V never reach the output on $name', (runner) => {
  it.each(poisonCases.flatMap((c) => [
    { ...c, kValue: Number.NaN, vValue: Infinity, label: 'K NaN, V Inf' },
    { ...c, kValue: -Infinity, vValue: Number.NaN, label: 'K -Inf, V NaN' },
  ]))('$name: $label', (c) => {
    const { d, q, k, v, options } = caseInputs(c, 300);
    const layout = c.layout ?? 'bhld';
    const keys = c.poison(d, options);
    expect(keys.length).toBeGreaterThan(0);
    const request = { ...options, returnLse: true, returnWeights: true } as const;
    runner.prepare();
    const clean = runner.lib.attention(q, poisoned(k, d, d.Hkv, layout, keys, 0), poisoned(v, d, d.Hkv, layout, keys, 0), request);
    const dirty = runner.lib.attention(q, poisoned(k, d, d.Hkv, layout, keys, c.kValue), poisoned(v, d, d.Hkv, layout, keys, c.vValue), request);
    const oracle = referenceAttentionFull(q, poisoned(k, d, d.Hkv, layout, keys, 0), poisoned(v, d, d.Hkv, layout, keys, 0), options);
    expect(relFrobenius(clean.data, oracle.out)).toBeLessThanOrEqual(TOLERANCE);

    const visible = referenceVisibility(d, options);
    const outAt = (b: number, h: number, i: number) => (layout === 'bhld' ? ((b * d.H + h) * d.Lq + i) * d.Dv : ((b * d.Lq + i) * d.H + h) * d.Dv);
    let cleanRows = 0;
    for (let b = 0; b < d.B; b++) {
      for (let h = 0; h < d.H; h++) {
        for (let i = 0; i < d.Lq; i++) {
          if (keys.some(([kb, j]) => kb === b && visible(b, h, i, j))) continue; // sees a poisoned key: NaN may propagate
          cleanRows++;
          const start = outAt(b, h, i);
          const row = Array.from(dirty.data.subarray(start, start + d.Dv));
          expectFinite(row, `out row (${b}, ${h}, ${i})`);
          expect(row).toEqual(Array.from(clean.data.subarray(start, start + d.Dv)));
          const statRow = (b * d.H + h) * d.Lq + i;
          expect(Object.is(dirty.lse.data[statRow], clean.lse.data[statRow])).toBe(true);
          const weights = Array.from(dirty.weights.data.subarray(statRow * d.Lk, (statRow + 1) * d.Lk));
          expectFinite(weights, `weights row (${b}, ${h}, ${i})`);
          expect(weights).toEqual(Array.from(clean.weights.data.subarray(statRow * d.Lk, (statRow + 1) * d.Lk)));
        }
      }
    }
    expect(cleanRows).toBeGreaterThan(0);
    if (c.allRowsClean) {
      expect(cleanRows).toBe(d.B * d.H * d.Lq);
      expectFinite(dirty.data, 'out');
    }
  });
});

describe('native variants', () => {
  if (probe.skipReason !== null) {
    it.skip(`skipped: ${probe.skipReason}`, () => {});
  } else {
    it(`run: ${runners.filter((r) => r.name.startsWith('native')).length} native runner(s) (0 when the JS backend is forced or no addon is built)`, () => {
      expect(runners.length).toBeGreaterThanOrEqual(1);
    });
  }
});

// Compile-time checks of attention()'s overloads (tsc runs over the tests).
export function typeChecks(q: Tensor, k: Tensor, v: Tensor): void {
  const plain: Tensor = nativeLib.attention(q, k, v, { causal: 'top-left' });
  // @ts-expect-error without returnLse the result is a plain Tensor
  void plain.lse;
  const withLse = nativeLib.attention(q, k, v, { returnLse: true });
  void withLse.lse.data; // present, no `!` needed
  // @ts-expect-error weights were not asked for, so they may be absent
  void withLse.weights.data;
  const both = nativeLib.attention(q, k, v, { returnLse: true, returnWeights: true, layout: 'blhd' });
  void both.weights.data;
  void both.lse.data;
  const options: AttentionOptions = { returnWeights: Math.random() > 0.5 };
  const maybe: AttentionResult = nativeLib.attention(q, k, v, options);
  void maybe.weights?.data;
}
