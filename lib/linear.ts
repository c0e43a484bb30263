/**
 * nn.Linear: y = x·Wᵀ + b over the last axis of x, with PyTorch's layout
 * (weight [outFeatures, inFeatures] row-major, bias [outFeatures]).
 * `linear()` is one call; `packLinear()` (or `new PackedLinear()`) packs the
 * weights once for many calls, and its `forward` can write the rows into a
 * wider buffer (outStride, outOffset) — Q, K and V side by side, say.
 */
import { checkSignal, runNative, yieldThenCheck } from './abort';
import { nativeAddon } from './backend';
import { roundedToBfloat16 } from './js/bf16';
import { type LinearCall, linear_forward } from './js/linear';
import type { NativeLinearArgs, NativePackedLinear } from './native';
import type { Tensor } from './types';
import { MAX_ELEMENTS, type StorageDtype, checkDimEqual, checkDisjoint, checkInteger, checkOptionKeys, checkStorageDtype, checkTensor, describe, invalidArgument, isFloat32Array } from './validate';

/** Options of {@link linear}. */
export interface LinearOptions {
  /** Preallocated output of exactly rows*outFeatures floats (sharing no memory with x, weight or bias); written and returned as `data`. */
  out?: Float32Array;
}

/** Element type {@link packLinear} stores the weights in. */
export type LinearWeightsDtype = StorageDtype;

/** Options of {@link packLinear} and the {@link PackedLinear} constructor. */
export interface PackLinearOptions {
  /**
   * 'float32' (default), or 'bfloat16': each weight is rounded once, to
   * nearest even, when packed, and widened exactly when used (the bias and all
   * arithmetic stay float32). Natively the packed weights then take half the
   * memory, and a call with few rows (a decode step), which streams every
   * weight once, reads half the bytes. Results equal float32 weights' up to
   * the rounding of the weights (about 2e-3 relative on N(0,1) data; README,
   * "bfloat16 weights"). The TypeScript kernels (js and wasm backends) keep the
   * rounded weights as float32: same results, no memory saved.
   */
  dtype?: LinearWeightsDtype;
}

/** Options of {@link PackedLinear.forward}. */
export interface LinearForwardOptions {
  /**
   * Output buffer. Without outStride/outOffset it must hold exactly
   * rows*outFeatures floats and is returned as the result's `data`. With
   * them, row r's outFeatures values go to
   * `out[outOffset + r*outStride ... + outFeatures - 1]` and nothing else in
   * `out` is written. It must not share memory with x.
   */
  out?: Float32Array;
  /** Floats from one output row to the next in `out`; an integer >= outFeatures (default outFeatures). */
  outStride?: number;
  /** Index in `out` of row 0's first value; an integer >= 0 (default 0). */
  outOffset?: number;
}

/** Options of {@link PackedLinear.forwardAsync}: those of forward plus an AbortSignal. */
export interface LinearForwardAsyncOptions extends LinearForwardOptions {
  /**
   * Aborts the call: before it starts, the promise rejects with
   * `signal.reason` and nothing runs; while it runs, the promise rejects at
   * once and the native kernel stops at its next work item. An aborted call
   * writes nothing into `out`, not even after its promise rejected (natively
   * the rows are staged and then dropped).
   */
  signal?: AbortSignal;
}

const LINEAR_KEYS = ['out'] as const;
const PACK_KEYS = ['dtype'] as const;
const FORWARD_KEYS = ['out', 'outStride', 'outOffset'] as const;
const FORWARD_ASYNC_KEYS = ['out', 'outStride', 'outOffset', 'signal'] as const;

/** x: a Tensor of rank >= 1 whose last dim is `K` (`kName` says where K comes from); leading dims may be 0 (no rows). */
function checkInput(value: unknown, K: number, kName: string, op: string): Tensor {
  const x = checkTensor(value, 'x', 1, Infinity, op, 0);
  const last = x.shape.length - 1;
  checkDimEqual(`x.shape[${last}]`, x.shape[last], kName, K, op);
  return x;
}

/** weight [outFeatures, inFeatures] and bias [outFeatures] (or null). */
function checkWeights(weight: unknown, bias: unknown, op: string): { weight: Tensor; bias: Tensor | null } {
  const w = checkTensor(weight, 'weight', 2, 2, op);
  if (bias === undefined || bias === null) return { weight: w, bias: null };
  const b = checkTensor(bias, 'bias', 1, 1, op);
  checkDimEqual('bias.shape[0]', b.shape[0], 'weight.shape[0]', w.shape[0], op);
  return { weight: w, bias: b };
}

