/**
 * What the vitest suites share: seeded tensors, the error assertion, the
 * JS- and wasm-backend copies of the library, and the runners (js + every
 * native mode + wasm) a file loops over.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, vi } from 'vitest';
import type * as nativeLib from '../lib/index';
import type { Tensor } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { canCompile } from '../lib/wasm';
import { nativeModes } from './native-modes';
import type { ReferenceDims } from './oracle/attention.mjs';
import { randomTensor } from './oracle/inputs.mjs';

/** N(0, 1) samples of `shape` from `seed`, times `amplitude`. */
export const tensor: (shape: number[], seed?: number, amplitude?: number) => Tensor = randomTensor;

export type Lib = typeof nativeLib;
export type ErrorType = TypeErrorConstructor | RangeErrorConstructor;
/** Sizes of one attention call: B, H, Hkv, Lq, Lk, D, Dv. */
export type Dims = ReferenceDims;
/** Sizes of a test case: B, H, Hkv and Dv may be left to the case's defaults. */
export type PartialDims = Partial<Dims> & Pick<Dims, 'Lq' | 'Lk' | 'D'>;

/** One way to run the library: the JS backend, or the native one in one ISA / thread mode. */
export interface Runner<L = Lib> {
  name: string;
  lib: L;
  /** Switches the addon to this runner's mode (nothing for js). */
  prepare: () => void;
}

export const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A tensor maker that takes the next seed on every call, starting at `firstSeed`. */
export function tensorSequence(firstSeed = 1): (shape: number[], amplitude?: number) => Tensor {
  let seed = firstSeed;
  return (shape, amplitude = 1) => randomTensor(shape, seed++, amplitude);
}

/** A tensor of `shape` with every element `value`. */
export function filledTensor(shape: number[], value = 0): Tensor {
  return { data: new Float32Array(product(shape)).fill(value), shape };
}

/** Runs `fn` and expects it to throw exactly this error: the same class and the whole message. */
export function expectError(fn: () => unknown, Type: ErrorType, message: string): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, message).not.toBeNull();
  expect((caught as Error).constructor).toBe(Type);
  expect((caught as Error).message).toBe(message);
}

/**
 * A second, separate instance of the library whose backend is the JS one
 * (the backend is chosen on first use, so it is chosen while the variable is set).
 */
export async function loadJsLib(): Promise<Lib> {
  vi.stubEnv('FUSED_ATTENTION_BACKEND', 'js');
  vi.resetModules();
  const jsLib: Lib = await import('../lib/index');
  jsLib.backend();
  vi.unstubAllEnvs();
  return jsLib;
}

/** Whether dist/fused_attention.wasm is built (npm run build:wasm); the wasm runs are skipped without it. */
export const WASM_BUILT = existsSync(join(__dirname, '..', 'dist', 'fused_attention.wasm'));

const RELAXED_FILE = join(__dirname, '..', 'dist', 'fused_attention_relaxed.wasm');
/** The build the loader picks here: relaxed SIMD when it is built and this engine compiles it; null when nothing is built. */
export const WASM_ISA: 'simd128' | 'relaxed-simd' | null = !WASM_BUILT
  ? null
  : existsSync(RELAXED_FILE) && canCompile(readFileSync(RELAXED_FILE))
    ? 'relaxed-simd'
    : 'simd128';

/**
 * A separate instance of the library on the WebAssembly backend, or null when
 * the module is not built: the build the loader picks (relaxed SIMD where this
 * engine has it), or with isa 'simd128' the plain one.
 */
export async function loadWasmLib(isa?: 'simd128'): Promise<Lib | null> {
  if (!WASM_BUILT) return null;
  vi.stubEnv('FUSED_ATTENTION_BACKEND', 'wasm');
  if (isa !== undefined) vi.stubEnv('FUSED_ATTENTION_ISA', isa);
  vi.resetModules();
  const wasmLib: Lib = await import('../lib/index');
  wasmLib.backend();
  vi.unstubAllEnvs();
  return wasmLib;
}

/**
 * The JS library, then the native one in every ISA × thread mode this machine
 * has (none without the addon), then the wasm one when given (loadWasmLib).
 */
export function backendRunners<L>(jsLib: L, native: L, wasmLib: L | null = null): Runner<L>[] {
  const runners: Runner<L>[] = [{ name: 'js', lib: jsLib, prepare: () => {} }];
  for (const mode of nativeModes(nativeAddon())) runners.push({ name: mode.name, lib: native, prepare: mode.select });
  if (wasmLib !== null) runners.push({ name: `wasm ${WASM_ISA}`, lib: wasmLib, prepare: () => {} });
  return runners;
}
