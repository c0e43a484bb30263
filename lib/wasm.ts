/**
 * The WebAssembly backend: dist/fused_attention.wasm, or
 * dist/fused_attention_relaxed.wasm where the engine has relaxed SIMD
 * (scripts/build-wasm.js), the native fused kernel compiled for wasm32 SIMD128
 * behind the C ABI of native/wasm_entry.cpp. One thread for the kernel (long
 * async calls on a worker, wasm-worker.ts); the module imports nothing and owns one
 * WebAssembly.Memory that grows as calls need it (and never shrinks: its
 * high-water mark stays reserved, like the native scratch buffers).
 *
 * Each call copies its inputs into that memory, runs, and copies the outputs
 * back: the kernel cannot read a JS typed array in place. A KvCache's keys
 * and values are the exception: they stay resident in the memory between
 * calls (wasm-kv.ts), so a decoding step copies only the rows appended since
 * the previous one.
 */
import { raceAbort } from './abort';
import type { KvCache } from './kv-cache';
import type { NativeAttentionArgs } from './native';
import type { KernelPlan } from './types';
import { KV_MIRROR_BUDGET, KvMirrors, type ResidentKv } from './wasm-kv';
import { runLaidOutCall } from './wasm-call';
import { WasmWorker } from './wasm-worker';

/** The fields of fa_args(), in the order of FA_ARGS in native/wasm_entry.cpp. */
const ARG_NAMES = [
  'B', 'H', 'Hkv', 'Lq', 'Lk', 'D', 'Dv', 'kvType',
  'q', 'qLength', 'qStrideB', 'qStrideH', 'qStrideL',
  'k', 'kLength', 'kStrideB', 'kStrideH', 'kStrideL',
  'v', 'vLength', 'vStrideB', 'vStrideH', 'vStrideL',
  'out', 'outLength', 'oStrideB', 'oStrideH', 'oStrideL',
  'mask', 'maskLength', 'maskStrideB', 'maskStrideH', 'maskStrideQ', 'maskStrideK',
  'boolMask', 'boolMaskLength', 'boolMaskStrideB', 'boolMaskStrideH', 'boolMaskStrideQ', 'boolMaskStrideK',
  'keyPadding', 'keyPaddingLength', 'keyLengths', 'keyLengthsLength', 'rowOffsets', 'rowOffsetsLength',
  'alibiSlopes', 'alibiSlopesLength', 'lse', 'lseLength', 'weights', 'weightsLength',
  'scale', 'alignOffset', 'windowLeft', 'windowRight', 'softcap',
] as const;
type ArgName = (typeof ARG_NAMES)[number];
const ARG_INDEX = Object.fromEntries(ARG_NAMES.map((name, i) => [name, i])) as Record<ArgName, number>;

/**
 * The part of the WebAssembly JS API used here. Typed locally: this
 * package's types are ES2022 + Node, which (in @types/node 20) leave
 * WebAssembly out, and a global declaration would clash with a consumer's DOM lib.
 */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<object>;
}
/** Undefined where the engine has no WebAssembly (iOS Lockdown Mode, V8 run with --jitless): see simdSupport(). */
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The module's exports (native/wasm_entry.cpp). */
export interface WasmExports {
  /** Its one WebAssembly.Memory: `buffer` is replaced whenever the memory grows. */
  memory: { readonly buffer: ArrayBuffer };
  _initialize(): void;
  fa_alloc(bytes: number): number;
  fa_free(ptr: number): void;
  fa_args(): number;
  fa_arg_count(): number;
  fa_plan(): number;
  fa_error(): number;
  fa_isa(): number;
  fa_attention(): number;
  fa_attention_plan(): number;
}

type Buffer = Float32Array | Uint16Array | Uint8Array | Int32Array;

/** One typed array of a call: where its pointer goes, how many elements the kernel may touch, whether it writes them. */
interface Operand {
  name: 'q' | 'k' | 'v' | 'out' | 'mask' | 'boolMask' | 'keyPadding' | 'keyLengths' | 'rowOffsets' | 'alibiSlopes' | 'lse' | 'weights';
  array: Buffer;
  /** Elements from the start of `array` that the call reads or writes. */
  length: number;
  output: boolean;
  /** Output whose elements the kernel may not all write (strides with gaps): copied in first. */
  copyIn: boolean;
}

