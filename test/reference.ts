/**
 * The float64 oracle of the test suites: the plain formula with the whole
 * score row materialised, written independently of lib/ (its own layout,
 * broadcast, visibility and score logic, all by coordinates), plus an error
 * metric and seeded random inputs.
 */
import type { BoolTensor, Tensor } from '../lib/types';

/** A mask already turned into strides, as the kernels read it. */
export interface StridedMask {
  data: Float32Array;
  maskStrideB: number;
  maskStrideH: number;
  maskStrideQ: number;
}

export interface ReferenceOptions {
  scale?: number;
  /** true: j <= i + Lk - Lq; 'top-left': j <= i. */
  causal?: boolean | 'top-left';
  /** A broadcastable Tensor (rank 1..4, aligned from the right, any dim may be 1; Float32Array additive, Uint8Array boolean) or an explicit strided additive mask. */
  mask?: Tensor | BoolTensor | StridedMask | null;
  /** [B*Lk], 0 = padding. */
  keyPadding?: Uint8Array | null;
  /** [B]: keys j >= keyLengths[b] are hidden. */
  keyLengths?: Int32Array | null;
  /** 'bhld' (default): tensors are [B,H,L,D]; 'blhd': [B,L,H,D]. The output follows. */
  layout?: 'bhld' | 'blhd';
  /** [B]: query i of batch row b sits at key position i + rowOffsets[b] (overrides the causal alignment). */
  rowOffsets?: Int32Array | null;
  /** [left, right] around the aligned position; -1 = unbounded. */
  window?: readonly [number, number] | null;
  alibiSlopes?: Float32Array | null;
  softcap?: number;
}

/** Sizes of one call, read from the shapes in the given layout. */
export interface ReferenceDims {
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv: number;
}

export interface ReferenceResult {
  /** In the output layout, like the output tensor's data. */
  out: Float64Array;
  /** [B, H, Lq]; -Infinity for a row with no visible key. */
  lse: Float64Array;
  /** [B, H, Lq, Lk] when asked for; 0 on hidden keys. */
  weights: Float64Array | null;
}

/** [B, H, L, D] of a rank-3 or rank-4 shape in a layout. */
function dims4(shape: number[], layout: 'bhld' | 'blhd'): [number, number, number, number] {
  const s = shape.length === 3 ? [1, ...shape] : shape;
  return layout === 'bhld' ? [s[0], s[1], s[2], s[3]] : [s[0], s[2], s[1], s[3]];
}

export function referenceDims(q: Tensor, k: Tensor, v: Tensor, layout: 'bhld' | 'blhd' = 'bhld'): ReferenceDims {
  const [B, H, Lq, D] = dims4(q.shape, layout);
  const [, Hkv, Lk] = dims4(k.shape, layout);
  const Dv = dims4(v.shape, layout)[3];
  return { B, H, Hkv, Lq, Lk, D, Dv };
}

/** Flat index of element (b, h, l, d) of a tensor with `heads` heads, `length` positions and width `width`. */
function indexOf(layout: 'bhld' | 'blhd', heads: number, length: number, width: number) {
  return layout === 'bhld'
    ? (b: number, h: number, l: number, d: number) => ((b * heads + h) * length + l) * width + d
    : (b: number, h: number, l: number, d: number) => ((b * length + l) * heads + h) * width + d;
}

