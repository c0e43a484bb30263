/**
 * The public entry points. Each resolves and checks every argument first,
 * then runs (or, for explain, plans) on the backend chosen once by backend.ts.
 */
import { checkSignal, runNative, yieldThenCheck } from './abort';
import { nativeAddon, wasmKernels } from './backend';
import { attention_forward, plan_attention } from './js/attention';
import { KvCache, asKvCache } from './kv-cache';
import { resolveAttention, type ResolvedAttention } from './options';
import type { AttentionOptions, AttentionPlan, AttentionResult, Tensor } from './types';
import { checkDimEqual, describe, invalidArgument, isRecord } from './validate';

/** The output tensor, plus lse and weights when they were asked for. */
function toResult(r: ResolvedAttention): AttentionResult {
  const result: AttentionResult = { data: r.out, shape: r.outShape };
  if (r.lse !== null) result.lse = { data: r.lse, shape: r.lseShape };
  if (r.weights !== null) result.weights = { data: r.weights, shape: r.weightsShape };
  return result;
}

/** Options that ask for both extras, one of them, or neither: picks attention()'s precise return type. */
type WithLse = AttentionOptions & { returnLse: true };
type WithWeights = AttentionOptions & { returnWeights: true };
type OutputOnly = AttentionOptions & { returnLse?: false; returnWeights?: false };

/**
 * out = softmax(cap(q·kᵀ·scale) + mask - alibi) · v over the visible keys,
 * computed without materialising the Lq×Lk score matrix. With layout
 * 'bhld' (default): q [B,H,Lq,D], k [B,Hkv,Lk,D], v [B,Hkv,Lk,Dv] → out
 * [B,H,Lq,Dv]; with 'blhd' the L and H axes swap in all four. Rank-3 inputs
 * drop B. Returns the output tensor; with `returnLse` / `returnWeights` the
 * same tensor also carries `lse` [B,H,Lq] / `weights` [B,H,Lq,Lk].
 */
export function attention(q: Tensor, cache: KvCache, options: CachedAttentionOptions & WithLse): AttentionResult & { lse: Tensor };
export function attention(q: Tensor, cache: KvCache, options?: CachedAttentionOptions): AttentionResult;
export function attention(q: Tensor, k: Tensor, v: Tensor, options: WithLse & WithWeights): AttentionResult & { lse: Tensor; weights: Tensor };
export function attention(q: Tensor, k: Tensor, v: Tensor, options: WithLse): AttentionResult & { lse: Tensor };
export function attention(q: Tensor, k: Tensor, v: Tensor, options: WithWeights): AttentionResult & { weights: Tensor };
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: OutputOnly): Tensor;
export function attention(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): AttentionResult;
export function attention(q: Tensor, k: Tensor | KvCache, v?: Tensor | CachedAttentionOptions, options?: AttentionOptions): AttentionResult {
  const r = resolveCall(q, k, v, options);
  const call = kernelCall(r);
  const addon = nativeAddon();
  if (call !== null && addon !== null) addon.attention(call);
  else if (call !== null) runOnCallingThread(call, k);
  return toResult(r);
}

/**
 * The wasm or JS backend: the WebAssembly kernel when it is loaded, else (or
 * when the call does not fit the module's 4 GiB memory) the TypeScript one.
 */
function runOnCallingThread(call: ResolvedAttention, source: unknown): void {
  const wasm = wasmKernels();
  if (wasm === null || !wasm.attention(call, ownCache(source))) attention_forward(forJs(call, source));
}

/**
 * The cache that a call's k and v come from, when this copy of the package
 * made it (the wasm backend then keeps it resident, which needs
 * KvCache.stableRows: other copies' caches are copied per call).
 */
function ownCache(source: unknown): KvCache | null {
  return source instanceof KvCache ? source : null;
}

/**
 * What is left for a kernel once zero-size dims are settled here (PyTorch
 * returns empty tensors for them; the kernels take dims >= 1): null when B, H
 * or Lq is 0 (every output is empty) or Lk is 0 (every row sees no key: out
 * zeros, lse -Infinity, as for any fully hidden row). With Dv = 0 the output
 * is empty but lse and weights are not: the kernel then reads one zero value
 * column at stride 0 and writes a scratch out of B*H*Lq floats (not for a
 * plan, which writes nothing).
 */
