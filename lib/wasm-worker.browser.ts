/**
 * The browser build's stand-in for wasm-worker.ts (tsconfig.browser.json
 * resolves './wasm-worker' here): no worker thread. A Web Worker would need the
 * module's URL and, for the cancel flag, a cross-origin isolated page, so in a
 * browser attentionAsync runs its call on the calling thread after one yield,
 * as on the JS backend (wasm.ts asks WasmWorker.available).
 */
import type { WasmCall } from './wasm';

export class WasmWorker {
  static readonly available = false;

  constructor(_module: object) {
    throw new Error('fused-attention: the browser build has no WebAssembly worker');
  }

  run(_call: WasmCall, _cancel: Int32Array): Promise<Uint8Array[] | null> {
    return Promise.reject(new Error('fused-attention: the browser build has no WebAssembly worker'));
  }
}
