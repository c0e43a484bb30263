/**
 * The typed interface of the compiled addon (native/binding*.cc). Everything
 * passed here has already been validated by lib/validate.ts; the binding only
 * re-checks what protects memory (array kinds, extents vs dims and strides,
 * overflow).
 */
import type { KernelPlan } from './types';

export type NativeIsa = 'avx512' | 'avx2' | 'neon' | 'scalar';

/**
 * Storage of K and V: fp32, or bfloat16 as a Uint16Array of bit patterns (the
 * upper 16 bits of an fp32, e.g. from toBfloat16). The kernel widens bf16
 * exactly (bits << 16) and computes in fp32; only the storage is rounded.
 */
export type NativeKvArray = Float32Array | Uint16Array;

/**
 * One fully resolved attention call. Element (b, h, i, d) of q is read at
 * `b*qStrideB + h*qStrideH + i*qStrideL + d` (the last dim is contiguous);
 * likewise k and v with kv head hk = floor(h / (H / Hkv)), and out. Strides
 * and dims count elements, for k and v in either storage (NativeKvArray); k
 * and v must be of the same kind (else TypeError).
 *
 * Query row i of batch row b sits at key position
 *   pos = i + (rowOffsets ? rowOffsets[b] : alignOffset)
 * and key j is visible to it iff all of:
 *   windowLeft  < 0 or j >= pos - windowLeft
 *   windowRight < 0 or j <= pos + windowRight   (causal: windowRight = 0)
 *   keyLengths  == null or j < keyLengths[b]
 *   keyPadding  == null or keyPadding[b*Lk + j] != 0
 *   boolMask    == null or boolMask[b*boolMaskStrideB + h*boolMaskStrideH + i*boolMaskStrideQ + j*boolMaskStrideK] != 0
 * Score = softcap ? softcap*tanh(s/softcap) : s, s = scale*q·k; then
 *   + mask[b*maskStrideB + h*maskStrideH + i*maskStrideQ + j*maskStrideK]
 *   - alibiSlopes[h] * |pos - j|.
 * A row with no visible key gives zeros in out, -Infinity in lse, zeros in weights.
 * A KV cache whose batch rows hold len_b keys passes keyLengths[b] = len_b and
 * rowOffsets[b] = len_b - Lq: causal is then bottom-right in every row.
 */
export interface NativeAttentionArgs {
  q: Float32Array;
  k: NativeKvArray;
  v: NativeKvArray;
  out: Float32Array;
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv: number;
  qStrideB: number;
  qStrideH: number;
  qStrideL: number;
  kStrideB: number;
  kStrideH: number;
  kStrideL: number;
  vStrideB: number;
  vStrideH: number;
  vStrideL: number;
  oStrideB: number;
  oStrideH: number;
  oStrideL: number;
  /** Additive float mask (natural-log units); null for none. Strides 0 broadcast. */
  mask: Float32Array | null;
  maskStrideB: number;
  maskStrideH: number;
  maskStrideQ: number;
  /** 1: one value per key; 0: one value per row, broadcast over the keys. */
  maskStrideK: number;
  /** Boolean mask, 1 = may attend; null for none. */
  boolMask: Uint8Array | null;
  boolMaskStrideB: number;
  boolMaskStrideH: number;
  boolMaskStrideQ: number;
  /** 1, or 0: the row sees all its keys or none. */
  boolMaskStrideK: number;
  /** [B, Lk], 1 = real token; null for none. */
  keyPadding: Uint8Array | null;
  /** [B], each in [0, Lk]; null for none. */
  keyLengths: Int32Array | null;
  scale: number;
  /** Query i is aligned with key i + alignOffset: Lk - Lq (bottom-right) or 0 (top-left). */
  alignOffset: number;
  /**
   * [B] per-batch-row alignment: query i of row b sits at key i + rowOffsets[b]
   * (replacing alignOffset for the window/causal bounds and ALiBi); absent or
   * null = alignOffset for every row. Length must be B (else RangeError).
   */
  rowOffsets?: Int32Array | null;
  /** Keys before pos - windowLeft are hidden (pos: see above); -1 = unbounded. */
  windowLeft: number;
  /** Keys after pos + windowRight are hidden; -1 = unbounded; causal = 0. */
  windowRight: number;
  /** [H] ALiBi slopes; null for none. */
  alibiSlopes: Float32Array | null;
  /** > 0 enables soft-capping of the scaled scores; 0 = off. */
  softcap: number;
  /** Output [B, H, Lq] contiguous: natural-log log-sum-exp of each row's scores; null = not wanted. */
  lse: Float32Array | null;
  /** Output [B, H, Lq, Lk] contiguous: the softmax weights (slow path); null = not wanted. */
  weights: Float32Array | null;
}

/**
 * One criss-cross attention call (native/criss_cross.h). Element (b, c, y, x)
 * of q is read at `b*qStrideB + c*qStrideC + y*qStrideY + x*qStrideX`; likewise
 * k, v and out. q and k have Cqk channels, v and out Cv.
 *   out[b,:,i,j] = Σ softmax(scale·q[b,:,i,j]·k[b,:,y,x]) v[b,:,y,x]
 * over the H + W - 1 pixels (y, x) of column j and row i (the centre once).
 */
export interface NativeCrissCrossArgs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
  B: number;
  Cqk: number;
  Cv: number;
  H: number;
  W: number;
  qStrideB: number;
  qStrideC: number;
  qStrideY: number;
  qStrideX: number;
  kStrideB: number;
  kStrideC: number;
  kStrideY: number;
  kStrideX: number;
  vStrideB: number;
  vStrideC: number;
  vStrideY: number;
  vStrideX: number;
  oStrideB: number;
  oStrideC: number;
  oStrideY: number;
  oStrideX: number;
  scale: number;
}

