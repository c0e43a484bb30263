/**
 * The worker thread that runs the WebAssembly backend's long attentionAsync
 * calls, so they never block the event loop. One worker per loaded module,
 * started on first use with its own instance of the module (the compiled
 * module is shared, not recompiled); calls run one at a time, in order.
 * The worker is unref'd whenever no call is pending, so it never keeps the
 * process alive.
 *
 * KvCaches stay resident in the worker's module memory too, as on the calling
 * thread (wasm-kv.ts), but synced by the worker itself: a cache's memory is a
 * SharedArrayBuffer, so a call sends the cache's buffers (shared, not copied)
 * and its stored lengths, and the worker copies the rows its mirror lacks
 * when the call runs. Those rows are final by then: append writes past them
 * and reset() is refused while an attentionAsync call reads the cache.
 */
import { Worker } from 'node:worker_threads';
import type { KvCache } from './kv-cache';
import type { WasmCall } from './wasm';
import { runLaidOutCall } from './wasm-call';

/**
 * The worker's code: plain JavaScript run with `eval` (a separate file would
 * have to be found next to lib/*.ts under vitest and dist/*.js when built).
 * Its message handler runs a call with runLaidOutCall (lib/wasm-call.ts, its
 * source text put in here), as lib/wasm.ts does, then transfers the outputs back.
 */
const WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const e = new WebAssembly.Instance(workerData.module, {}).exports;
e._initialize();
function moduleError() {
  const memory = new Uint8Array(e.memory.buffer);
  const start = e.fa_error();
  let end = start;
  while (memory[end] !== 0) end++;
  return new TextDecoder().decode(memory.subarray(start, end));
}
// Resident caches by id, least recently used first (KvMirrors in wasm-kv.ts, which the same steps follow).
const mirrors = new Map();
let mirrorBytes = 0;
let copied = 0;
function freeMirror(id) {
  const mirror = mirrors.get(id);
  if (mirror === undefined) return false;
  e.fa_free(mirror.block);
  mirrorBytes -= mirror.bytes;
  mirrors.delete(id);
  return true;
}
function evictMirrors(keep) {
  let freed = false;
  for (const id of [...mirrors.keys()]) if (id !== keep) freed = freeMirror(id) || freed;
  return freed;
}
function syncRows(kv, mirror, source, offset, width) {
  const memory = new Uint8Array(e.memory.buffer);
  const rowBytes = width * source.BYTES_PER_ELEMENT;
  for (let b = 0; b < kv.batch; b++) {
    const from = mirror.synced[b] <= kv.lengths[b] ? mirror.synced[b] : 0;
    const bytes = (kv.lengths[b] - from) * rowBytes;
    if (bytes === 0) continue;
    for (let hk = 0; hk < kv.numKvHeads; hk++) {
      const at = ((b * kv.numKvHeads + hk) * kv.maxLength + from) * rowBytes;
      memory.set(new Uint8Array(source.buffer, source.byteOffset + at, bytes), mirror.block + offset + at);
    }
    copied += kv.numKvHeads * bytes;
  }
}
function resident(kv) {
  let mirror = mirrors.get(kv.id);
  if (mirror === undefined) {
    const valuesOffset = Math.ceil(kv.keys.byteLength / 64) * 64;
    const bytes = valuesOffset + kv.values.byteLength;
    for (const id of [...mirrors.keys()]) if (mirrorBytes + bytes > workerData.budget) freeMirror(id);
    let block = e.fa_alloc(bytes);
    if (block === 0 && evictMirrors(-1)) block = e.fa_alloc(bytes);
    if (block === 0) return null;
    mirror = { block, bytes, valuesOffset, generation: -1, synced: new Int32Array(kv.batch) };
    mirrorBytes += bytes;
  }
  mirrors.delete(kv.id);
  mirrors.set(kv.id, mirror);
  if (mirror.generation !== kv.generation) {
    mirror.generation = kv.generation;
    mirror.synced.fill(0);
  }
  syncRows(kv, mirror, kv.keys, 0, kv.headDim);
  syncRows(kv, mirror, kv.values, mirror.valuesOffset, kv.valueDim);
  mirror.synced.set(kv.lengths);
  const elementBytes = kv.keys.BYTES_PER_ELEMENT;
  return { k: mirror.block, kLength: kv.keys.byteLength / elementBytes, v: mirror.block + mirror.valuesOffset, vLength: kv.values.byteLength / elementBytes };
}
${runLaidOutCall.toString()}
function execute(call, kv) {
  const result = runLaidOutCall(e, call, kv, (after, block) => ({
    status: 'done',
    outputs: call.outputs.map((o) => after.slice(block + o.offset, block + o.offset + o.bytes)),
  }));
  if (result === 'out-of-memory') return { status: 'out-of-memory' };
  if (result === 'error') return { status: 'error', message: moduleError() };
  return result;
}
parentPort.on('message', (message) => {
  if (message.free !== undefined) return void freeMirror(message.free);
  const { id, call, cancel } = message;
  if (Atomics.load(cancel, 0) !== 0) return parentPort.postMessage({ id, status: 'cancelled' });
  try {
    const kv = call.kv === null ? null : resident(call.kv);
    if (call.kv !== null && kv === null) return parentPort.postMessage({ id, status: 'out-of-memory', copied });
    let result = execute(call, kv);
    // Mirrors of other caches may be what leaves no room for the call.
    if (result.status === 'out-of-memory' && evictMirrors(call.kv === null ? -1 : call.kv.id)) result = execute(call, kv);
    if (result.status !== 'done') return parentPort.postMessage({ id, ...result, copied });
    parentPort.postMessage({ id, status: 'done', outputs: result.outputs, copied }, result.outputs.map((o) => o.buffer));
  } catch (err) {
    parentPort.postMessage({ id, status: 'error', message: String(err && err.message ? err.message : err), copied });
  }
});
`;

/**
 * What the worker needs to keep a KvCache resident: an id for the cache, its
 * buffers (shared memory), dims, and KvCache.stableRows' generation and
 * lengths as of the call.
 */
export interface WorkerKv {
  id: number;
  generation: number;
  lengths: Int32Array;
  keys: Float32Array | Uint16Array;
  values: Float32Array | Uint16Array;
  batch: number;
  numKvHeads: number;
  maxLength: number;
  headDim: number;
  valueDim: number;
}

/** `copied`: bytes the worker has copied into its mirrors so far (absent for a cancelled call). */
type Reply =
  | { id: number; status: 'done'; outputs: Uint8Array[]; copied: number }
  | { id: number; status: 'out-of-memory' | 'cancelled'; copied?: number }
  | { id: number; status: 'error'; message: string; copied: number };

interface Pending {
  resolve: (outputs: Uint8Array[] | null) => void;
  reject: (err: Error) => void;
}

export class WasmWorker {
  /** Node, Bun and Deno have worker_threads; the browser build's WasmWorker (wasm-worker.browser.ts) has none. */
  static readonly available = true;
  readonly #module: object;
  /** Most bytes the worker's resident caches may hold together. */
  readonly #budget: number;
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  /** Ids of the caches the worker may hold resident (WorkerKv.id). */
  readonly #cacheIds = new WeakMap<KvCache, number>();
  #nextCacheId = 1;
  /** Frees a garbage-collected cache's mirror in the worker (a new worker has none: nothing to free). */
  readonly #registry = new FinalizationRegistry<number>((id) => this.#worker?.postMessage({ free: id }));
  /** Bytes copied toward the worker's module: call inputs, plus what the worker copied into its mirrors (as of its last reply). */
  #copiedInputs = 0;
  #copiedByWorker = 0;

  constructor(module: object, budget: number) {
    this.#module = module;
    this.#budget = budget;
  }

  get copiedBytes(): number {
    return this.#copiedInputs + this.#copiedByWorker;
  }

  /**
   * What a call on `cache` sends for the worker to keep the cache resident;
   * null when it cannot be (k and v are then copied with the call): the
   * cache's raw buffers were handed out, k and v are not its own, or it is
   * larger than the budget.
   */
  residentKv(cache: KvCache, k: ArrayBufferView, v: ArrayBufferView, keyLengths: Int32Array | null): WorkerKv | null {
    const rows = cache.stableRows();
    let id = this.#cacheIds.get(cache);
    if (rows === null) {
      if (id !== undefined) this.#worker?.postMessage({ free: id });
      this.#cacheIds.delete(cache);
      return null;
    }
    if (k !== rows.keys || v !== rows.values || rows.keys.byteLength + rows.values.byteLength + 64 > this.#budget) return null;
    if (keyLengths !== null && keyLengths.some((n, b) => n > rows.lengths[b])) return null;
    if (id === undefined) {
      id = this.#nextCacheId++;
      this.#cacheIds.set(cache, id);
      this.#registry.register(cache, id);
    }
    const { batch, numKvHeads, maxLength, headDim, valueDim } = cache;
    return { id, generation: rows.generation, lengths: rows.lengths, keys: rows.keys, values: rows.values, batch, numKvHeads, maxLength, headDim, valueDim };
  }

  /**
   * Runs `call` on the worker over copies of its inputs (taken now, so the
   * caller's arrays may change afterwards). Resolves to the outputs, in
   * call.outputs order, or null when the worker's memory cannot hold the
   * call; never writes into the caller's arrays. A nonzero cancel[0] (a
   * SharedArrayBuffer) before the call starts skips it (resolves to []).
   * With `kv` (residentKv), k and v are not copied: the worker reads the
   * cache's rows it lacks from the shared buffers when the call runs.
   */
  run(call: WasmCall, cancel: Int32Array, kv: WorkerKv | null = null): Promise<Uint8Array[] | null> {
    const worker = this.#start();
    const id = this.#nextId++;
    const inputs = call.inputs.map((input) => ({ offset: input.offset, data: input.data.slice() }));
    for (const input of inputs) this.#copiedInputs += input.data.length;
    const message = {
      id,
      cancel,
      call: {
        bytes: call.bytes,
        args: call.args,
        pointerSlots: call.pointerSlots,
        residentSlots: call.residentSlots,
        kv,
        inputs,
        outputs: call.outputs.map((output) => ({ offset: output.offset, bytes: output.data.length })),
      },
    };
    return new Promise<Uint8Array[] | null>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage(message, inputs.map((input) => input.data.buffer as ArrayBuffer));
    });
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: this.#module, budget: this.#budget } });
    // A new worker copies every resident cache in again: count on from what earlier workers copied.
    const copiedBefore = this.#copiedByWorker;
    worker.on('message', (reply: Reply) => {
      if (reply.copied !== undefined) this.#copiedByWorker = copiedBefore + reply.copied;
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (reply.status === 'done') pending.resolve(reply.outputs);
      else if (reply.status === 'error') pending.reject(new Error(reply.message));
      else pending.resolve(reply.status === 'cancelled' ? [] : null);
    });
    // A worker that dies takes its calls with it; the next call starts a new one.
    const fail = (err: Error): void => {
      if (this.#worker === worker) this.#worker = null;
      for (const pending of this.#pending.values()) pending.reject(err);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`fused-attention: the WebAssembly worker exited (code ${code})`)));
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}
