/**
 * The worker thread that runs the WebAssembly backend's long attentionAsync
 * calls, so they never block the event loop. One worker per loaded module,
 * started on first use with its own instance of the module (the compiled
 * module is shared, not recompiled); calls run one at a time, in order.
 * The worker is unref'd whenever no call is pending, so it never keeps the
 * process alive.
 */
import { Worker } from 'node:worker_threads';
import type { WasmCall } from './wasm';

/**
 * The worker's code: plain JavaScript run with `eval` (a separate file would
 * have to be found next to lib/*.ts under vitest and dist/*.js when built).
 * Its message handler runs a call with the steps of execute() in lib/wasm.ts,
 * line for line, then transfers the outputs back.
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
parentPort.on('message', ({ id, call, cancel }) => {
  if (Atomics.load(cancel, 0) !== 0) return parentPort.postMessage({ id, status: 'cancelled' });
  try {
    const block = e.fa_alloc(call.bytes);
    if (block === 0) return parentPort.postMessage({ id, status: 'out-of-memory' });
    try {
      const memory = new Uint8Array(e.memory.buffer);
      for (const input of call.inputs) memory.set(input.data, block + input.offset);
      const args = new Float64Array(e.memory.buffer, e.fa_args(), call.args.length);
      args.set(call.args);
      for (const slot of call.pointerSlots) args[slot] += block;
      const status = e.fa_attention();
      if (status === 2) return parentPort.postMessage({ id, status: 'out-of-memory' });
      if (status !== 0) return parentPort.postMessage({ id, status: 'error', message: moduleError() });
      const after = new Uint8Array(e.memory.buffer);
      const outputs = call.outputs.map((o) => after.slice(block + o.offset, block + o.offset + o.bytes));
      parentPort.postMessage({ id, status: 'done', outputs }, outputs.map((o) => o.buffer));
    } finally {
      e.fa_free(block);
    }
  } catch (err) {
    parentPort.postMessage({ id, status: 'error', message: String(err && err.message ? err.message : err) });
  }
});
`;

type Reply =
  | { id: number; status: 'done'; outputs: Uint8Array[] }
  | { id: number; status: 'out-of-memory' | 'cancelled' }
  | { id: number; status: 'error'; message: string };

interface Pending {
  resolve: (outputs: Uint8Array[] | null) => void;
  reject: (err: Error) => void;
}

export class WasmWorker {
  /** Node, Bun and Deno have worker_threads; the browser build's WasmWorker (wasm-worker.browser.ts) has none. */
  static readonly available = true;
  readonly #module: object;
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(module: object) {
    this.#module = module;
  }

  /**
   * Runs `call` on the worker over copies of its inputs (taken now, so the
   * caller's arrays may change afterwards). Resolves to the outputs, in
   * call.outputs order, or null when the worker's memory cannot hold the
   * call; never writes into the caller's arrays. A nonzero cancel[0] (a
   * SharedArrayBuffer) before the call starts skips it (resolves to []).
   */
  run(call: WasmCall, cancel: Int32Array): Promise<Uint8Array[] | null> {
    const worker = this.#start();
    const id = this.#nextId++;
    const inputs = call.inputs.map((input) => ({ offset: input.offset, data: input.data.slice() }));
    const message = {
      id,
      cancel,
      call: {
        bytes: call.bytes,
        args: call.args,
        pointerSlots: call.pointerSlots,
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
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module: this.#module } });
    worker.on('message', (reply: Reply) => {
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
