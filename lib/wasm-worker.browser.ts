/**
 * The browser build's stand-in for wasm-worker.ts (tsconfig.browser.json
 * resolves './wasm-worker' here): no worker thread. A Web Worker would need the
 * module's URL and, for the cancel flag, a cross-origin isolated page, so in a
 * browser attentionAsync runs its call on the calling thread after one yield,
 * as on the JS backend (wasm.ts asks WasmWorker.available).
 */
import type { KvCache } from './kv-cache';
import type { WasmCall } from './wasm';

/** What wasm-worker.ts's WasmWorker.residentKv returns; never made here. */
export type WorkerKv = never;

const NO_WORKER = 'fused-attention: the browser build has no WebAssembly worker';

export class WasmWorker {
  static readonly available = false;

  constructor(_module: object, _budget: number) {
    throw new Error(NO_WORKER);
  }

  get copiedBytes(): number {
    return 0;
  }

  residentKv(_cache: KvCache, _k: ArrayBufferView, _v: ArrayBufferView, _keyLengths: Int32Array | null): WorkerKv | null {
    return null;
  }

  run(_call: WasmCall, _cancel: Int32Array, _kv: WorkerKv | null = null): Promise<Uint8Array[] | null> {
    return Promise.reject(new Error(NO_WORKER));
  }
}
