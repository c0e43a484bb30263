/**
 * The WebAssembly backend: dist/fused_attention.wasm (scripts/build-wasm.js),
 * the native fused kernel compiled for wasm32 SIMD128 behind the C ABI of
 * native/wasm_entry.cpp. One thread; the module imports nothing and owns one
 * WebAssembly.Memory that grows as calls need it (and never shrinks: its
 * high-water mark stays reserved, like the native scratch buffers).
 *
 * Each call copies its inputs into that memory, runs, and copies the outputs
 * back: the kernel cannot read a JS typed array in place.
 */
import type { NativeAttentionArgs } from './native';
import type { KernelPlan } from './types';

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
}
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The module's exports (native/wasm_entry.cpp). */
interface WasmExports {
  /** Its one WebAssembly.Memory: `buffer` is replaced whenever the memory grows. */
  memory: { readonly buffer: ArrayBuffer };
  _initialize(): void;
  fa_alloc(bytes: number): number;
  fa_free(ptr: number): void;
  fa_args(): number;
  fa_arg_count(): number;
  fa_plan(): number;
  fa_error(): number;
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

/** The loaded module: attention and its plan over copies of the call's arrays. */
export class WasmKernels {
  readonly #exports: WasmExports;

  /** Compiles and instantiates the module synchronously (attention() is synchronous); throws when it is not ours. */
  constructor(bytes: Uint8Array) {
    const instance = new webAssembly.Instance(new webAssembly.Module(bytes), {});
    const exports = instance.exports as unknown as WasmExports;
    for (const name of ['fa_alloc', 'fa_attention', 'fa_attention_plan', 'fa_args', 'fa_arg_count'] as const) {
      if (typeof exports[name] !== 'function') throw new Error(`the WebAssembly module does not export ${name}()`);
    }
    if (exports.fa_arg_count() !== ARG_NAMES.length) {
      throw new Error(`the WebAssembly module takes ${exports.fa_arg_count()} arguments, lib/wasm.ts passes ${ARG_NAMES.length}: rebuild it (npm run build:wasm)`);
    }
    exports._initialize();
    this.#exports = exports;
  }

  /** Bytes of the module's memory now (its high-water mark). */
  get memoryBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  /** Writes fa_args(); `pointers` gives each present buffer's pointer (any nonzero placeholder for a plan). */
  #writeArgs(a: NativeAttentionArgs, pointers: Map<Operand['name'], { ptr: number; length: number }>): void {
    const args = new Float64Array(this.#exports.memory.buffer, this.#exports.fa_args(), ARG_NAMES.length);
    args.fill(0);
    for (const [name, value] of Object.entries(scalarArgs(a))) args[ARG_INDEX[name as ArgName]] = value;
    for (const [name, { ptr, length }] of pointers) {
      args[ARG_INDEX[name]] = ptr;
      args[ARG_INDEX[`${name}Length` as ArgName]] = length;
    }
  }

  #error(): Error {
    const memory = new Uint8Array(this.#exports.memory.buffer);
    const start = this.#exports.fa_error();
    let end = start;
    while (memory[end] !== 0) end++;
    return new Error(new TextDecoder().decode(memory.subarray(start, end)));
  }

  /**
   * Runs attention(args) (args checked by lib/ already; the module re-checks
   * only what keeps it inside its memory). Returns false, having written
   * nothing, when the module's memory cannot hold the call (wasm32: 4 GiB at
   * most): the caller then runs the TypeScript kernel.
   */
  attention(a: NativeAttentionArgs): boolean {
    const list = operands(a);
    let total = 0;
    const offsets = list.map((op) => {
      const at = total;
      total += align64(op.length * op.array.BYTES_PER_ELEMENT);
      return at;
    });
    const e = this.#exports;
    const base = e.fa_alloc(total);
    if (base === 0) return false;
    try {
      const pointers = new Map<Operand['name'], { ptr: number; length: number }>();
      let memory = new Uint8Array(e.memory.buffer);
      list.forEach((op, i) => {
        const ptr = base + offsets[i];
        pointers.set(op.name, { ptr, length: op.length });
        if (!op.output || op.copyIn) memory.set(bytesOf(op.array, op.length), ptr);
      });
      this.#writeArgs(a, pointers);
      const status = e.fa_attention();
      if (status === 2) return false;
      if (status !== 0) throw this.#error();
      memory = new Uint8Array(e.memory.buffer); // the call may have grown (and so replaced) the buffer
      list.forEach((op, i) => {
        if (op.output) bytesOf(op.array, op.length).set(memory.subarray(base + offsets[i], base + offsets[i] + op.length * op.array.BYTES_PER_ELEMENT));
      });
      return true;
    } finally {
      e.fa_free(base);
    }
  }

  /** The plan attention(args) would run; no array is read (out, lse and weights may be empty placeholders). */
  plan(a: NativeAttentionArgs): KernelPlan {
    const pointers = new Map<Operand['name'], { ptr: number; length: number }>();
    for (const op of operands(a)) pointers.set(op.name, { ptr: 1, length: 0 });
    this.#writeArgs(a, pointers);
    const e = this.#exports;
    if (e.fa_attention_plan() !== 0) throw this.#error();
    const [path, blockQ, blockK, threads, workItems, scratchBytes] = new Float64Array(e.memory.buffer, e.fa_plan(), 6);
    return { isa: 'simd128', path: path === 1 ? 'decode-split-k' : 'tiled', blockQ, blockK, threads, workItems, scratchBytes };
  }
}
