/**
 * The pure-TypeScript kernel against the float64 oracle. It is called
 * directly (resolveAttention + attention_forward), so these tests run the
 * same whether or not the native addon is built.
 */
import { describe, expect, it } from 'vitest';
import { attention_forward } from '../lib/js/attention';
import { resolveAttention } from '../lib/options';
import type { AttentionOptions, Tensor } from '../lib/types';
import { referenceAttention, relFrobenius } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';
import { tensor, type PartialDims } from './helpers';

const TOLERANCE = 1e-5;

function inputs({ B = 1, H = 2, Hkv = H, Lq, Lk, D, Dv = D }: PartialDims, seed = 1, factor = 1) {
  return {
    q: tensor([B, H, Lq, D], seed, factor),
    k: tensor([B, Hkv, Lk, D], seed + 1, factor),
    v: tensor([B, Hkv, Lk, Dv], seed + 2),
  };
}

/** Runs the JS kernel the way attention() does and returns its output tensor. */
function runJs(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Tensor {
  const resolved = resolveAttention(q, k, v, options);
  attention_forward(resolved);
  return { data: resolved.out, shape: resolved.outShape };
}

function hasNaN(data: ArrayLike<number>): boolean {
  for (let i = 0; i < data.length; i++) if (Number.isNaN(data[i])) return true;
  return false;
}

/** JS kernel vs the oracle on the same inputs; returns both for further checks. */
function expectMatchesReference(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}) {
  const actual = runJs(q, k, v, options);
  const expected = referenceAttention(q, k, v, { scale: options.scale, causal: options.causal, mask: options.mask });
  expect(hasNaN(actual.data)).toBe(false);
  expect(relFrobenius(actual.data, expected)).toBeLessThanOrEqual(TOLERANCE);
  return { actual, expected };
}

/** Float32 mask of `shape`: N(0,1) values with a fraction of -Infinity (keeps key 0 visible so no row is fully masked). */
function randomMask(shape: number[], seed: number, maskedFraction = 0.3): Tensor {
  const t = tensor(shape, seed);
  const Lk = shape[shape.length - 1];
  const uniform = randn(t.data.length, seed + 99);
  for (let i = 0; i < t.data.length; i++) {
    if (i % Lk !== 0 && Math.abs(uniform[i]) < maskedFraction) t.data[i] = -Infinity;
  }
  return t;
}

/** Output rows (over all b, h) of a [.., Lq, Dv] result, as [start, end) index pairs for query row i. */
function rowRanges(BH: number, Lq: number, Dv: number, i: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let bh = 0; bh < BH; bh++) ranges.push([(bh * Lq + i) * Dv, (bh * Lq + i + 1) * Dv]);
  return ranges;
}

describe('JS kernel: square grid L × D, causal and not', () => {
  const cases: Array<{ L: number; D: number; causal: boolean }> = [];
  for (const L of [1, 3, 17, 128, 129]) {
    for (const D of [1, 7, 16, 64, 80, 128, 256]) {
      for (const causal of [false, true]) cases.push({ L, D, causal });
    }
  }
  it.each(cases)('L=$L D=$D causal=$causal', ({ L, D, causal }) => {
    const { q, k, v } = inputs({ Lq: L, Lk: L, D }, L * 1000 + D);
    expectMatchesReference(q, k, v, { causal });
  });
});

describe('JS kernel: rectangular shapes', () => {
  const cases: Array<PartialDims & { causal: boolean }> = [
    // Dv != D
    { Lq: 17, Lk: 17, D: 16, Dv: 7, causal: false },
    { Lq: 17, Lk: 129, D: 7, Dv: 80, causal: true },
    { Lq: 128, Lk: 128, D: 64, Dv: 128, causal: false },
    { Lq: 3, Lk: 3, D: 256, Dv: 1, causal: true },
    // Lq < Lk (decode, chunked prefill)
    { Lq: 1, Lk: 129, D: 64, causal: false },
    { Lq: 1, Lk: 129, D: 64, causal: true },
    { Lq: 3, Lk: 129, D: 80, causal: true },
    { Lq: 17, Lk: 128, D: 16, causal: true },
    // Lq > Lk
    { Lq: 129, Lk: 17, D: 64, causal: false },
    { Lq: 129, Lk: 17, D: 64, causal: true },
    { Lq: 128, Lk: 3, D: 7, Dv: 16, causal: true },
    // Longer sequences, kept to a few cases so the suite stays fast
    { Lq: 513, Lk: 513, D: 64, causal: true },
    { Lq: 1, Lk: 513, D: 128, causal: false },
    { B: 2, H: 2, Lq: 513, Lk: 129, D: 16, causal: false },
  ];
  it.each(cases)('B=$B H=$H Lq=$Lq Lk=$Lk D=$D Dv=$Dv causal=$causal', ({ causal, ...dims }) => {
    const { q, k, v } = inputs(dims, dims.Lq * 7 + dims.Lk);
    expectMatchesReference(q, k, v, { causal });
  });

  it('causal with Lq > Lk: the first Lq - Lk rows see no key and are exactly 0', () => {
    const H = 2;
    const Lq = 40;
    const Lk = 9;
    const Dv = 5;
    const { q, k, v } = inputs({ H, Lq, Lk, D: 8, Dv }, 5);
    const { actual } = expectMatchesReference(q, k, v, { causal: true });
    for (let i = 0; i < Lq; i++) {
      for (const [start, end] of rowRanges(H, Lq, Dv, i)) {
        const row = Array.from(actual.data.subarray(start, end));
        if (i < Lq - Lk) expect(row).toEqual(new Array(Dv).fill(0));
        else expect(row.some((x) => x !== 0)).toBe(true);
      }
    }
  });
});