/** 1 + the largest element index Σ (dim - 1) · stride (every dim >= 1). */
function extent(dimStrides: ReadonlyArray<readonly [number, number]>): number {
  let last = 0;
  for (const [dim, stride] of dimStrides) last += (dim - 1) * stride;
  return last + 1;
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

/** Every typed array of `a`, with the part of it the call touches. */
function operands(a: NativeAttentionArgs): Operand[] {
  const { B, H, Hkv, Lq, Lk, D, Dv } = a;
  const list: Operand[] = [];
  const add = (name: Operand['name'], array: Buffer | null | undefined, need: number, output = false, copyIn = false): void => {
    if (array === null || array === undefined) return;
    // Never past the array's end: an extent beyond it (args that skipped lib/'s checks) is then the module's guard to report.
    const length = Number.isFinite(need) ? Math.max(0, Math.min(Math.ceil(need), array.length)) : array.length;
    list.push({ name, array, length, output, copyIn });
  };
  add('q', a.q, extent([[B, a.qStrideB], [H, a.qStrideH], [Lq, a.qStrideL], [D, 1]]));
  add('k', a.k, extent([[B, a.kStrideB], [Hkv, a.kStrideH], [Lk, a.kStrideL], [D, 1]]));
  add('v', a.v, extent([[B, a.vStrideB], [Hkv, a.vStrideH], [Lk, a.vStrideL], [Dv, 1]]));
  const outLength = extent([[B, a.oStrideB], [H, a.oStrideH], [Lq, a.oStrideL], [Dv, 1]]);
  add('out', a.out, outLength, true, outLength !== B * H * Lq * Dv);
  add('mask', a.mask, extent([[B, a.maskStrideB], [H, a.maskStrideH], [Lq, a.maskStrideQ], [Lk, a.maskStrideK]]));
  add('boolMask', a.boolMask, extent([[B, a.boolMaskStrideB], [H, a.boolMaskStrideH], [Lq, a.boolMaskStrideQ], [Lk, a.boolMaskStrideK]]));
  add('keyPadding', a.keyPadding, B * Lk);
  add('keyLengths', a.keyLengths, B);
  add('rowOffsets', a.rowOffsets, B);
  add('alibiSlopes', a.alibiSlopes, H);
  add('lse', a.lse, B * H * Lq, true);
  add('weights', a.weights, B * H * Lq * Lk, true);
  return list;
}

/** The scalar fields of fa_args() (buffers are added by the caller). */
function scalarArgs(a: NativeAttentionArgs): Partial<Record<ArgName, number>> {
  return {
    B: a.B, H: a.H, Hkv: a.Hkv, Lq: a.Lq, Lk: a.Lk, D: a.D, Dv: a.Dv,
    kvType: a.k instanceof Uint16Array ? 1 : 0,
    qStrideB: a.qStrideB, qStrideH: a.qStrideH, qStrideL: a.qStrideL,
    kStrideB: a.kStrideB, kStrideH: a.kStrideH, kStrideL: a.kStrideL,
    vStrideB: a.vStrideB, vStrideH: a.vStrideH, vStrideL: a.vStrideL,
    oStrideB: a.oStrideB, oStrideH: a.oStrideH, oStrideL: a.oStrideL,
    maskStrideB: a.maskStrideB, maskStrideH: a.maskStrideH, maskStrideQ: a.maskStrideQ, maskStrideK: a.maskStrideK,
    boolMaskStrideB: a.boolMaskStrideB, boolMaskStrideH: a.boolMaskStrideH, boolMaskStrideQ: a.boolMaskStrideQ, boolMaskStrideK: a.boolMaskStrideK,
    scale: a.scale, alignOffset: a.alignOffset, windowLeft: a.windowLeft, windowRight: a.windowRight, softcap: a.softcap,
  };
}

/** Bytes of `array`'s first `length` elements, as a view on its own buffer. */
function bytesOf(array: Buffer, length: number): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, length * array.BYTES_PER_ELEMENT);
}

/**
 * One call laid out for the module: one block of `bytes` holds every array at
 * its offset, and fa_args() holds each array's pointer as an offset into the
 * block (the module's pointer is block + offset). Plain data: it also crosses
 * to the worker (wasm-worker.ts), which runs it the same way as execute() (runLaidOutCall).
 */
export interface WasmCall {
  bytes: number;
  args: Float64Array;
  /** Entries of `args` that hold an offset into the block. */
  pointerSlots: number[];
  /** With k and v resident (left out of the block): the entries of `args` for k, kLength, v and vLength, which execute() fills. */
  residentSlots: [number, number, number, number] | null;
  /** Bytes copied into the block before the call (views of the caller's arrays). */
  inputs: Array<{ offset: number; data: Uint8Array }>;
  /** What the call writes: where in the block, and the caller's array it goes to (same length). */
  outputs: Array<{ offset: number; data: Uint8Array }>;
}

