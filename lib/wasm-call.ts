/**
 * One laid-out call into the WebAssembly module, the steps both threads run:
 * the calling thread (lib/wasm.ts) and the worker (lib/wasm-worker.ts, which
 * puts this function's source text into its own code). So it uses nothing
 * from outside its body: no imports, no helpers, only its arguments.
 */
import type { WasmCall, WasmExports } from './wasm';
import type { ResidentKv } from './wasm-kv';

/**
 * A block from fa_alloc, inputs in, k and v pointed at their resident copy if
 * they have one, fa_attention(), `deliver` reads the outputs from the block
 * (a fresh view: the call may have grown, and so replaced, the memory), the
 * block is freed. Returns what `deliver` returned, 'out-of-memory' when the
 * memory cannot grow to hold the call, 'error' when the module reported one
 * (its text is at fa_error()).
 */
export function runLaidOutCall<T>(
  e: WasmExports,
  call: Omit<WasmCall, 'outputs'>,
  resident: ResidentKv | null,
  deliver: (memory: Uint8Array, block: number) => T,
): T | 'out-of-memory' | 'error' {
  const block = e.fa_alloc(call.bytes);
  if (block === 0) return 'out-of-memory';
  try {
    const memory = new Uint8Array(e.memory.buffer);
    for (const input of call.inputs) memory.set(input.data, block + input.offset);
    const args = new Float64Array(e.memory.buffer, e.fa_args(), call.args.length);
    args.set(call.args);
    for (const slot of call.pointerSlots) args[slot] += block;
    if (call.residentSlots !== null && resident !== null) {
      const [k, kLength, v, vLength] = call.residentSlots;
      [args[k], args[kLength], args[v], args[vLength]] = [resident.k, resident.kLength, resident.v, resident.vLength];
    }
    const status = e.fa_attention();
    if (status === 2) return 'out-of-memory';
    if (status !== 0) return 'error';
    return deliver(new Uint8Array(e.memory.buffer), block);
  } finally {
    e.fa_free(block);
  }
}