/** A resolved call plus the result's shape. */
interface Resolved extends LinearCall {
  shape: number[];
}

/**
 * Checks x and the output options of a call with K inputs and N outputs;
 * `inputs` are the arrays `out` must not overlap.
 */
function resolveCall(
  x: unknown,
  K: number,
  kName: string,
  N: number,
  opts: Record<string, unknown>,
  inputs: ReadonlyArray<[string, ArrayBufferView]>,
  op: string,
): Omit<Resolved, 'weight' | 'bias'> {
  const xt = checkInput(x, K, kName, op);
  const M = xt.data.length / K;
  if (M * N > MAX_ELEMENTS) throw invalidArgument(RangeError, `rows*outFeatures to be at most ${MAX_ELEMENTS}`, describe(M * N), op);
  const strided = opts.outStride !== undefined || opts.outOffset !== undefined;
  const outStride = checkInteger(opts.outStride, 'outStride', N, N, op, `outFeatures (${N})`, MAX_ELEMENTS);
  const outOffset = checkInteger(opts.outOffset, 'outOffset', 0, 0, op, '0', MAX_ELEMENTS);
  const denseShape = [...xt.shape.slice(0, -1), N];
  let out: Float32Array;
  if (opts.out === undefined) {
    if (strided) throw invalidArgument(TypeError, 'out to be a Float32Array when outStride or outOffset is given', 'undefined', op);
    out = new Float32Array(M * N);
  } else {
    if (!isFloat32Array(opts.out)) throw invalidArgument(TypeError, 'out to be a Float32Array', describe(opts.out), op);
    out = opts.out;
    if (!strided && out.length !== M * N) {
      throw invalidArgument(RangeError, `out.length to equal rows*outFeatures (${M * N})`, describe(out.length), op);
    }
    const need = M === 0 ? 0 : outOffset + (M - 1) * outStride + N;
    if (strided && out.length < need) {
      throw invalidArgument(RangeError, `out.length to be at least outOffset + (rows - 1)*outStride + outFeatures (${need})`, describe(out.length), op);
    }
    checkDisjoint(out, [['x.data', xt.data], ...inputs], op);
  }
  // A slice of a wider buffer is returned as that whole buffer, flat.
  const dense = outOffset === 0 && outStride === N && out.length === M * N;
  return { x: xt.data, M, K, N, out, outStride, outOffset, shape: dense ? denseShape : [out.length] };
}

function toNativeArgs(r: Omit<Resolved, 'weight' | 'bias'>, weight: Float32Array | null, bias: Float32Array | null, packed: NativePackedLinear | null): NativeLinearArgs {
  return {
    x: r.x,
    rows: r.M,
    inFeatures: r.K,
    outFeatures: r.N,
    weight,
    bias,
    packed,
    out: r.out,
    outStride: r.outStride,
    outOffset: r.outOffset,
  };
}

/**
 * y = x·weightᵀ + bias over the last axis: x [..., inFeatures] (rank >= 1),
 * weight [outFeatures, inFeatures], bias [outFeatures] or null → y
 * [..., outFeatures]. Natively, up to 512 rows read the weights as they are;
 * more rows pack them for this call first. Use {@link packLinear} to pack once
 * for many calls.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: LinearOptions): Tensor {
  const op = 'linear';
  const w = checkWeights(weight, bias, op);
  const [N, K] = w.weight.shape;
  const opts = checkOptionKeys(options, LINEAR_KEYS, op);
  const inputs: Array<[string, ArrayBufferView]> = [['weight.data', w.weight.data]];
  if (w.bias) inputs.push(['bias.data', w.bias.data]);
  const r = resolveCall(x, K, `weight.shape[1]`, N, opts, inputs, op);
  const biasData = w.bias ? w.bias.data : null;
  const addon = nativeAddon();
  // No rows (a 0 in x's leading dims, as PyTorch allows): an empty result, and no kernel (it takes rows >= 1).
  if (r.M === 0) return { data: r.out, shape: r.shape };
  if (addon !== null) addon.linear(toNativeArgs(r, w.weight.data, biasData, null));
  else linear_forward({ ...r, weight: w.weight.data, bias: biasData });
  return { data: r.out, shape: r.shape };
}

/**
 * nn.Linear weights packed once for many calls: natively into an
 * ISA-independent layout in native memory (released when this object is
 * garbage-collected; valid across setIsa changes), or, with the JS backend,
 * as private copies. Later changes to the arrays passed in do not affect it.
 */