/** Lays out attention(a) for the module (see WasmCall); with `residentKv`, k and v are left to execute(). */
function layout(a: NativeAttentionArgs, residentKv = false): WasmCall {
  const args = new Float64Array(ARG_NAMES.length);
  for (const [name, value] of Object.entries(scalarArgs(a))) args[ARG_INDEX[name as ArgName]] = value;
  const residentSlots = residentKv ? ([ARG_INDEX.k, ARG_INDEX.kLength, ARG_INDEX.v, ARG_INDEX.vLength] as [number, number, number, number]) : null;
  const call: WasmCall = { bytes: 0, args, pointerSlots: [], residentSlots, inputs: [], outputs: [] };
  for (const op of operands(a)) {
    if (residentKv && (op.name === 'k' || op.name === 'v')) continue;
    const offset = call.bytes;
    const data = bytesOf(op.array, op.length);
    call.bytes += align64(data.length);
    args[ARG_INDEX[op.name]] = offset;
    args[ARG_INDEX[`${op.name}Length` as ArgName]] = op.length;
    call.pointerSlots.push(ARG_INDEX[op.name]);
    if (!op.output || op.copyIn) call.inputs.push({ offset, data });
    if (op.output) call.outputs.push({ offset, data });
  }
  return call;
}

/** The NUL-terminated string at `ptr` in the module's memory. */
function readString(e: WasmExports, ptr: number): string {
  const memory = new Uint8Array(e.memory.buffer);
  let end = ptr;
  while (memory[end] !== 0) end++;
  return new TextDecoder().decode(memory.subarray(ptr, end));
}

/** fa_error() as an Error. */
function moduleError(e: WasmExports): Error {
  return new Error(readString(e, e.fa_error()));
}

/** Whether this engine can compile `bytes` (the relaxed-SIMD build needs V8 11.4+ or another engine with relaxed SIMD). */
export function canCompile(bytes: Uint8Array): boolean {
  return webAssembly.validate(bytes);
}

/** A function () -> v128 returning i8x16.popcnt(i8x16.splat(0)): valid where the engine has SIMD128. */
const SIMD128_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
/** A function () -> v128 returning i8x16.relaxed_swizzle(splat(1), splat(2)): valid where the engine has relaxed SIMD. */
const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);

/**
 * The best build this engine runs, or null when it has no WebAssembly SIMD
 * (or no WebAssembly): asked with two tiny modules, so the browser entry
 * downloads only the build it will use (Node validates the build itself).
 */
export function simdSupport(): WasmIsa | null {
  if (typeof webAssembly !== 'object' || !canCompile(SIMD128_PROBE)) return null;
  return canCompile(RELAXED_SIMD_PROBE) ? 'relaxed-simd' : 'simd128';
}

/** The instruction set of a module's kernel build (fa_isa()). */
export type WasmIsa = 'simd128' | 'relaxed-simd';

/** Runs a laid-out call (runLaidOutCall); false when the memory cannot grow to hold it. */
function execute(e: WasmExports, call: Omit<WasmCall, 'outputs'>, resident: ResidentKv | null, deliver: (memory: Uint8Array, block: number) => void): boolean {
  const result = runLaidOutCall(e, call, resident, (memory, block) => {
    deliver(memory, block);
    return 'done' as const;
  });
  if (result === 'error') throw moduleError(e);
  return result === 'done';
}

/** Calls below this many FLOPs run attentionAsync on the calling thread (after one yield): a worker round trip costs more. */
const WORKER_MIN_FLOPS = 1e7;

/** A module compiled off the main thread (browsers refuse to compile a big one synchronously there). */
export class CompiledModule {
  private constructor(readonly module: object) {}

  static async compile(bytes: Uint8Array): Promise<CompiledModule> {
    return new CompiledModule(await webAssembly.compile(bytes));
  }
}

/** The loaded module: attention and its plan over copies of the call's arrays (a KvCache's kept resident). */
export class WasmKernels {
  readonly #module: object;
  readonly #exports: WasmExports;
  #worker: WasmWorker | null = null;
  readonly #mirrors: KvMirrors;
  /** Bytes of call inputs copied into this thread's module. */
  #copiedInputs = 0;
  /**
   * Whether KvCaches stay resident in the module's memory (wasm-kv.ts); false
   * copies them whole per call, as plain arrays are (tests, and
   * scripts/wasm-kv-decode.js comparing the two).
   */
  residentKv = true;
  /** The build loaded: plain SIMD128, or with relaxed-SIMD fused multiply-adds. */
  readonly isa: WasmIsa;

