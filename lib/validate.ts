/**
 * Argument checks. Every check runs once, here in TypeScript, and fails with
 * one sentence: `<op>: expected <what> but received <what>` (sharp's wording,
 * PyTorch's op prefix). TypeError for a wrong kind of value, RangeError for a
 * wrong size or range. The native binding only re-checks what protects memory.
 */
import { types } from 'node:util';
import type { AttentionOptions, Tensor } from './types';

/**
 * Largest element count of one tensor (q, k, v, mask or the output): 2**32.
 * Far beyond what fits in memory for attention today, and it keeps every flat
 * index an exact integer in both the JS kernel and the native int64 path.
 */
export const MAX_ELEMENTS = 2 ** 32;

/** Option keys accepted by attention(); anything else is a typo (`casual`). */
export const OPTION_KEYS: readonly string[] = ['scale', 'causal', 'mask', 'out'];

type ErrorClass = ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor;

/** The one factory of argument errors. `received` is already rendered (see describe). */
export function invalidArgument(
  ErrorType: ErrorClass,
  expected: string,
  received: string,
  op = 'attention',
): Error {
  return new ErrorType(`${op}: expected ${expected} but received ${received}`);
}

/** Renders a received value for a message: numbers as written, strings quoted, objects by class. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'object': {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== '' ? name : 'Object';
    }
    default:
      return String(value); // undefined, boolean, symbol
  }
}

// ---- predicates -------------------------------------------------------------

/** A non-null object that is not an array or typed array (a common mix-up for a Tensor). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** True for Float32Arrays of any realm (worker, vm); instanceof would miss those. */
export function isFloat32Array(value: unknown): value is Float32Array {
  return types.isFloat32Array(value);
}

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/** True when two views share at least one byte of the same buffer. */
export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}

// ---- checks -----------------------------------------------------------------

/** "3 or 4", "2, 3 or 4". */
function listRanks(minRank: number, maxRank: number): string {
  const ranks: number[] = [];
  for (let r = minRank; r <= maxRank; r++) ranks.push(r);
  return ranks.length === 1 ? String(ranks[0]) : `${ranks.slice(0, -1).join(', ')} or ${ranks[ranks.length - 1]}`;
}

/**
 * Checks that `value` is a Tensor of rank minRank..maxRank with positive
 * integer dims and a Float32Array of exactly the product of its shape.
 */
export function checkTensor(value: unknown, name: string, minRank: number, maxRank: number): Tensor {
  if (!isRecord(value)) {
    throw invalidArgument(TypeError, `${name} to be an object { data: Float32Array, shape: number[] }`, describe(value));
  }
  const shape = value.shape;
  if (!Array.isArray(shape)) {
    throw invalidArgument(TypeError, `${name}.shape to be an array of integers`, describe(shape));
  }
  if (shape.length < minRank || shape.length > maxRank) {
    throw invalidArgument(RangeError, `${name}.shape.length to be ${listRanks(minRank, maxRank)}`, describe(shape.length));
  }
  let elements = 1;
  for (let i = 0; i < shape.length; i++) {
    const dim: unknown = shape[i];
    if (!isPositiveInteger(dim)) {
      const ErrorType = typeof dim === 'number' ? RangeError : TypeError;
      throw invalidArgument(ErrorType, `${name}.shape[${i}] to be an integer >= 1`, describe(dim));
    }
    elements *= dim;
  }
  if (elements > MAX_ELEMENTS) {
    throw invalidArgument(RangeError, `${name}.shape to describe at most ${MAX_ELEMENTS} elements`, describe(elements));
  }
  const data = value.data;
  if (!isFloat32Array(data)) {
    throw invalidArgument(TypeError, `${name}.data to be a Float32Array`, describe(data));
  }
  if (data.length !== elements) {
    throw invalidArgument(RangeError, `${name}.data.length to equal the product of ${name}.shape (${elements})`, describe(data.length));
  }
  return { data, shape: shape as number[] };
}

/** Cross-tensor size check: `k.shape[3] to equal q.shape[3] (64)`. */
export function checkDimEqual(name: string, actual: number, refName: string, ref: number): void {
  if (actual !== ref) throw invalidArgument(RangeError, `${name} to equal ${refName} (${ref})`, describe(actual));
}

/** Options must be undefined or a plain object with only known keys. */
export function checkOptions(value: unknown): AttentionOptions {
  if (value === undefined) return {};
  if (!isRecord(value)) throw invalidArgument(TypeError, 'options to be an object', describe(value));
  for (const key of Object.keys(value)) {
    if (!OPTION_KEYS.includes(key)) {
      throw invalidArgument(TypeError, `options keys to be among ${OPTION_KEYS.join(', ')}`, describe(key));
    }
  }
  return value as AttentionOptions;
}

/** Returns the scale, or null when absent (the caller defaults it to 1/sqrt(D)). */
export function checkScale(value: unknown): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number') throw invalidArgument(TypeError, 'scale to be a number', describe(value));
  if (!Number.isFinite(value) || value <= 0) {
    throw invalidArgument(RangeError, 'scale to be a finite number > 0', describe(value));
  }
  return value;
}

export function checkCausal(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidArgument(TypeError, 'causal to be a boolean', describe(value));
  return value;
}

/**
 * Returns the caller's output buffer, or null when absent. It must hold
 * exactly `length` floats and must not share memory with any input: the
 * kernels write rows while still reading others.
 */
export function checkOut(value: unknown, length: number, inputs: ReadonlyArray<[string, Float32Array]>): Float32Array | null {
  if (value === undefined) return null;
  if (!isFloat32Array(value)) throw invalidArgument(TypeError, 'out to be a Float32Array', describe(value));
  if (value.length !== length) throw invalidArgument(RangeError, `out.length to equal B*H*Lq*Dv (${length})`, describe(value.length));
  for (const [name, input] of inputs) {
    if (overlaps(value, input)) {
      throw invalidArgument(RangeError, `out not to share memory with ${name}`, 'an overlapping view of the same buffer');
    }
  }
  return value;
}

/** Thread count of setThreads(): an integer 1..256. */
export function checkThreads(value: unknown): number {
  if (typeof value !== 'number') throw invalidArgument(TypeError, 'n to be a number', describe(value), 'setThreads');
  if (!Number.isInteger(value) || value < 1 || value > 256) {
    throw invalidArgument(RangeError, 'n to be an integer from 1 to 256', describe(value), 'setThreads');
  }
  return value;
}