export class PackedLinear {
  /** Last dim of x. */
  readonly inFeatures: number;
  /** Last dim of the result. */
  readonly outFeatures: number;
  /** Whether a bias is added. */
  readonly hasBias: boolean;
  /** Element type the weights are stored in (see {@link PackLinearOptions}). */
  readonly dtype: LinearWeightsDtype;
  readonly #packed: NativePackedLinear | null;
  readonly #weight: Float32Array | null;
  readonly #bias: Float32Array | null;

  /** Same as {@link packLinear}(weight, bias, options). */
  constructor(weight: Tensor, bias?: Tensor | null, options?: PackLinearOptions) {
    const op = 'packLinear';
    const w = checkWeights(weight, bias, op);
    const opts = checkOptionKeys(options, PACK_KEYS, op);
    const dtype = checkStorageDtype(opts.dtype, 'options.dtype', op);
    const [N, K] = w.weight.shape;
    this.inFeatures = K;
    this.outFeatures = N;
    this.hasBias = w.bias !== null;
    this.dtype = dtype;
    const addon = nativeAddon();
    if (addon !== null) {
      this.#packed = addon.linearPack({ weight: w.weight.data, bias: w.bias ? w.bias.data : null, inFeatures: K, outFeatures: N, dtype });
      this.#weight = null;
      this.#bias = null;
    } else {
      this.#packed = null;
      this.#weight = dtype === 'bfloat16' ? roundedToBfloat16(w.weight.data) : w.weight.data.slice();
      this.#bias = w.bias ? w.bias.data.slice() : null;
    }
  }

  #resolve(x: unknown, options: unknown, keys: readonly string[], op: string): { r: Omit<Resolved, 'weight' | 'bias'>; signal: AbortSignal | null } {
    const opts = checkOptionKeys(options, keys, op);
    const signal = checkSignal(opts.signal, op);
    const r = resolveCall(x, this.inFeatures, 'inFeatures', this.outFeatures, opts, [], op);
    return { r, signal };
  }

  #run(r: Omit<Resolved, 'weight' | 'bias'>): void {
    if (r.M === 0) return; // no rows: nothing to write (the kernels take rows >= 1)
    const addon = nativeAddon();
    if (this.#packed !== null && addon !== null) addon.linear(toNativeArgs(r, null, null, this.#packed));
    else linear_forward({ ...r, weight: this.#weight as Float32Array, bias: this.#bias });
  }

  /**
   * y = x·weightᵀ + bias: x [..., inFeatures] (rank >= 1) → [..., outFeatures].
   * With outStride/outOffset the rows go into a slice of `out`, and the
   * result is `out` itself as a flat tensor [out.length].
   */
  forward(x: Tensor, options?: LinearForwardOptions): Tensor {
    const { r } = this.#resolve(x, options, FORWARD_KEYS, 'PackedLinear.forward');
    this.#run(r);
    return { data: r.out, shape: r.shape };
  }

  /**
   * Like {@link forward}, off the event loop: natively on the package's
   * dispatcher thread (queued with attentionAsync calls, never on libuv's
   * pool), with the same bits as forward. x is copied when the call starts;
   * the rows are written into `out` when the promise resolves (only those
   * rows: other columns of a wider buffer may be written meanwhile). Bad
   * arguments reject the promise.
   */
  async forwardAsync(x: Tensor, options?: LinearForwardAsyncOptions): Promise<Tensor> {
    const { r, signal } = this.#resolve(x, options, FORWARD_ASYNC_KEYS, 'PackedLinear.forwardAsync');
    signal?.throwIfAborted();
    const addon = nativeAddon();
    if (this.#packed !== null && addon !== null && r.M > 0) {
      const packed = this.#packed;
      await runNative((flag) => addon.linearAsync(toNativeArgs(r, null, null, packed), flag), signal);
    } else {
      // Read x now, as the native path does.
      const snapshot = { ...r, x: r.x.slice() };
      await yieldThenCheck(signal);
      this.#run(snapshot);
    }
    return { data: r.out, shape: r.shape };
  }
}

/**
 * Packs weight [outFeatures, inFeatures] and bias [outFeatures] (or null) once,
 * as float32 or (options.dtype) bfloat16: see {@link PackedLinear}.
 */
export function packLinear(weight: Tensor, bias?: Tensor | null, options?: PackLinearOptions): PackedLinear {
  return new PackedLinear(weight, bias, options);
}

