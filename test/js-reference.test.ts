/**
 * The specification kernel (lib/js/attention_reference.ts) against the
 * float64 oracle, and the fast TS kernel (lib/js/attention.ts) against the
 * specification, on every option: both run from the same resolveAttention()
 * arguments, so they must agree to float32 rounding.
 */
import { describe, expect, it } from 'vitest';
import { attention_forward } from '../lib/js/attention';
import { attention_reference } from '../lib/js/attention_reference';
import { type KernelDims, resolveAttention } from '../lib/options';
import type { AttentionOptions, Tensor } from '../lib/types';
import { referenceAttentionFull, relFrobenius } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';
import { tensor } from './helpers';


interface Case extends Omit<KernelDims, 'q' | 'k' | 'v' | 'out'> {
  name: string;
  options: AttentionOptions;
}

/** Flags with a fraction of zeros (hidden), keeping key 0 of every row visible. */
function flags(n: number, period: number, seed: number): Uint8Array {
  const r = randn(n, seed);
  return Uint8Array.from(r, (x, i) => (i % period === 0 || Math.abs(x) > 0.4 ? 1 : 0));
}

const B = 2, H = 4, Hkv = 2, Lq = 37, Lk = 150, D = 9, Dv = 7;
const base = { B, H, Hkv, Lq, Lk, D, Dv };
const cases: Case[] = [
  { name: 'plain, GQA, Lk over two key blocks', ...base, options: {} },
  { name: 'causal (bottom-right)', ...base, options: { causal: true } },
  { name: 'causal top-left, Lq = Lk', ...base, Lq: 70, Lk: 70, options: { causal: 'top-left' } },
  { name: 'sliding window', ...base, options: { window: [20, 5] } },
  { name: 'additive mask [Lq, Lk] with -Infinity', ...base, options: { mask: { data: randn(Lq * Lk, 7).map((x, i) => (i % Lk !== 0 && x > 1 ? -Infinity : x)), shape: [Lq, Lk] } } },
  { name: 'additive mask broadcast over keys [B, H, Lq, 1]', ...base, options: { mask: { data: randn(B * H * Lq, 8), shape: [B, H, Lq, 1] } } },
  { name: 'boolean mask [B, 1, Lq, Lk]', ...base, options: { mask: { data: flags(B * Lq * Lk, Lk, 9), shape: [B, 1, Lq, Lk] } } },
  { name: 'key padding and key lengths', ...base, options: { keyPadding: flags(B * Lk, Lk, 10), keyLengths: Int32Array.from([Lk, 90]) } },
  { name: 'ALiBi and softcap', ...base, options: { alibiSlopes: Float32Array.from([0.5, 0.25, 0.125, 0.0625]), softcap: 2 } },
  { name: 'layout blhd, custom scale', ...base, options: { layout: 'blhd', scale: 0.7 } },
];

/**
 * Runs `kernel` on freshly resolved arguments and returns out, lse and weights
 * (the fast kernel takes four rows at a time only without returnWeights).
 */
function run(kernel: typeof attention_reference, q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, returnWeights = true) {
  const r = resolveAttention(q, k, v, { ...options, returnLse: true, returnWeights });
  kernel(r);
  return { out: r.out, lse: r.lse as Float32Array, weights: r.weights as Float32Array };
}

describe('attention_reference, the specification kernel', () => {
  it.each(cases)('$name: equals the oracle (out, lse, weights), and the fast kernel equals it', ({ B, H, Hkv, Lq, Lk, D, Dv, options }) => {
    const layout = options.layout ?? 'bhld';
    const shape = (heads: number, L: number, width: number): number[] => (layout === 'bhld' ? [B, heads, L, width] : [B, L, heads, width]);
    const q = tensor(shape(H, Lq, D), 1);
    const k = tensor(shape(Hkv, Lk, D), 2);
    const v = tensor(shape(Hkv, Lk, Dv), 3);
    const spec = run(attention_reference, q, k, v, options);
    const oracle = referenceAttentionFull(q, k, v, options as never, true);
    expect(relFrobenius(spec.out, oracle.out)).toBeLessThanOrEqual(1e-6);
    expect(relFrobenius(spec.lse.map((x) => (x === -Infinity ? 0 : x)), oracle.lse.map((x) => (x === -Infinity ? 0 : x)))).toBeLessThanOrEqual(1e-6);
    expect(relFrobenius(spec.weights, oracle.weights as Float64Array)).toBeLessThanOrEqual(1e-6);

    const fast = run(attention_forward, q, k, v, options, false);
    expect(relFrobenius(fast.out, spec.out)).toBeLessThanOrEqual(1e-6);
    expect(Array.from(fast.lse, (x, i) => Math.abs(x - spec.lse[i]) <= 1e-5 || x === spec.lse[i]).every(Boolean)).toBe(true);
    const fastOneRow = run(attention_forward, q, k, v, options);
    expect(relFrobenius(fastOneRow.out, spec.out)).toBeLessThanOrEqual(1e-6);
    expect(relFrobenius(fastOneRow.weights, spec.weights)).toBeLessThanOrEqual(1e-6);
  });

  it('a row that sees no key gives zeros and lse -Infinity, never NaN', () => {
    const q = tensor([1, 1, 3, 4], 1), k = tensor([1, 1, 5, 4], 2), v = tensor([1, 1, 5, 4], 3);
    const spec = run(attention_reference, q, k, v, { keyLengths: Int32Array.from([0]) });
    expect(Array.from(spec.out)).toEqual(new Array(12).fill(0));
    expect(Array.from(spec.lse)).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(Array.from(spec.weights)).toEqual(new Array(15).fill(0));
  });

  it('NaN and Infinity stored at hidden keys never reach the output', () => {
    const q = tensor([1, 1, 2, 4], 1), k = tensor([1, 1, 6, 4], 2), v = tensor([1, 1, 6, 4], 3);
    const keyPadding = Uint8Array.from([1, 1, 0, 1, 1, 0]);
    const clean = run(attention_reference, q, k, v, { keyPadding });
    for (const j of [2, 5]) {
      k.data.fill(NaN, j * 4, j * 4 + 4);
      v.data.fill(Infinity, j * 4, j * 4 + 4);
    }
    const poisoned = run(attention_reference, q, k, v, { keyPadding });
    expect(Array.from(poisoned.out)).toEqual(Array.from(clean.out));
  });

  it('a NaN in q gives NaN in that row only', () => {
    const q = tensor([1, 1, 2, 4], 1), k = tensor([1, 1, 6, 4], 2), v = tensor([1, 1, 6, 4], 3);
    q.data[0] = NaN;
    const spec = run(attention_reference, q, k, v, {});
    expect(Array.from(spec.out.subarray(0, 4)).every(Number.isNaN)).toBe(true);
    expect(Array.from(spec.out.subarray(4)).some(Number.isNaN)).toBe(false);
  });
});