/** Returns a function giving the flat mask index of (b, h, i, j), or null for no mask. */
function maskIndexer(mask: Tensor | BoolTensor | StridedMask | null | undefined): ((b: number, h: number, i: number, j: number) => number) | null {
  if (!mask) return null;
  if ('maskStrideB' in mask) {
    const { maskStrideB, maskStrideH, maskStrideQ } = mask;
    return (b, h, i, j) => b * maskStrideB + h * maskStrideH + i * maskStrideQ + j;
  }
  // Broadcasting by coordinates: a dim of size 1 (the key dim included) always reads index 0.
  const [mb, mh, mq, mk] = [...new Array(4 - mask.shape.length).fill(1), ...mask.shape] as number[];
  return (b, h, i, j) => (((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mq + (mq === 1 ? 0 : i)) * mk + (mk === 1 ? 0 : j);
}

/** The aligned position i' of query row i of batch row b: i + rowOffsets[b] when given, else bottom-right (i + Lk - Lq) unless causal is 'top-left'. */
function alignedPosition(options: ReferenceOptions, Lq: number, Lk: number): (b: number, i: number) => number {
  const rowOffsets = options.rowOffsets;
  if (rowOffsets) return (b, i) => i + rowOffsets[b];
  return options.causal === 'top-left' ? (_b, i) => i : (_b, i) => i + Lk - Lq;
}

/** Whether key j is visible to query (b, h, i): causal, window, key lengths, key padding and a boolean mask. */
export function referenceVisibility(dims: ReferenceDims, options: ReferenceOptions): (b: number, h: number, i: number, j: number) => boolean {
  const { Lq, Lk } = dims;
  const aligned = alignedPosition(options, Lq, Lk);
  const [left, right] = options.window ?? [-1, -1];
  const causal = options.causal === true || options.causal === 'top-left';
  const mask = options.mask;
  const boolMask = mask && !('maskStrideB' in mask) && mask.data instanceof Uint8Array ? mask.data : null;
  const boolAt = boolMask ? maskIndexer(mask) : null;
  return (b, h, i, j) => {
    const position = aligned(b, i);
    if (causal && j > position) return false;
    if (left >= 0 && j < position - left) return false;
    if (right >= 0 && j > position + right) return false;
    if (options.keyLengths && j >= options.keyLengths[b]) return false;
    if (options.keyPadding && options.keyPadding[b * Lk + j] === 0) return false;
    if (boolMask && boolAt && boolMask[boolAt(b, h, i, j)] === 0) return false;
    return true;
  };
}

/**
 * softmax(cap(q·kᵀ·scale) + mask - slope·|i' - j|) over the visible keys, times v,
 * in float64. Rows with no visible key give 0 (and lse -Infinity).
 */
export function referenceAttentionFull(q: Tensor, k: Tensor, v: Tensor, options: ReferenceOptions = {}, withWeights = false): ReferenceResult {
  const layout = options.layout ?? 'bhld';
  const dims = referenceDims(q, k, v, layout);
  const { B, H, Hkv, Lq, Lk, D, Dv } = dims;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const softcap = options.softcap ?? 0;
  const mask = options.mask;
  const additive = mask && ('maskStrideB' in mask || mask.data instanceof Float32Array) ? (mask.data as Float32Array) : null;
  const additiveAt = additive ? maskIndexer(mask) : null;
  const visible = referenceVisibility(dims, options);
  const aligned = alignedPosition(options, Lq, Lk);
  const qAt = indexOf(layout, H, Lq, D);
  const kAt = indexOf(layout, Hkv, Lk, D);
  const vAt = indexOf(layout, Hkv, Lk, Dv);
  const outAt = indexOf(layout, H, Lq, Dv);

  const out = new Float64Array(B * H * Lq * Dv);
  const lse = new Float64Array(B * H * Lq);
  const weights = withWeights ? new Float64Array(B * H * Lq * Lk) : null;
  const scores = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor((h * Hkv) / H); // kv head of query head h
      for (let i = 0; i < Lq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) {
          let s = -Infinity;
          if (visible(b, h, i, j)) {
            s = 0;
            for (let d = 0; d < D; d++) s += q.data[qAt(b, h, i, d)] * k.data[kAt(b, g, j, d)];
            s *= scale;
            if (softcap > 0) s = softcap * Math.tanh(s / softcap);
            if (additive && additiveAt) s += additive[additiveAt(b, h, i, j)];
            if (options.alibiSlopes) s -= options.alibiSlopes[h] * Math.abs(aligned(b, i) - j);
          }
          scores[j] = s;
          max = Math.max(max, s);
        }
        const row = (b * H + h) * Lq + i;
        if (max === -Infinity) {
          lse[row] = -Infinity; // no visible key: out and weights stay 0
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Lk; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        lse[row] = max + Math.log(sum);
        for (let j = 0; j < Lk; j++) {
          const p = scores[j] / sum;
          if (weights) weights[row * Lk + j] = p;
          if (p === 0) continue; // a hidden key: its v is never read
          for (let d = 0; d < Dv; d++) out[outAt(b, h, i, d)] += p * v.data[vAt(b, g, j, d)];
        }
      }
    }
  }
  return { out, lse, weights };
}

/** The output of {@link referenceAttentionFull} alone, in the output layout. */
export function referenceAttention(q: Tensor, k: Tensor, v: Tensor, options: ReferenceOptions = {}): Float64Array {
  return referenceAttentionFull(q, k, v, options).out;
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
