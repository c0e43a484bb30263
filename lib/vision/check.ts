/**
 * Argument checks of the 2-D attention functions and layers, in the wording of
 * lib/validate.ts (`<op>: expected <what> but received <what>`), with the op's
 * own name in front (axialAttention, crissCrossAttention, CrissCrossAttention ...).
 */
import type { Tensor } from '../types';
import { checkFloat32Factor, checkTensor, describe, invalidArgument, isFloat32Array, isRecord, overlaps } from '../validate';

/** A Tensor of exactly `rank` dims, positive integer dims, Float32Array data of the product's length. */
export function checkImage(value: unknown, name: string, rank: number, op: string): Tensor {
  return checkTensor(value, name, rank, rank, op);
}

/** `k.shape[2] to equal q.shape[2] (13)`. */
export function checkSame(name: string, actual: number, refName: string, ref: number, op: string): void {
  if (actual !== ref) throw invalidArgument(RangeError, `${name} to equal ${refName} (${ref})`, describe(actual), op);
}

/** undefined → {}; otherwise a plain object whose keys are all in `keys`. */
export function checkOptionKeys(value: unknown, keys: readonly string[], op: string, name = 'options'): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw invalidArgument(TypeError, `${name} to be an object`, describe(value), op);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw invalidArgument(TypeError, `${name} keys to be among ${keys.join(', ')}`, describe(key), op);
  }
  return value;
}

/** A finite number > 0, or `fallback` when undefined (a kernel's scale: checkScale below). */
export function checkPositive(value: unknown, name: string, fallback: number, op: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgument(TypeError, `${name} to be a number`, describe(value), op);
  if (!Number.isFinite(value) || value <= 0) throw invalidArgument(RangeError, `${name} to be a finite number > 0`, describe(value), op);
  return value;
}

/** A kernel's `scale` option, `fallback` when undefined: a float32 both backends agree on (see checkFloat32Factor). */
export function checkScale(value: unknown, fallback: number, op: string): number {
  return value === undefined ? fallback : checkFloat32Factor(value, 'scale', op);
}

export function checkBoolean(value: unknown, name: string, fallback: boolean, op: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgument(TypeError, `${name} to be a boolean`, describe(value), op);
  return value;
}

export function checkChoice<T extends string>(value: unknown, name: string, choices: readonly T[], fallback: T | undefined, op: string): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!choices.includes(value as T)) {
    throw invalidArgument(TypeError, `${name} to be ${choices.map((c) => JSON.stringify(c)).join(' or ')}`, describe(value), op);
  }
  return value as T;
}

export function checkInteger(value: unknown, name: string, min: number, fallback: number | undefined, op: string): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgument(TypeError, `${name} to be an integer >= ${min}`, describe(value), op);
  if (!Number.isInteger(value) || value < min) throw invalidArgument(RangeError, `${name} to be an integer >= ${min}`, describe(value), op);
  return value;
}

/** A Float32Array of exactly `length` finite-or-not floats (`what` says where the length comes from). */
export function checkVector(value: unknown, name: string, length: number, what: string, op: string): Float32Array {
  if (!isFloat32Array(value)) throw invalidArgument(TypeError, `${name} to be a Float32Array`, describe(value), op);
  if (value.length !== length) throw invalidArgument(RangeError, `${name}.length to equal ${what} (${length})`, describe(value.length), op);
  return value;
}

/** The caller's output buffer (exactly `length` floats, sharing no memory with an input), or null when absent. */
export function checkOutBuffer(value: unknown, length: number, what: string, inputs: ReadonlyArray<[string, ArrayBufferView]>, op: string): Float32Array | null {
  if (value === undefined) return null;
  const out = checkVector(value, 'out', length, what, op);
  for (const [name, input] of inputs) {
    if (overlaps(out, input)) throw invalidArgument(RangeError, `out not to share memory with ${name}`, 'an overlapping view of the same buffer', op);
  }
  return out;
}