describe('JS kernel: masks', () => {
  const B = 2;
  const H = 4;
  const Lq = 17;
  const Lk = 129;
  const maskShapes = [
    [Lq, Lk],
    [1, Lk],
    [H, Lq, Lk],
    [H, 1, Lk],
    [1, H, Lq, Lk],
    [B, 1, 1, Lk],
    [B, 1, Lq, Lk],
    [B, H, Lq, Lk],
  ];
  it.each(maskShapes.flatMap((shape) => [false, true].map((causal) => ({ shape, causal }))))(
    'mask $shape with -Infinity, causal=$causal',
    ({ shape, causal }) => {
      const { q, k, v } = inputs({ B, H, Hkv: 2, Lq, Lk, D: 32, Dv: 24 }, shape.length * 31 + shape[0]);
      const mask = randomMask(shape, 77 + shape[0]);
      expectMatchesReference(q, k, v, { mask, causal });
    },
  );

  it('gives the same result as the oracle given explicit strides', () => {
    const { q, k, v } = inputs({ B, H, Lq, Lk, D: 16 }, 3);
    const mask = randomMask([B, 1, Lq, Lk], 4);
    const resolved = resolveAttention(q, k, v, { mask });
    expect([resolved.maskStrideB, resolved.maskStrideH, resolved.maskStrideQ]).toEqual([Lq * Lk, 0, Lk]);
    attention_forward(resolved);
    const expected = referenceAttention(q, k, v, {
      mask: { data: mask.data, maskStrideB: Lq * Lk, maskStrideH: 0, maskStrideQ: Lk },
    });
    expect(relFrobenius(resolved.out, expected)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('fully masked rows are exactly 0, never NaN, even in a reused buffer', () => {
    const Dv = 24;
    const { q, k, v } = inputs({ H: 2, Lq, Lk, D: 32, Dv }, 11);
    const mask = randomMask([Lq, Lk], 12);
    const maskedRows = [0, 5, Lq - 1];
    for (const i of maskedRows) mask.data.fill(-Infinity, i * Lk, (i + 1) * Lk);
    const out = new Float32Array(2 * Lq * Dv).fill(NaN); // stale contents must be overwritten
    const { actual } = expectMatchesReference(q, k, v, { mask, out });
    for (const i of maskedRows) {
      for (const [start, end] of rowRanges(2, Lq, Dv, i)) {
        expect(Array.from(actual.data.subarray(start, end))).toEqual(new Array(Dv).fill(0));
      }
    }
  });

  it('a row whose only visible keys lie in a later key block (skipped first blocks)', () => {
    const { q, k, v } = inputs({ Lq: 4, Lk: 200, D: 16 }, 21);
    const mask = { data: new Float32Array(4 * 200).fill(-Infinity), shape: [4, 200] };
    // Row 0 sees only key 150; row 1 keys 70 and 199; row 2 everything; row 3 nothing.
    mask.data[0 * 200 + 150] = 0;
    mask.data[1 * 200 + 70] = 0;
    mask.data[1 * 200 + 199] = 0;
    mask.data.fill(0, 2 * 200, 3 * 200);
    const { actual } = expectMatchesReference(q, k, v, { mask });
    // One visible key: the output is exactly its value row.
    const Dv = 16;
    expect(Array.from(actual.data.subarray(0, Dv))).toEqual(Array.from(v.data.subarray(150 * Dv, 151 * Dv)));
    expect(Array.from(actual.data.subarray(3 * Dv, 4 * Dv))).toEqual(new Array(Dv).fill(0));
  });

  it('causal and a mask combine, and a fully masked causal row is 0', () => {
    const { q, k, v } = inputs({ H: 2, Lq: 33, Lk: 33, D: 8 }, 31);
    const mask = randomMask([33, 33], 32, 0.5);
    mask.data[0] = -Infinity; // row 0 sees only key 0 under causal: now nothing
    const { actual } = expectMatchesReference(q, k, v, { mask, causal: true });
    expect(Array.from(actual.data.subarray(0, 8))).toEqual(new Array(8).fill(0));
  });
});

describe('JS kernel: scale and magnitude', () => {
  it.each([0.01, 0.5, 3])('custom scale %s', (scale) => {
    const { q, k, v } = inputs({ Lq: 65, Lk: 130, D: 64 }, 41);
    expectMatchesReference(q, k, v, { scale });
  });

  it('inputs scaled by 100 (near one-hot softmax) stay finite and accurate', () => {
    const { q, k, v } = inputs({ H: 2, Lq: 129, Lk: 129, D: 64 }, 51, 100);
    expectMatchesReference(q, k, v, {});
    expectMatchesReference(q, k, v, { causal: true });
  });

  it('scores that grow along the keys force the accumulator to be rescaled', () => {
    const { q, k, v } = inputs({ Lq: 2, Lk: 300, D: 4 }, 61);
    q.data.fill(1);
    for (let j = 0; j < 300; j++) k.data.fill(j / 10, j * 4, (j + 1) * 4);
    expectMatchesReference(q, k, v, {});
  });
});

describe('JS kernel: grouped-query attention and layouts', () => {
  it.each([
    { H: 4, Hkv: 2 },
    { H: 4, Hkv: 1 },
    { H: 8, Hkv: 2 },
  ])('H=$H Hkv=$Hkv', ({ H, Hkv }) => {
    const { q, k, v } = inputs({ B: 2, H, Hkv, Lq: 17, Lk: 129, D: 16, Dv: 8 }, H * 10 + Hkv);
    expectMatchesReference(q, k, v, {});
    expectMatchesReference(q, k, v, { causal: true, mask: randomMask([2, 1, 17, 129], 9) });
  });

  it('query head h reads kv head floor(h / (H / Hkv))', () => {
    // Each kv head's values are constant = its index, so each output row shows which head was read.
    const H = 6;
    const Hkv = 3;
    const { q, k } = inputs({ H, Hkv, Lq: 2, Lk: 5, D: 4 }, 71);
    const v = { data: new Float32Array(Hkv * 5 * 1), shape: [1, Hkv, 5, 1] };
    for (let g = 0; g < Hkv; g++) v.data.fill(g, g * 5, (g + 1) * 5);
    const out = runJs(q, k, v).data;
    const heads = Array.from({ length: H }, (_, h) => out[h * 2]);
    expect(heads.map((x) => Math.round(x))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('rank-3 inputs [H, L, D] act as B = 1 and give a rank-3 output', () => {
    const { q, k, v } = inputs({ H: 4, Hkv: 2, Lq: 17, Lk: 33, D: 16, Dv: 8 }, 81);
    const rank4 = runJs(q, k, v, { causal: true });
    const q3 = { data: q.data, shape: q.shape.slice(1) };
    const k3 = { data: k.data, shape: k.shape.slice(1) };
    const v3 = { data: v.data, shape: v.shape.slice(1) };
    const rank3 = runJs(q3, k3, v3, { causal: true });
    expect(rank3.shape).toEqual([4, 17, 8]);
    expect(rank4.shape).toEqual([1, 4, 17, 8]);
    expect(Array.from(rank3.data)).toEqual(Array.from(rank4.data));
    expect(relFrobenius(rank3.data, referenceAttention(q3, k3, v3, { causal: true }))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('writes into a given out buffer and returns that same buffer', () => {
    const { q, k, v } = inputs({ H: 2, Lq: 9, Lk: 9, D: 8, Dv: 4 }, 91);
    const out = new Float32Array(2 * 9 * 4).fill(123);
    const first = runJs(q, k, v, { out });
    expect(first.data).toBe(out);
    const expected = referenceAttention(q, k, v);
    expect(relFrobenius(out, expected)).toBeLessThanOrEqual(TOLERANCE);
    // Reusing it for another call overwrites every element.
    const second = runJs(q, k, v, { out, causal: true });
    expect(second.data).toBe(out);
    expect(relFrobenius(out, referenceAttention(q, k, v, { causal: true }))).toBeLessThanOrEqual(TOLERANCE);
  });
});
