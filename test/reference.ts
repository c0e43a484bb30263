/**
 * The float64 oracle of the test suites: the plain formula with the whole
 * score row materialised, written independently of lib/ (its own broadcast
 * and causal logic), plus an error metric and seeded random inputs.
 */
import type { Tensor } from '../lib/types';

/** A mask already turned into strides, as the kernels read it. */
export interface StridedMask {
  data: Float32Array;
  maskStrideB: number;
  maskStrideH: number;
  maskStrideQ: number;
}

export interface ReferenceOptions {
  scale?: number;
  causal?: boolean;
  /** A broadcastable Tensor (rank 2..4, aligned from the right) or an explicit strided mask. */
  mask?: Tensor | StridedMask | null;
}

/** [B, H, L, D] of a rank-3 or rank-4 shape. */
function dims4(shape: number[]): [number, number, number, number] {
  const s = shape.length === 3 ? [1, ...shape] : shape;
  return [s[0], s[1], s[2], s[3]];
}

/** Returns a function giving the flat mask index of (b, h, i, j), or null for no mask. */
function maskIndexer(mask: Tensor | StridedMask | null | undefined, Lk: number): ((b: number, h: number, i: number, j: number) => number) | null {
  if (!mask) return null;
  if ('maskStrideB' in mask) {
    const { maskStrideB, maskStrideH, maskStrideQ } = mask;
    return (b, h, i, j) => b * maskStrideB + h * maskStrideH + i * maskStrideQ + j;
  }
  // Broadcasting by coordinates: a dim of size 1 always reads index 0.
  const [mb, mh, mq] = [...new Array(4 - mask.shape.length).fill(1), ...mask.shape] as number[];
  return (b, h, i, j) => (((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mq + (mq === 1 ? 0 : i)) * Lk + j;
}

/** softmax(q·kᵀ·scale + mask)·v in float64; [B*H*Lq*Dv] row-major. Rows with no visible key are 0. */
export function referenceAttention(q: Tensor, k: Tensor, v: Tensor, options: ReferenceOptions = {}): Float64Array {
  const [B, H, Lq, D] = dims4(q.shape);
  const [, Hkv, Lk] = dims4(k.shape);
  const Dv = dims4(v.shape)[3];
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const causal = options.causal ?? false;
  const maskAt = maskIndexer(options.mask, Lk);
  const maskData = options.mask ? options.mask.data : null;

  const out = new Float64Array(B * H * Lq * Dv);
  const scores = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor((h * Hkv) / H); // kv head of query head h
      for (let i = 0; i < Lq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) {
          let s = -Infinity;
          if (!causal || j <= i + Lk - Lq) {
            s = 0;
            for (let d = 0; d < D; d++) {
              s += q.data[((b * H + h) * Lq + i) * D + d] * k.data[((b * Hkv + g) * Lk + j) * D + d];
            }
            s *= scale;
            if (maskAt && maskData) s += maskData[maskAt(b, h, i, j)];
          }
          scores[j] = s;
          max = Math.max(max, s);
        }
        const row = ((b * H + h) * Lq + i) * Dv;
        if (max === -Infinity) continue; // no visible key: stays 0
        let sum = 0;
        for (let j = 0; j < Lk; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        for (let j = 0; j < Lk; j++) {
          const p = scores[j] / sum;
          for (let d = 0; d < Dv; d++) out[row + d] += p * v.data[((b * Hkv + g) * Lk + j) * Dv + d];
        }
      }
    }
  }
  return out;
}

/** ‖a − b‖_F / ‖b‖_F, with b the reference; the absolute ‖a − b‖_F when b is all zeros. */
export function relFrobenius(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`relFrobenius: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    diff += d * d;
    norm += b[i] * b[i];
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; returns uniforms in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n samples of N(0, 1) from a seed (Box–Muller), as float32. Same seed, same numbers. */
export function randn(n: number, seed: number): Float32Array {
  const uniform = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - uniform(); // (0, 1]: log stays finite
    const u2 = uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
