/**
 * The correctness grid every backend's kernel runs (native per ISA and thread
 * count in native-crosscheck.test.ts, WebAssembly in wasm.test.ts): L x D
 * self-attention, Dv != D, causal both ways, masks with holes, broadcast and
 * fully masked rows, custom scale, large inputs, GQA and MQA.
 */
import { expect } from 'vitest';
import type { AttentionOptions, Tensor } from '../lib/types';
import type { NativeAttentionArgs } from '../lib/native';
import { attention_forward } from '../lib/js/attention';
import { resolveAttention } from '../lib/options';
import { referenceAttention, relFrobenius } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';
import { tensor } from './helpers';

export interface Case {
  name: string;
  B: number; H: number; Hkv: number; Lq: number; Lk: number; D: number; Dv: number;
  causal?: boolean;
  scale?: number;
  mask?: 'none' | 'full' | 'broadcast' | 'holes' | 'rowOff';
  amplitude?: number;
}

/** A mask of the requested kind; 'rowOff' masks every key of query rows 0 and 2. */
function makeMask(c: Case): Tensor | null {
  const kind = c.mask ?? 'none';
  if (kind === 'none') return null;
  if (kind === 'broadcast') {
    // [B, 1, 1, Lk]: a key-padding style mask hiding the last third of the keys
    const m = new Float32Array(c.B * c.Lk);
    for (let b = 0; b < c.B; b++) for (let j = 0; j < c.Lk; j++) m[b * c.Lk + j] = j >= Math.ceil((2 * c.Lk) / 3) && j > 0 ? -Infinity : 0.25 * b;
    return { data: m, shape: [c.B, 1, 1, c.Lk] };
  }
  const m = randn(c.Lq * c.Lk, 99);
  if (kind === 'holes') for (let i = 0; i < m.length; i += 3) m[i] = -Infinity;
  if (kind === 'rowOff') for (const i of [0, 2]) if (i < c.Lq) m.fill(-Infinity, i * c.Lk, (i + 1) * c.Lk);
  return { data: m, shape: [c.Lq, c.Lk] };
}

export function buildCases(): Case[] {
  const cases: Case[] = [];
  // L x D grid, self-attention
  for (const L of [1, 3, 17, 128, 129, 513]) {
    for (const D of [1, 7, 16, 64, 80, 128, 256]) {
      if (L === 513 && D !== 64 && D !== 256) continue; // keep the suite fast: big L on two head sizes
      cases.push({ name: `L=${L} D=${D}`, B: 1, H: 2, Hkv: 2, Lq: L, Lk: L, D, Dv: D });
    }
  }
  cases.push(
    { name: 'Dv != D', B: 2, H: 3, Hkv: 3, Lq: 33, Lk: 40, D: 16, Dv: 24 },
    { name: 'Dv = 1, D = 80', B: 1, H: 2, Hkv: 2, Lq: 20, Lk: 70, D: 80, Dv: 1 },
    { name: 'Lq < Lk causal', B: 1, H: 2, Hkv: 2, Lq: 17, Lk: 130, D: 32, Dv: 32, causal: true },
    { name: 'Lq > Lk causal (first rows see nothing)', B: 1, H: 2, Hkv: 2, Lq: 129, Lk: 17, D: 32, Dv: 40, causal: true },
    { name: 'Lq < Lk', B: 2, H: 1, Hkv: 1, Lq: 3, Lk: 513, D: 64, Dv: 64 },
    { name: 'Lq > Lk', B: 1, H: 2, Hkv: 2, Lq: 300, Lk: 5, D: 7, Dv: 7 },
    { name: 'causal square 513', B: 1, H: 2, Hkv: 2, Lq: 513, Lk: 513, D: 64, Dv: 64, causal: true },
    { name: 'causal square 129, D=128', B: 2, H: 1, Hkv: 1, Lq: 129, Lk: 129, D: 128, Dv: 128, causal: true },
    { name: 'mask with -Infinity holes', B: 1, H: 2, Hkv: 2, Lq: 65, Lk: 129, D: 64, Dv: 64, mask: 'holes' },
    { name: 'mask + causal', B: 1, H: 2, Hkv: 2, Lq: 129, Lk: 129, D: 16, Dv: 16, mask: 'full', causal: true },
    { name: 'broadcast key-padding mask [B,1,1,Lk]', B: 2, H: 3, Hkv: 3, Lq: 50, Lk: 70, D: 64, Dv: 64, mask: 'broadcast' },
    { name: 'fully masked rows', B: 1, H: 2, Hkv: 2, Lq: 5, Lk: 140, D: 16, Dv: 16, mask: 'rowOff' },
    { name: 'custom scale', B: 1, H: 2, Hkv: 2, Lq: 64, Lk: 64, D: 64, Dv: 64, scale: 0.37 },
    { name: 'inputs x100 (softmax stability)', B: 1, H: 2, Hkv: 2, Lq: 128, Lk: 128, D: 64, Dv: 64, amplitude: 100 },
    { name: 'GQA H=8 Hkv=2', B: 2, H: 8, Hkv: 2, Lq: 40, Lk: 90, D: 64, Dv: 64, causal: true },
    { name: 'MQA H=4 Hkv=1', B: 1, H: 4, Hkv: 1, Lq: 1, Lk: 300, D: 128, Dv: 128 },
  );
  return cases;
}