export interface NativeInfo {
  /** ISA of the kernels in use. */
  isa: NativeIsa;
  /** ISAs this CPU can run, best first. */
  supportedIsas: NativeIsa[];
  /** Size of the thread pool (including the calling thread). */
  threads: number;
  /**
   * How toBfloat16 converts under the current ISA: 'avx512bf16' (vcvtneps2bf16)
   * when the avx512 kernels are selected and the CPU has AVX512_BF16, else the
   * portable 'integer' path. Both give the same bits.
   */
  bf16Conversion: 'avx512bf16' | 'integer';
  /**
   * Bytes of input copies and output staging held by async calls, process-wide
   * (at most 2 GiB, see attentionAsync); 0 once every call has settled or its
   * environment (worker) has gone.
   */
  pendingBytes: number;
  /**
   * Async calls not yet freed, process-wide: queued, running or awaiting
   * delivery, and those of an exited worker that the dispatcher has not reached yet.
   */
  pendingCalls: number;
}

/**
 * Weights packed by linearPack: an opaque handle to native memory (freed when
 * the handle is garbage-collected; calls in flight keep their own reference).
 * The packed layout is the same for every ISA.
 */
export type NativePackedLinear = { readonly __nativePackedLinear: unique symbol };

/**
 * One nn.Linear call (native/gemm.h): for rows i < rows and features j < outFeatures,
 *   out[outOffset + i*outStride + j] = bias[j] + Σ_k x[i*inFeatures + k] · weight[j*inFeatures + k].
 * Either `packed` (then weight and bias are null; the dims must match it) or
 * `weight` [outFeatures, inFeatures] and an optional `bias` [outFeatures].
 */
export interface NativeLinearArgs {
  x: Float32Array;
  rows: number;
  inFeatures: number;
  outFeatures: number;
  weight: Float32Array | null;
  bias: Float32Array | null;
  packed: NativePackedLinear | null;
  out: Float32Array;
  /** >= outFeatures. */
  outStride: number;
  outOffset: number;
}

export interface NativeLinearPackArgs {
  /** [outFeatures, inFeatures] row-major. */
  weight: Float32Array;
  /** [outFeatures] or null. */
  bias: Float32Array | null;
  inFeatures: number;
  outFeatures: number;
  /** Element type of the packed weights: bfloat16 rounds each weight once, to nearest even (the bias stays float32). */
  dtype: 'float32' | 'bfloat16';
}

/** How a linear call is cut up (tests and benchmarks). */
export interface NativeLinearPlan {
  /** 'tiles': packed weights; 'pack-then-tiles': a one-shot call that packs first; 'rows-dot': few rows, raw weights. */
  path: 'tiles' | 'pack-then-tiles' | 'rows-dot';
  isa: NativeIsa;
  /** Element type of the weights the call reads (raw weights: float32). */
  weights: 'float32' | 'bfloat16';
  /** Rows of the ISA's register tile. */
  tileRows: number;
  blockM: number;
  blockN: number;
  blockK: number;
  threads: number;
  workItems: number;
}

export interface NativeAddon {
  attention(args: NativeAttentionArgs): void;
  /**
   * Runs on the package's own dispatcher thread (never libuv's pool); resolves
   * when `args.out` (and lse/weights) are written. Setting `cancelFlag[0]` to a
   * nonzero value stops the call at the next work-item boundary (or before it
   * starts) and rejects with an Error named 'AbortError'. Rejects with a
   * RangeError when 10,000 calls are already pending process-wide.
   */
  attentionAsync(args: NativeAttentionArgs, cancelFlag?: Int32Array): Promise<void>;
  /**
   * The plan attention(args) would run; the input buffers are checked but not
   * read. out, lse and weights are only checked to be Float32Arrays (or null):
   * empty placeholders say which outputs are wanted without allocating them.
   */
  plan(args: NativeAttentionArgs): KernelPlan;
  info(): NativeInfo;
  setThreads(n: number): void;
  /** Internal (tests, benchmark): force an ISA this CPU supports. */
  setIsa(isa: NativeIsa): void;
  /** Criss-cross attention (lib/vision/criss-cross.ts); writes `args.out`. */
  crissCross(args: NativeCrissCrossArgs): void;
  /**
   * dst[i] = src[i] rounded to bfloat16 bit patterns: round to nearest, ties
   * to even (denormals included), ±Infinity kept, NaN stays NaN (quiet bit
   * set, sign and top payload bits kept). TypeError unless src is a
   * Float32Array and dst a Uint16Array; RangeError unless their lengths match.
   */
  toBfloat16(src: Float32Array, dst: Uint16Array): void;
  /** nn.Linear, synchronous; with raw weights (packed null) or packed ones. */
  linear(args: NativeLinearArgs): void;
  /** Packs weight (and bias) once into the ISA-independent layout of native/gemm.h. */
  linearPack(args: NativeLinearPackArgs): NativePackedLinear;
  /**
   * linear() over packed weights on the dispatcher thread, like attentionAsync
   * (copies of non-shared inputs, the out rows staged and copied back on
   * settle); cancelFlag as there.
   */
  linearAsync(args: NativeLinearArgs, cancelFlag?: Int32Array): Promise<void>;
  /** The plan linear(args) would run; nothing is computed. */
  linearPlan(args: NativeLinearArgs): NativeLinearPlan;
}
