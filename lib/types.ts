/** A dense row-major float32 tensor. `data.length` must equal the product of `shape`. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/**
 * A layer weight in PyTorch's layout: a bare Float32Array (row-major, of the
 * layer's size) or a Tensor whose shape the layer checks against its geometry.
 * Layers copy their weights at construction.
 */
export type WeightTensor = Float32Array | Tensor;

/** A dense row-major boolean mask: nonzero (1) = may attend, 0 = hidden (PyTorch's boolean `attn_mask`). */
export interface BoolTensor {
  data: Uint8Array;
  shape: number[];
}

/**
 * Memory order of q, k, v and the output. `'bhld'`: [B, H, L, D], heads
 * outermost. `'blhd'`: [B, L, H, D], heads interleaved, as a linear
 * projection writes them. Rank-3 tensors drop B in either layout.
 */
export type Layout = 'bhld' | 'blhd';

/** Options of {@link attention}, {@link attentionAsync} and {@link explain}. */
export interface AttentionOptions {
  /** Multiplier of Q·Kᵀ. Default `1 / sqrt(D)`. Must be finite and > 0. */
  scale?: number;
  /**
   * Causal mask. `true`: bottom-right aligned (PyTorch's `causal_lower_right`),
   * query i sees key j iff `j <= i + Lk - Lq`; with `Lq > Lk` the first
   * `Lq - Lk` query rows see no key and produce zeros. `'top-left'`: PyTorch's
   * `is_causal=True`, query i sees key j iff `j <= i`.
   */
  causal?: boolean | 'top-left';
  /**
   * A mask broadcastable to `[B, H, Lq, Lk]` in every layout (rank 1 to 4,
   * aligned from the right as numpy and PyTorch do; any dim may be 1, the key
   * dim included: `[1, 1, Lq, 1]` gives each query row one value).
   * Float32Array data: additive, added to the scores (`-Infinity` hides a key).
   * Uint8Array data: boolean, nonzero = may attend; hidden keys are skipped,
   * never read. A row that sees no key gives zeros (lse -Infinity).
   */
  mask?: Tensor | BoolTensor | null;
  /** `[B, Lk]` flattened (length `B*Lk`): nonzero = real token, 0 = padding (skipped, never read). */
  keyPadding?: Uint8Array | null;
  /** `[B]`: batch b attends to keys `0 .. keyLengths[b] - 1` only; each an integer in `[0, Lk]`. */
  keyLengths?: Int32Array | null;
  /** Memory order of q, k, v and the output; default `'bhld'`. Masks, lse and weights stay in [B, H, ...] order. */
  layout?: Layout;
  /**
   * Sliding window `[left, right]`: query i sees keys j with
   * `i' - left <= j <= i' + right`, i' = its aligned position (i + Lk - Lq,
   * or i with `causal: 'top-left'`). -1 = unbounded on that side. With
   * `causal`, right is 0.
   */
  window?: readonly [number, number] | null;
  /** `[H]` ALiBi slopes: adds `-slope[h] * |i' - j|` to the scores (i' as for `window`). */
  alibiSlopes?: Float32Array | null;
  /** Soft-capping: scores become `softcap * tanh(scores / softcap)` before masks and ALiBi. Finite, > 0. */
  softcap?: number;
  /** Also return the natural-log log-sum-exp of each row's scores, `[B, H, Lq]` (-Infinity for a row that sees no key). */
  returnLse?: boolean;
  /**
   * Also return the softmax weights `[B, H, Lq, Lk]` (zeros on hidden keys).
   * The slow path: the weights are materialised; refused above 2**28 elements.
   */
  returnWeights?: boolean;
  /** Preallocated output buffer of length `B*H*Lq*Dv`; it is written and returned as `data`. */
  out?: Float32Array;
}

/**
 * What {@link attention} returns with `returnLse` or `returnWeights`: the
 * output tensor itself (same `data` and `shape` as without them) plus the
 * requested extras, both in [B, H, ...] order whatever the layout
 * (rank-3 inputs drop B).
 */
export interface AttentionResult extends Tensor {
  /** `[B, H, Lq]`: log Σ_j exp(score_ij) over visible keys; -Infinity for a row that sees no key. */
  lse?: Tensor;
  /** `[B, H, Lq, Lk]`: the softmax weights; rows sum to 1, hidden keys are 0. */
  weights?: Tensor;
}

/** What a call would do, from {@link explain}; nothing is computed. */
export interface AttentionPlan {
  backend: 'native' | 'wasm' | 'js';
  /** The kernel's instruction set: a native ISA, 'simd128' / 'relaxed-simd' (WebAssembly SIMD, the latter with fused multiply-add), or 'js'. */
  isa: 'avx512' | 'avx2' | 'neon' | 'scalar' | 'simd128' | 'relaxed-simd' | 'js';
  /**
   * `'tiled'`: query blocks × key blocks (prefill). `'decode-split-k'`: few
   * query rows, the keys split across threads and merged. `'reference'`: the
   * TypeScript kernel of the JS backend (four query rows at a time; its
   * one-row specification is lib/js/attention_reference.ts).
   */
  path: 'tiled' | 'decode-split-k' | 'reference';
  /** Query rows per work item. */
  blockQ: number;
  /** Keys per block. */
  blockK: number;
  /** Threads that take part, the calling one included. */
  threads: number;
  /** Work items handed out to the threads. */
  workItems: number;
  /** Bytes of kernel scratch, all participating threads together. */
  scratchBytes: number;
}

/** A plan as a backend's kernel reports it: {@link AttentionPlan} less the backend. */
export type KernelPlan = Omit<AttentionPlan, 'backend'>;

/** Which implementation runs the kernels. */
export interface BackendInfo {
  /** The native addon, the WebAssembly module (attention only; other ops run the TS kernels), or the TS kernels. */
  name: 'native' | 'wasm' | 'js';
  isa: 'avx512' | 'avx2' | 'neon' | 'scalar' | 'simd128' | 'relaxed-simd' | 'js';
  threads: number;
  /** Why the wasm or JS backend is in use (one line), when it is. */
  reason?: string;
}

/** Options of init(). */
export interface InitOptions {
  /**
   * Browser entry: the URL of the folder that fused_attention.wasm and
   * fused_attention_relaxed.wasm are fetched from (default: the entry's own
   * folder, dist/). Node reads them from the package and ignores it.
   */
  wasmBase?: string | { readonly href: string };
}