export function inputs(c: Case): { q: Tensor; k: Tensor; v: Tensor; opts: AttentionOptions } {
  const amp = c.amplitude ?? 1;
  const q = tensor([c.B, c.H, c.Lq, c.D], 1, amp);
  const k = tensor([c.B, c.Hkv, c.Lk, c.D], 2, amp);
  const v = tensor([c.B, c.Hkv, c.Lk, c.Dv], 3);
  const opts: AttentionOptions = { causal: c.causal ?? false, mask: makeMask(c) };
  if (c.scale !== undefined) opts.scale = c.scale;
  return { q, k, v, opts };
}

/** Query rows of a case that see no key (all their outputs must be exact zeros). */
export function deadRows(c: Case): number[] {
  if (c.mask === 'rowOff') return [0, 2].filter((i) => i < c.Lq);
  if (c.causal && c.Lq > c.Lk) return Array.from({ length: c.Lq - c.Lk }, (_, i) => i);
  return [];
}

/**
 * Runs case `c` through `run` (one backend's attention) and checks the result: its shape,
 * no NaN, within `tol` of the float64 oracle and of the TS kernel, dead rows exact zeros.
 */
export function checkGridCase(c: Case, run: (q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions) => Tensor, tol: number): void {
  const { q, k, v, opts } = inputs(c);
  const got = run(q, k, v, opts);
  expect(got.shape).toEqual([c.B, c.H, c.Lq, c.Dv]);
  expect(got.data.some(Number.isNaN)).toBe(false);
  expect(relFrobenius(got.data, referenceAttention(q, k, v, opts))).toBeLessThanOrEqual(tol);
  const js = resolveAttention(q, k, v, opts);
  attention_forward(js);
  expect(relFrobenius(got.data, js.out)).toBeLessThanOrEqual(tol);
  for (let bh = 0; bh < c.B * c.H; bh++)
    for (const i of deadRows(c))
      for (let e = 0; e < c.Dv; e++) expect(got.data[(bh * c.Lq + i) * c.Dv + e]).toBe(0);
}

/**
 * A valid kernel call (B=1, H=2, L=4, D=Dv=8, contiguous [B,H,L,D], q = k = v filled with
 * `fill`) for the guard tests that call the addon or the wasm module directly, bypassing
 * lib/'s checks: each case breaks one field of it.
 */
export function validKernelArgs(fill = 0): NativeAttentionArgs {
  const q = new Float32Array(2 * 4 * 8).fill(fill);
  return {
    q, k: q.slice(), v: q.slice(), out: new Float32Array(2 * 4 * 8),
    B: 1, H: 2, Hkv: 2, Lq: 4, Lk: 4, D: 8, Dv: 8,
    qStrideB: 64, qStrideH: 32, qStrideL: 8, kStrideB: 64, kStrideH: 32, kStrideL: 8,
    vStrideB: 64, vStrideH: 32, vStrideL: 8, oStrideB: 64, oStrideH: 32, oStrideL: 8,
    mask: null, maskStrideB: 0, maskStrideH: 0, maskStrideQ: 0, maskStrideK: 1,
    boolMask: null, boolMaskStrideB: 0, boolMaskStrideH: 0, boolMaskStrideQ: 0, boolMaskStrideK: 1,
    keyPadding: null, keyLengths: null, scale: 1, alignOffset: 0, windowLeft: -1, windowRight: -1,
    alibiSlopes: null, softcap: 0, lse: null, weights: null,
  };
}