  /**
   * Instantiates the module synchronously (attention() is synchronous), compiling
   * it first when given its bytes; throws when it is not ours.
   */
  constructor(source: Uint8Array | CompiledModule) {
    this.#module = source instanceof CompiledModule ? source.module : new webAssembly.Module(source);
    const exports = new webAssembly.Instance(this.#module, {}).exports as unknown as WasmExports;
    for (const name of ['fa_alloc', 'fa_attention', 'fa_attention_plan', 'fa_args', 'fa_arg_count', 'fa_isa'] as const) {
      if (typeof exports[name] !== 'function') throw new Error(`the WebAssembly module does not export ${name}()`);
    }
    if (exports.fa_arg_count() !== ARG_NAMES.length) {
      throw new Error(`the WebAssembly module takes ${exports.fa_arg_count()} arguments, lib/wasm.ts passes ${ARG_NAMES.length}: rebuild it (npm run build:wasm)`);
    }
    exports._initialize();
    this.#exports = exports;
    this.#mirrors = new KvMirrors(exports);
    const isa = readString(exports, exports.fa_isa());
    if (isa !== 'simd128' && isa !== 'relaxed-simd') throw new Error(`the WebAssembly module's kernel is built for ${isa}`);
    this.isa = isa;
  }

  /** Bytes of the module's memory on this thread now (its high-water mark). */
  get memoryBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  /**
   * Runs attention(args) (args checked by lib/ already; the module re-checks
   * only what keeps it inside its memory). Returns false, having written
   * nothing, when the module's memory cannot hold the call (wasm32: 4 GiB at
   * most): the caller then runs the TypeScript kernel. With `cache` (the
   * KvCache whose buffers a.k and a.v are), k and v are read from its
   * resident copy, synced first; without one that can be had, copied.
   */
  attention(a: NativeAttentionArgs, cache: KvCache | null = null): boolean {
    const resident = cache !== null && this.residentKv ? this.#mirrors.resident(cache, a.k, a.v, a.keyLengths) : null;
    const call = layout(a, resident !== null);
    const deliver = (memory: Uint8Array, block: number): void => {
      for (const output of call.outputs) output.data.set(memory.subarray(block + output.offset, block + output.offset + output.data.length));
    };
    const run = (): boolean => {
      for (const input of call.inputs) this.#copiedInputs += input.data.length;
      return execute(this.#exports, call, resident, deliver);
    };
    // Mirrors of other caches may be what leaves no room for the call.
    return run() || (this.#mirrors.evict(resident) && run());
  }

  /**
   * @internal
   * Bytes copied into the module so far, on this thread and the worker: call
   * inputs and rows of resident caches (tests check that a decoding step
   * copies its new rows, not the cache).
   */
  get copiedBytes(): number {
    return this.#copiedInputs + this.#mirrors.copiedBytes + (this.#worker?.copiedBytes ?? 0);
  }

  /** @internal This thread's resident caches (wasm-kv.ts), for tests: their count and bytes, the budget, and dropping one or all. */
  get kvMirrors(): KvMirrors {
    return this.#mirrors;
  }

  /** Whether attentionAsync(a) is worth a worker thread (else the caller runs attention(a) after a yield). */
  offThread(a: NativeAttentionArgs): boolean {
    return WasmWorker.available && 2 * a.B * a.H * a.Lq * a.Lk * (a.D + a.Dv) >= WORKER_MIN_FLOPS;
  }

  /**
   * attention(args) on this module's worker thread (one, started on first
   * use, calls queued in order), over copies of the inputs taken now; with
   * `cache`, k and v from the worker's resident copy of it (the worker syncs
   * it from the cache's shared memory when the call runs). With
   * `signal`: an abort rejects at once with its reason, a call still queued
   * never starts, and nothing is written into the outputs (the worker cannot
   * stop a call that has started; it finishes and its result is dropped).
   * Resolves to false, having written nothing, when the call does not fit
   * the worker's module memory.
   */
  async attentionAsync(a: NativeAttentionArgs, signal: AbortSignal | null, cache: KvCache | null = null): Promise<boolean> {
    const worker = (this.#worker ??= new WasmWorker(this.#module, KV_MIRROR_BUDGET));
    const kv = cache !== null && this.residentKv ? worker.residentKv(cache, a.k, a.v, a.keyLengths) : null;
    const call = layout(a, kv !== null);
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    let fitted = true;
    const run = worker.run(call, cancel, kv).then((outputs) => {
      if (outputs === null) fitted = false;
      else if (Atomics.load(cancel, 0) === 0) call.outputs.forEach((output, i) => output.data.set(outputs[i]));
    });
    await (signal ? raceAbort(run, signal, cancel) : run);
    return fitted;
  }

  /** The plan attention(args) would run; no array is read (out, lse and weights may be empty placeholders). */
  plan(a: NativeAttentionArgs): KernelPlan {
    const e = this.#exports;
    const args = new Float64Array(e.memory.buffer, e.fa_args(), ARG_NAMES.length);
    args.set(layout(a).args);
    for (const op of operands(a)) args[ARG_INDEX[op.name]] = 1; // present; never read
    if (e.fa_attention_plan() !== 0) throw moduleError(e);
    const [path, blockQ, blockK, threads, workItems, scratchBytes] = new Float64Array(e.memory.buffer, e.fa_plan(), 6);
    return { isa: this.isa, path: path === 1 ? 'decode-split-k' : 'tiled', blockQ, blockK, threads, workItems, scratchBytes };
  }
}
