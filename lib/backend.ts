/**
 * Picks the backend, once, and records why: the native addon, else the
 * WebAssembly module (dist/fused_attention.wasm, lib/wasm.ts), else the
 * pure-TypeScript kernels.
 *
 * The choice is made on first use (not on import), so importing the package
 * never throws. FUSED_ATTENTION_BACKEND=js forces the JS kernels;
 * FUSED_ATTENTION_BACKEND=native or =wasm makes that backend missing or
 * broken an error. The binary is located now, at load time (build/Release, then
 * prebuilds/<platform>-<arch>/), so installs without install scripts work.
 * An unplanned fallback to wasm or JS warns once; FUSED_ATTENTION_SILENT=1 hides it.
 * Reading the environment never throws: a runtime that denies it (Deno
 * without --allow-env) gets the variables treated as unset.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { BackendInfo, InitOptions } from './types';
import type { NativeAddon } from './native';
import { checkInitOptions, checkThreads, describe, invalidArgument } from './validate';
import { WasmKernels, canCompile } from './wasm';

const PACKAGE_NAME = 'fused-attention';
const ENV = 'FUSED_ATTENTION_BACKEND';
const SILENT_ENV = 'FUSED_ATTENTION_SILENT';
/** Forces an ISA: read by the addon for native ones; here only 'simd128' (the plain wasm build). */
const ISA_ENV = 'FUSED_ATTENTION_ISA';

/** node-gyp-build: load(dir) finds and requires the addon; resolve(dir) only finds it. */
interface NodeGypBuild {
  (dir: string): unknown;
  resolve(dir: string): string;
}

interface Selection {
  addon: NativeAddon | null;
  /** The WebAssembly backend, when it is the one in use (addon is then null). */
  wasm: WasmKernels | null;
  /** Why the wasm or JS backend is in use; empty for native. */
  reason: string;
  /** Set when the choice itself failed (native demanded but unavailable); thrown on every use. */
  error: Error | null;
}

let selection: Selection | null = null;

/** process.env[name], or undefined when the runtime refuses the read (Deno without --allow-env throws NotCapable). */
function readEnv(name: string): string | undefined {
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}

/**
 * A runtime's sandbox refused something the loader needs: Deno's NotCapable
 * (PermissionDenied before Deno 2), Node's permission model ERR_ACCESS_DENIED.
 */
function isPermissionDenied(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'NotCapable' || err.name === 'PermissionDenied' || (err as { code?: unknown }).code === 'ERR_ACCESS_DENIED';
}

/** The package root: the nearest directory above this file whose package.json is ours (lib/ or dist/ both work). */
function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable package.json above us is not ours; keep walking.
      }
    }
    if (dirname(dir) === dir) throw new Error(`${PACKAGE_NAME}: could not find its package.json above ${start}`);
  }
}

interface Libc {
  name: 'glibc' | 'musl';
  /** The glibc version ("2.36"); empty for musl. */
  version: string;
}

let libc: Libc | null | undefined;

/** The C library of this process on Linux (null elsewhere); read once, as detect-libc does. */
function runtimeLibc(): Libc | null {
  if (libc === undefined) {
    libc = null;
    if (process.platform === 'linux') {
      let report: { header?: { glibcVersionRuntime?: string } } | undefined;
      try {
        report = process.report?.getReport() as typeof report;
      } catch {
        // Deno without --allow-sys refuses the report: libc unknown, so no prebuild is refused for it.
      }
      const version = report?.header?.glibcVersionRuntime;
      if (report !== undefined) libc = version ? { name: 'glibc', version } : { name: 'musl', version: '' };
    }
  }
  return libc;
}

/** "linux-x64 (glibc)", or with the version "linux-x64 (glibc 2.36)": what prebuilds are matched against. */
function platformTag(withVersion: boolean): string {
  const c = runtimeLibc();
  const version = withVersion && c?.version ? ` ${c.version}` : '';
  return `${process.platform}-${process.arch}${c === null ? '' : ` (${c.name}${version})`}`;
}

function describePlatform(): string {
  return `${platformTag(true)}, Node ${process.version}, Node-API ${process.versions.napi}`;
}

/**
 * node-gyp-build tells musl from glibc only by /etc/alpine-release; a prebuild whose
 * name carries the other libc's tag (node.napi.glibc.node) is refused here, never loaded.
 */
