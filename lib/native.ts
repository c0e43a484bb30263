/**
 * The typed interface of the compiled addon (native/binding.cc). Everything
 * passed here has already been validated by lib/validate.ts; the binding only
 * re-checks what protects memory (array kinds, lengths vs dims, overflow).
 */

export type NativeIsa = 'avx512' | 'avx2' | 'scalar';

/** One fully resolved attention call. Tensors are in [B, H, L, D] layout. */
export interface NativeAttentionArgs {
  q: Float32Array; // [B, H, Lq, D]
  k: Float32Array; // [B, Hkv, Lk, D]
  v: Float32Array; // [B, Hkv, Lk, Dv]
  out: Float32Array; // [B, H, Lq, Dv]
  /** Additive mask, last dim contiguous of length Lk; null for none. */
  mask: Float32Array | null;
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv: number;
  /** Element strides of the mask over b, h and the query row (0 = broadcast). */
  maskStrideB: number;
  maskStrideH: number;
  maskStrideQ: number;
  scale: number;
  causal: boolean;
}

export interface NativeInfo {
  /** ISA of the kernels in use. */
  isa: NativeIsa;
  /** ISAs this CPU can run, best first. */
  supportedIsas: NativeIsa[];
  /** Size of the thread pool (including the calling thread). */
  threads: number;
}

export interface NativeAddon {
  attention(args: NativeAttentionArgs): void;
  /** Runs off the event loop; resolves when `args.out` is written. */
  attentionAsync(args: NativeAttentionArgs): Promise<void>;
  info(): NativeInfo;
  setThreads(n: number): void;
  /** Internal (tests, benchmark): force an ISA this CPU supports. */
  setIsa(isa: NativeIsa): void;
}
