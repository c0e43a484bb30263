/**
 * backend.ts for the browser build (tsconfig.browser.json resolves './backend'
 * here): no native addon, no file system, no environment variables.
 *
 * init() picks the backend, once: the relaxed-SIMD WebAssembly build where the
 * engine has relaxed SIMD, else the SIMD128 one, fetched from beside the entry
 * (dist/) and compiled asynchronously; attention runs on it and every other op
 * on the TypeScript kernels, as on Node's wasm backend. Where the engine has no
 * WebAssembly SIMD, or no build can be fetched and compiled, the TypeScript
 * kernels run attention too (a failed load warns once on the console). The
 * choice needs that fetch, so every call before init() has finished throws.
 */
import type { NativeAddon } from './native';
import type { BackendInfo, InitOptions } from './types';
import { checkInitOptions, checkThreads } from './validate';
import { CompiledModule, type WasmIsa, WasmKernels, simdSupport } from './wasm';

const PACKAGE_NAME = 'fused-attention';
const FILES: Record<WasmIsa, string> = { 'relaxed-simd': 'fused_attention_relaxed.wasm', simd128: 'fused_attention.wasm' };

interface Selection {
  /** The WebAssembly backend, or null for the TypeScript kernels. */
  wasm: WasmKernels | null;
  reason: string;
}

let selection: Selection | null = null;
let loading: Promise<BackendInfo> | null = null;

/**
 * Where a build is fetched from: under options.wasmBase (resolved against the
 * page), else beside the entry. This file is dist/browser/backend.browser.mjs,
 * so that is '../'; each URL is written out whole so that bundlers (webpack 5,
 * Vite, Parcel) see `new URL('<file>', import.meta.url)` and copy the file.
 */
function moduleUrl(isa: WasmIsa, base: string | null): URL {
  if (base !== null) return new URL(FILES[isa], new URL(base, (globalThis as { location?: { href: string } }).location?.href));
  return isa === 'relaxed-simd' ? new URL('../fused_attention_relaxed.wasm', import.meta.url) : new URL('../fused_attention.wasm', import.meta.url);
}

/**
 * The bytes at `url`, or an error that names it. Bytes rather than
 * WebAssembly.compileStreaming: that one also demands the application/wasm
 * MIME type, which not every server sends.
 */
async function fetchBytes(url: URL): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`GET ${url.href} failed: ${firstLine(err)}`, { cause: err });
  }
  if (!response.ok) throw new Error(`GET ${url.href} answered ${response.status} ${response.statusText}`.trimEnd());
  return new Uint8Array(await response.arrayBuffer());
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split(/\r?\n/)[0];
}

/** The best build the engine runs and that loads (a missing relaxed build falls back to the SIMD128 one), else the TS kernels. */
async function load(base: string | null): Promise<Selection> {
  const best = simdSupport();
  if (best === null) return { wasm: null, reason: 'this browser has no WebAssembly SIMD' };
  let failure: unknown;
  for (const isa of best === 'relaxed-simd' ? (['relaxed-simd', 'simd128'] as const) : (['simd128'] as const)) {
    try {
      const bytes = await fetchBytes(moduleUrl(isa, base));
      return { wasm: new WasmKernels(await CompiledModule.compile(bytes)), reason: 'a browser has no native addon' };
    } catch (err) {
      failure = err;
    }
  }
  const reason = `the WebAssembly module failed to load: ${firstLine(failure)}`;
  console.warn(`${PACKAGE_NAME}: using the slower pure-TypeScript backend: ${reason}`);
  return { wasm: null, reason };
}

/**
 * Loads the WebAssembly module and resolves to backend(); await it once
 * before the first call. Later calls (their options checked, then unused)
 * return the first call's promise: the backend is chosen once.
 */
export async function init(options?: InitOptions): Promise<BackendInfo> {
  const { wasmBase } = checkInitOptions(options);
  loading ??= load(wasmBase).then((chosen) => {
    selection = chosen;
    return backend();
  });
  return loading;
}

function selected(): Selection {
  if (selection === null) {
    throw new Error(`${PACKAGE_NAME}: await init() before the first call: the browser build loads its WebAssembly module asynchronously`);
  }
  return selection;
}

/** Internal (kernel dispatch): always null in a browser, once init() has finished. */
export function nativeAddon(): NativeAddon | null {
  selected();
  return null;
}

/** Internal (kernel dispatch): the WebAssembly kernels, or null when the TS kernels run attention. */
export function wasmKernels(): WasmKernels | null {
  return selected().wasm;
}

/** Which implementation runs attention(), and why: { name: 'wasm', isa: 'relaxed-simd' | 'simd128', threads: 1 } or the JS kernels. */
export function backend(): BackendInfo {
  const { wasm, reason } = selected();
  if (wasm !== null) return { name: 'wasm', isa: wasm.isa, threads: 1, reason };
  return { name: 'js', isa: 'js', threads: 1, reason };
}

/** Checked as on Node, then without effect: the browser build runs on the calling thread. */
export function setThreads(n: number): void {
  checkThreads(n);
  selected();
}