function refuseWrongLibc(root: string, file: string): void {
  const tag = basename(file).split('.').find((part) => part === 'glibc' || part === 'musl');
  const c = runtimeLibc();
  if (tag === undefined || c === null || tag === c.name) return;
  throw new Error(`No native build was found for ${c.name}: ${relative(root, file)} is built for ${tag}`);
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('No native build was found');
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split(/\r?\n/)[0];
}

/** The message when native was demanded: what was tried, where, and how to fix it. */
function nativeUnavailable(root: string, err: unknown): Error {
  const missing = isNotFound(err);
  const fix = isPermissionDenied(err)
    ? ['  The runtime denied a permission the loader needs (the error says which); grant it, the build is not at fault.']
    : [
        '  To build it from source (needs Python 3, make and a C++17 compiler):',
        `    npm rebuild ${PACKAGE_NAME} --build-from-source`,
        '  or, in a checkout of the package:',
        '    npx node-gyp rebuild',
      ];
  const lines = [
    `${PACKAGE_NAME}: ${ENV}=native but the native addon ${missing ? 'was not found' : 'failed to load'}.`,
    `  Tried: node-gyp-build in ${root} (build/Release, build/Debug, prebuilds/${process.platform}-${process.arch})`,
    `  Platform: ${describePlatform()}`,
    `  Error: ${firstLine(err)}`,
    ...fix,
    `  Or unset ${ENV} to fall back to the pure-TypeScript kernels.`,
  ];
  return new Error(lines.join('\n'), { cause: err });
}

/** Where the WebAssembly modules live in the package (scripts/build-wasm.js writes them): plain SIMD128, and with relaxed SIMD. */
const WASM_FILE = join('dist', 'fused_attention.wasm');
const WASM_RELAXED_FILE = join('dist', 'fused_attention_relaxed.wasm');

/**
 * The WebAssembly backend, or why not: 'missing' when the module was never
 * built (or not shipped). The relaxed-SIMD build where this engine compiles
 * it, unless FUSED_ATTENTION_ISA=simd128 asks for the plain one.
 */
function loadWasm(root: string): WasmKernels | { missing: boolean; err: unknown } {
  const file = join(root, WASM_FILE);
  try {
    if (!existsSync(file)) return { missing: true, err: new Error(`${relative(root, file)} was not found`) };
    const relaxed = join(root, WASM_RELAXED_FILE);
    if (readEnv(ISA_ENV) !== 'simd128' && existsSync(relaxed)) {
      const bytes = readFileSync(relaxed);
      if (canCompile(bytes)) return new WasmKernels(bytes);
    }
    return new WasmKernels(readFileSync(file));
  } catch (err) {
    return { missing: false, err };
  }
}

/** The message when wasm was demanded: what was tried and how to build it. */
function wasmUnavailable(root: string, missing: boolean, err: unknown): Error {
  const fix = isPermissionDenied(err)
    ? ['  The runtime denied a permission the loader needs (the error says which); grant it, the module is not at fault.']
    : [
        '  To build it in a checkout of the package (needs clang with the wasm32 target and wasi-libc,',
        '  on Debian: apt-get install clang-19 lld-19 wasi-libc libc++-19-dev-wasm32 libclang-rt-19-dev-wasm32):',
        '    npm run build:wasm',
      ];
  const lines = [
    `${PACKAGE_NAME}: ${ENV}=wasm but the WebAssembly module ${missing ? 'was not found' : 'failed to load'}.`,
    `  Tried: ${join(root, WASM_FILE)}`,
    `  Platform: ${describePlatform()}`,
    `  Error: ${firstLine(err)}`,
    ...fix,
    `  Or unset ${ENV} to use the best backend available.`,
  ];
  return new Error(lines.join('\n'), { cause: err });
}