function kernelCall(r: ResolvedAttention, planOnly = false): ResolvedAttention | null {
  const { B, H, Lq } = r;
  if (B * H * Lq === 0) return null;
  if (r.Lk === 0) {
    if (!planOnly) {
      r.out.fill(0);
      r.lse?.fill(-Infinity);
    }
    return null;
  }
  if (r.Dv > 0) return r;
  if (r.lse === null && r.weights === null) return null;
  const zeroValue = r.v instanceof Uint16Array ? new Uint16Array(1) : new Float32Array(1);
  return {
    ...r,
    Dv: 1,
    v: zeroValue,
    vStrideB: 0,
    vStrideH: 0,
    vStrideL: 0,
    out: planOnly ? r.out : new Float32Array(B * H * Lq),
    oStrideB: H * Lq,
    oStrideH: Lq,
    oStrideL: 1,
  };
}

/**
 * Options of attention(q, cache, options): those of attention() except
 * keyLengths (the cache's lengths are used), `causal: 'top-left'` and
 * returnWeights; masks and keyPadding span the cache's maxLength keys.
 */
export type CachedAttentionOptions = Omit<AttentionOptions, 'keyLengths' | 'causal' | 'returnWeights'> & {
  /** Query t of row b sees keys j <= queryStart[b] + t (with the window, if any). */
  causal?: boolean;
  /**
   * Key position of each row's first query; default `lengths[b] - Lq` (the
   * queries are the last Lq positions stored in each row, the usual decoding step).
   */
  queryStart?: Int32Array;
};

/** Resolves either form: (q, k, v, options) or (q, cache, options); allocateOutputs as for resolveAttention. */
function resolveCall(q: Tensor, k: unknown, v: unknown, options: unknown, allocateOutputs = true): ResolvedAttention {
  const cache = asKvCache(k, 'attention');
  if (cache === null) return resolveAttention(q, k, v, options, null, allocateOutputs);
  const { queryStart, rest } = splitQueryStart(v, cache);
  if (isRecord(rest) && rest.returnWeights === true) {
    throw invalidArgument(TypeError, 'no returnWeights with a KvCache', 'true');
  }
  return resolveAttention(q, null, null, rest, cache.view(queryStart), allocateOutputs);
}

/** Splits the cache-only option queryStart off (attention()'s own checks do not know it). */
function splitQueryStart(options: unknown, cache: KvCache): { queryStart: Int32Array | undefined; rest: unknown } {
  if (!isRecord(options) || !('queryStart' in options)) return { queryStart: undefined, rest: options };
  const { queryStart, ...rest } = options;
  if (queryStart === undefined) return { queryStart: undefined, rest };
  if (!(queryStart instanceof Int32Array)) throw invalidArgument(TypeError, 'queryStart to be an Int32Array', describe(queryStart));
  checkDimEqual('queryStart.length', queryStart.length, 'cache.batch', cache.batch);
  for (let b = 0; b < queryStart.length; b++) {
    if (queryStart[b] < 0 || queryStart[b] > cache.maxLength) {
      throw invalidArgument(RangeError, `queryStart[${b}] to be an integer from 0 to cache.maxLength (${cache.maxLength})`, describe(queryStart[b]));
    }
  }
  return { queryStart, rest };
}

/** The JS kernel reads float32 K/V: widen a bfloat16 cache first (a cache's Dv is never 0, see kernelCall). */
function forJs(r: ResolvedAttention, source: unknown): ResolvedAttention {
  const cache = asKvCache(source, 'attention');
  if (cache === null || cache.dtype === 'float32') return r;
  const { k, v } = cache.widened();
  return { ...r, k, v };
}

/** Options of {@link attentionAsync}: those of attention() plus an AbortSignal. */
export type AsyncAttentionOptions = AttentionOptions & {
  /**
   * Aborts the call: before it starts, the promise rejects with
   * `signal.reason` (an `AbortError` by default) and nothing runs; while it
   * runs, the promise rejects at once and the native kernel stops at its next
   * work-item boundary. An aborted call writes nothing into `out`, `lse` or
   * `weights`, not even after its promise rejected (the native kernel writes
   * staged copies, which are dropped).
   */
  signal?: AbortSignal;
};

/** Splits `signal` off the options (attention() itself does not take it). */
function splitSignal(options: unknown): { signal: AbortSignal | null; rest: unknown } {
  if (!isRecord(options) || !('signal' in options)) return { signal: null, rest: options };
  const { signal, ...rest } = options;
  return { signal: checkSignal(signal, 'attention'), rest };
}

/**
 * Like {@link attention}, off the event loop: with the native backend the
 * kernel runs on the package's own dispatcher thread (never libuv's pool, which
 * Node needs for fs, dns and crypto) and its thread pool; calls are queued in
 * order, at most 10,000 pending process-wide (more reject with a RangeError).
 * With the WebAssembly backend, calls above ~10 MFLOP run on one worker
 * thread, in order; smaller ones, and every call on the JS backend, run on
 * the calling thread after one turn of the event loop.
 * Resolves to the same shapes as attention(). Bad arguments reject the
 * promise. The inputs must not change until it settles.
 */
