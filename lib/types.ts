/** A dense row-major float32 tensor. `data.length` must equal the product of `shape`. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** Options of {@link attention} and {@link attentionAsync}. */
export interface AttentionOptions {
  /** Multiplier of Q·Kᵀ. Default `1 / sqrt(D)`. Must be finite and > 0. */
  scale?: number;
  /**
   * Causal mask, bottom-right aligned (PyTorch's `causal_lower_right`):
   * query i sees key j iff `j <= i + Lk - Lq`. With `Lq > Lk` the first
   * `Lq - Lk` query rows see no key and produce zeros.
   */
  causal?: boolean;
  /**
   * Additive float32 mask added to the scaled scores, shape `[Lq, Lk]` or any
   * shape broadcastable to `[B, H, Lq, Lk]` (rank 2 to 4; leading dims and the
   * query dim may be 1; the last dim must be Lk). `-Infinity` excludes a key.
   */
  mask?: Tensor | null;
  /** Preallocated output buffer of length `B*H*Lq*Dv`; it is written and returned as `data`. */
  out?: Float32Array;
}

/** Which implementation runs the kernels. */
export interface BackendInfo {
  name: 'native' | 'js';
  isa: 'avx512' | 'avx2' | 'scalar' | 'js';
  threads: number;
  /** Why the JS backend is in use (one line), when it is. */
  reason?: string;
}