function select(): Selection {
  const forced = readEnv(ENV);
  if (forced !== undefined && forced !== '' && forced !== 'js' && forced !== 'native' && forced !== 'wasm') {
    const error = invalidArgument(Error, `${ENV} to be "native", "wasm", "js" or unset`, describe(forced), PACKAGE_NAME);
    return { addon: null, wasm: null, reason: '', error };
  }
  if (forced === 'js') return { addon: null, wasm: null, reason: `${ENV}=js forces the JS backend`, error: null };
  if (forced === 'wasm') {
    let root = __dirname;
    try {
      root = findPackageRoot(__dirname);
    } catch (err) {
      return { addon: null, wasm: null, reason: '', error: wasmUnavailable(root, true, err) };
    }
    const wasm = loadWasm(root);
    if (wasm instanceof WasmKernels) return { addon: null, wasm, reason: `${ENV}=wasm forces the WebAssembly backend`, error: null };
    return { addon: null, wasm: null, reason: '', error: wasmUnavailable(root, wasm.missing, wasm.err) };
  }

  let root = __dirname;
  try {
    root = findPackageRoot(__dirname);
    // createRequire works the same compiled to CommonJS and under vitest.
    const requireHere = createRequire(__filename);
    const file = (requireHere('node-gyp-build') as NodeGypBuild).resolve(root);
    refuseWrongLibc(root, file);
    const addon = requireHere(file) as NativeAddon;
    if (typeof addon?.attention !== 'function' || typeof addon.info !== 'function') {
      throw new Error('the loaded addon does not export attention() and info()');
    }
    return { addon, wasm: null, reason: '', error: null };
  } catch (err) {
    if (forced === 'native') return { addon: null, wasm: null, reason: '', error: nativeUnavailable(root, err) };
    const denied = isPermissionDenied(err);
    let reason = denied
      ? `the runtime denied the native loader a permission: ${firstLine(err)}`
      : isNotFound(err)
        ? `no native build for ${platformTag(false)} in build/ or prebuilds/; run \`npm rebuild ${PACKAGE_NAME} --build-from-source\` to build one`
        : `the native addon failed to load: ${firstLine(err)}; run \`npm rebuild ${PACKAGE_NAME} --build-from-source\` to rebuild it`;
    const wasm = loadWasm(root);
    if (wasm instanceof WasmKernels) {
      warnFallback('the WebAssembly backend (slower than native)', 'FUSED_ATTENTION_WASM_FALLBACK', reason, !denied);
      return { addon: null, wasm, reason, error: null };
    }
    // A module that is there but does not load is worth a word; one never built (or not shipped) is not.
    if (!wasm.missing) reason += `; the WebAssembly module failed to load: ${firstLine(wasm.err)}`;
    warnFallback('the slower pure-TypeScript backend', 'FUSED_ATTENTION_JS_FALLBACK', reason, !denied);
    return { addon: null, wasm: null, reason, error: null };
  }
}

/** One stderr warning per module instance when wasm or JS runs although nobody asked for it. */
function warnFallback(what: string, code: string, reason: string, rebuildHint: boolean): void {
  const silent = readEnv(SILENT_ENV);
  if (silent !== undefined && silent !== '' && silent !== '0') return;
  const needs = rebuildHint ? ' (needs Python 3, make and a C++17 compiler)' : '';
  process.emitWarning(`${PACKAGE_NAME}: using ${what}: ${reason}${needs}. Set ${SILENT_ENV}=1 to hide this warning.`, { code });
}

function selected(): Selection {
  selection ??= select();
  if (selection.error) throw selection.error;
  return selection;
}

/** Internal (kernel dispatch, tests): the loaded addon, or null when the wasm or JS backend is in use. */
export function nativeAddon(): NativeAddon | null {
  return selected().addon;
}

/**
 * Internal (kernel dispatch, tests): the WebAssembly kernels when the wasm
 * backend is in use, else null. Only attention runs on them; every other op
 * runs the TypeScript kernels there, as on the JS backend.
 */
export function wasmKernels(): WasmKernels | null {
  return selected().wasm;
}

/** Which implementation runs attention(), and why the wasm or JS one when it does. */
export function backend(): BackendInfo {
  const { addon, wasm, reason } = selected();
  if (wasm !== null) return { name: 'wasm', isa: wasm.isa, threads: 1, reason };
  if (addon === null) return { name: 'js', isa: 'js', threads: 1, reason };
  const info = addon.info();
  return { name: 'native', isa: info.isa, threads: info.threads };
}

/**
 * Chooses the backend now and resolves to backend() (rejects with its error).
 * The browser entry needs it before the first call, to load its WebAssembly
 * module (backend.browser.ts); here it only lets code shared with a browser
 * call it. options.wasmBase is for the browser and is only checked here.
 */
export async function init(options?: InitOptions): Promise<BackendInfo> {
  checkInitOptions(options);
  return backend();
}

/**
 * Sets the native thread pool size (an integer 1..256, including the calling
 * thread). The wasm and JS backends always run on the calling thread, so there
 * it is checked and then has no effect.
 */
export function setThreads(n: number): void {
  const threads = checkThreads(n);
  const { addon } = selected();
  if (addon !== null) addon.setThreads(threads);
}