export function attentionAsync(q: Tensor, cache: KvCache, options: CachedAttentionOptions & { signal?: AbortSignal } & WithLse): Promise<AttentionResult & { lse: Tensor }>;
export function attentionAsync(q: Tensor, cache: KvCache, options?: CachedAttentionOptions & { signal?: AbortSignal }): Promise<AttentionResult>;
export function attentionAsync(q: Tensor, k: Tensor, v: Tensor, options: AsyncAttentionOptions & WithLse & WithWeights): Promise<AttentionResult & { lse: Tensor; weights: Tensor }>;
export function attentionAsync(q: Tensor, k: Tensor, v: Tensor, options: AsyncAttentionOptions & WithLse): Promise<AttentionResult & { lse: Tensor }>;
export function attentionAsync(q: Tensor, k: Tensor, v: Tensor, options: AsyncAttentionOptions & WithWeights): Promise<AttentionResult & { weights: Tensor }>;
export function attentionAsync(q: Tensor, k: Tensor, v: Tensor, options?: AsyncAttentionOptions & OutputOnly): Promise<Tensor>;
export function attentionAsync(q: Tensor, k: Tensor, v: Tensor, options?: AsyncAttentionOptions): Promise<AttentionResult>;
export async function attentionAsync(q: Tensor, k: Tensor | KvCache, v?: Tensor | (CachedAttentionOptions & { signal?: AbortSignal }), options?: AsyncAttentionOptions): Promise<AttentionResult> {
  // Inside an async function, so a throw here becomes a rejection.
  const cache = asKvCache(k, 'attention');
  const { signal, rest } = splitSignal(cache !== null ? v : options);
  const r = cache !== null ? resolveCall(q, cache, rest, undefined) : resolveCall(q, k, v, rest);
  signal?.throwIfAborted();
  const run = runAsync(r, k, signal);
  await (cache !== null ? cache.reading(run) : run);
  return toResult(r);
}

async function runAsync(r: ResolvedAttention, source: unknown, signal: AbortSignal | null): Promise<void> {
  const addon = nativeAddon();
  const wasm = wasmKernels();
  const call = kernelCall(r);
  if (addon !== null && call !== null) {
    await runNative((flag) => addon.attentionAsync(call, flag), signal);
    return;
  }
  // Long wasm calls run on the module's worker thread; one that does not fit its memory runs the TS kernel below.
  if (wasm !== null && call !== null && wasm.offThread(call) && (await wasm.attentionAsync(call, signal, ownCache(source)))) return;
  await yieldThenCheck(signal);
  if (call !== null) runOnCallingThread(call, source);
}

/**
 * What attention(q, k, v, options) would do, without computing it: backend,
 * ISA, kernel path, block sizes, threads, work items and scratch bytes. The
 * arguments are checked exactly as attention() checks them; no input is read,
 * nothing is written, and nothing the size of the problem is allocated. A call
 * with nothing to compute (a zero-size dim) reports 0 threads, work items and
 * scratch bytes.
 */
export function explain(q: Tensor, cache: KvCache, options?: CachedAttentionOptions): AttentionPlan;
export function explain(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): AttentionPlan;
export function explain(q: Tensor, k: Tensor | KvCache, v?: Tensor | CachedAttentionOptions, options?: AttentionOptions): AttentionPlan {
  const r = kernelCall(resolveCall(q, k, v, options, false), true);
  const addon = nativeAddon();
  const wasm = wasmKernels();
  const isa: AttentionPlan['isa'] = addon !== null ? addon.info().isa : wasm !== null ? wasm.isa : 'js';
  const plan =
    r === null
      ? { isa, path: addon !== null || wasm !== null ? ('tiled' as const) : ('reference' as const), blockQ: 0, blockK: 0, threads: 0, workItems: 0, scratchBytes: 0 }
      : addon !== null
        ? addon.plan(r)
        : wasm !== null
          ? wasm.plan(r)
          : plan_attention(r);
  return {
    backend: addon !== null ? 'native' : wasm !== null ? 'wasm' : 'js',
    isa: plan.isa,
    path: plan.path,
    blockQ: plan.blockQ,
    blockK: plan.blockK,
    threads: plan.threads,
    workItems: plan.workItems,
    scratchBytes: plan.scratchBytes,
  };
}
