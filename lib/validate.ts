/**
 * Argument checks. Every check runs once, here in TypeScript, and fails with
 * one sentence: `<op>: expected <what> but received <what>` (sharp's wording,
 * PyTorch's op prefix). TypeError for a wrong kind of value, RangeError for a
 * wrong size or range. The native binding only re-checks what protects memory.
 */
import type { Layout, Tensor } from './types';

/**
 * The typed-array kind of `value` ('Float32Array', ...), else undefined: the
 * %TypedArray%.prototype[Symbol.toStringTag] getter reads the array's internal
 * slot, so it sees arrays of any realm (worker, vm, iframe) and cannot be
 * fooled by a look-alike object. What node:util's types.is*Array do, without
 * node:util, so the browser build shares this file.
 */
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag)!.get as (this: unknown) => string | undefined;

function typedArrayKind(value: unknown): string | undefined {
  return typedArrayTag.call(value);
}

/**
 * Largest element count of one tensor (q, k, v, mask or the output): 2**32.
 * Far beyond what fits in memory for attention today, and it keeps every flat
 * index an exact integer in both the JS kernel and the native int64 path.
 */
export const MAX_ELEMENTS = 2 ** 32;

/**
 * Largest B*H*Lq*Lk with returnWeights: 2**28 floats (1 GiB). Beyond that the
 * materialised weights are almost surely a mistake (use returnLse instead).
 */
export const MAX_WEIGHTS = 2 ** 28;

/**
 * Range of scale and softcap: normal float32 numbers (the native kernels
 * compute in float32, JS in float64, so a value float32 cannot hold would
 * make the two differ) that stay finite when the kernels multiply them by
 * log2(e) (up to 1.45 · 2**127 < the float32 maximum).
 */
export const MIN_FLOAT32_FACTOR = 2 ** -126;
export const MAX_FLOAT32_FACTOR = 2 ** 127;

/** Option keys accepted by attention(); anything else is a typo (`casual`). */
export const OPTION_KEYS: readonly string[] = [
  'scale',
  'causal',
  'mask',
  'keyPadding',
  'keyLengths',
  'layout',
  'window',
  'alibiSlopes',
  'softcap',
  'returnLse',
  'returnWeights',
  'out',
];

export const LAYOUTS: readonly Layout[] = ['bhld', 'blhd'];

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

/** Typed arrays up to this length are rendered with their values ("Float32Array [NaN]"), longer ones by length. */
const SHOWN_ELEMENTS = 4;

/**
 * Renders a received value for a message: numbers as written, strings quoted,
 * short typed arrays with their values, longer ones as "Float32Array(12)",
 * other objects by class.
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typedArrayKind(value) !== undefined) {
    const array = value as Float32Array;
    const name = array.constructor.name;
    if (array.length > SHOWN_ELEMENTS) return `${name}(${array.length})`;
    return `${name} [${Array.from(value as ArrayLike<number | bigint>, describe).join(', ')}]`;
  }
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
  return typedArrayKind(value) === 'Float32Array';
}

export function isUint8Array(value: unknown): value is Uint8Array {
  return typedArrayKind(value) === 'Uint8Array';
}

export function isInt32Array(value: unknown): value is Int32Array {
  return typedArrayKind(value) === 'Int32Array';
}

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

function isIntegerAtLeast(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min;
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

/** "3 or 4", "2, 3 or 4"; "at least 1" when maxRank is Infinity. */
function listRanks(minRank: number, maxRank: number): string {
  if (maxRank === Infinity) return `at least ${minRank}`;
  const ranks: number[] = [];
  for (let r = minRank; r <= maxRank; r++) ranks.push(r);
  return ranks.length === 1 ? String(ranks[0]) : `${ranks.slice(0, -1).join(', ')} or ${ranks[ranks.length - 1]}`;
}

/** Checks a tensor's object and shape (not its data); returns the shape and its element count. `minDim`: 0 where empty tensors are accepted. */
function checkShape(value: unknown, name: string, minRank: number, maxRank: number, kind: string, op: string, minDim: 0 | 1): [number[], number] {
  if (!isRecord(value)) {
    throw invalidArgument(TypeError, `${name} to be an object { data: ${kind}, shape: number[] }`, describe(value), op);
  }
  const shape = value.shape;
  if (!Array.isArray(shape)) {
    throw invalidArgument(TypeError, `${name}.shape to be an array of integers`, describe(shape), op);
  }
  if (shape.length < minRank || shape.length > maxRank) {
    throw invalidArgument(RangeError, `${name}.shape.length to be ${listRanks(minRank, maxRank)}`, describe(shape.length), op);
  }
  let elements = 1;
  for (let i = 0; i < shape.length; i++) {
    const dim: unknown = shape[i];
    if (!isIntegerAtLeast(dim, minDim)) {
      const ErrorType = typeof dim === 'number' ? RangeError : TypeError;
      throw invalidArgument(ErrorType, `${name}.shape[${i}] to be an integer >= ${minDim}`, describe(dim), op);
    }
    elements *= dim;
  }
  if (elements > MAX_ELEMENTS) {
    throw invalidArgument(RangeError, `${name}.shape to describe at most ${MAX_ELEMENTS} elements`, describe(elements), op);
  }
  return [shape as number[], elements];
}

function checkDataLength(data: ArrayBufferView & { length: number }, name: string, elements: number, op: string): void {
  if (data.length !== elements) {
    throw invalidArgument(RangeError, `${name}.data.length to equal the product of ${name}.shape (${elements})`, describe(data.length), op);
  }
}

/**
 * Checks that `value` is a Tensor of rank minRank..maxRank (maxRank may be
 * Infinity) with integer dims >= minDim (1, or 0 where the op accepts empty
 * tensors, as PyTorch does) and a Float32Array of exactly the product of its
 * shape; `op` names the function in messages.
 */
export function checkTensor(value: unknown, name: string, minRank: number, maxRank: number, op = 'attention', minDim: 0 | 1 = 1): Tensor {
  const [shape, elements] = checkShape(value, name, minRank, maxRank, 'Float32Array', op, minDim);
  const data = (value as Record<string, unknown>).data;
  if (!isFloat32Array(data)) {
    throw invalidArgument(TypeError, `${name}.data to be a Float32Array`, describe(data), op);
  }
  checkDataLength(data, name, elements, op);
  return { data, shape };
}

/** The `mask` option (`name` and `op` as the caller knows them): a tensor of rank 1..4 whose data is additive (Float32Array) or boolean (Uint8Array). */
export function checkMask(value: unknown, name = 'mask', op = 'attention'): { data: Float32Array | Uint8Array; shape: number[] } {
  const [shape, elements] = checkShape(value, name, 1, 4, 'Float32Array | Uint8Array', op, 0);
  const data = (value as Record<string, unknown>).data;
  if (!isFloat32Array(data) && !isUint8Array(data)) {
    throw invalidArgument(TypeError, `${name}.data to be a Float32Array (additive) or a Uint8Array (boolean)`, describe(data), op);
  }
  checkDataLength(data, name, elements, op);
  return { data, shape };
}

/** Cross-tensor size check: `k.shape[3] to equal q.shape[3] (64)`. */
export function checkDimEqual(name: string, actual: number, refName: string, ref: number, op = 'attention'): void {
  if (actual !== ref) throw invalidArgument(RangeError, `${name} to equal ${refName} (${ref})`, describe(actual), op);
}

/** undefined → {}; otherwise a plain object whose keys are all in `keys` (`name`: "options", "config", "weights.bn1" ...). */
export function checkOptionKeys(value: unknown, keys: readonly string[], op = 'attention', name = 'options'): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw invalidArgument(TypeError, `${name} to be an object`, describe(value), op);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw invalidArgument(TypeError, `${name} keys to be among ${keys.join(', ')}`, describe(key), op);
  }
  return value;
}

/**
 * A factor the kernels apply in float32 (scale, softcap), `fallback` when
 * undefined: a number from MIN_FLOAT32_FACTOR to MAX_FLOAT32_FACTOR, so that
 * both backends compute the same thing (1e39 would overflow float32, 1e-46
 * round to 0).
 */
export function checkFloat32Factor(value: unknown, name: string, fallback: number, op = 'attention'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgument(TypeError, `${name} to be a number`, describe(value), op);
  if (!(value >= MIN_FLOAT32_FACTOR && value <= MAX_FLOAT32_FACTOR)) {
    throw invalidArgument(RangeError, `${name} to be a number from 2**-126 to 2**127 (the native kernels compute in float32)`, describe(value), op);
  }
  return value;
}

/** A finite number > 0 (an epsilon), or `fallback` when undefined. */
export function checkPositive(value: unknown, name: string, fallback: number, op: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgument(TypeError, `${name} to be a number`, describe(value), op);
  if (!Number.isFinite(value) || value <= 0) throw invalidArgument(RangeError, `${name} to be a finite number > 0`, describe(value), op);
  return value;
}

/** false, true (bottom-right aligned) or 'top-left'. */
export function checkCausal(value: unknown): boolean | 'top-left' {
  if (value === undefined) return false;
  if (typeof value !== 'boolean' && value !== 'top-left') {
    throw invalidArgument(TypeError, 'causal to be true, false or "top-left"', describe(value));
  }
  return value;
}

/** One of `choices` (a layout, a dtype, an axis), or `fallback` when undefined and there is one. */
export function checkChoice<T extends string>(value: unknown, name: string, choices: readonly T[], fallback: T | undefined, op = 'attention'): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!choices.includes(value as T)) {
    throw invalidArgument(TypeError, `${name} to be ${choices.map((c) => JSON.stringify(c)).join(' or ')}`, describe(value), op);
  }
  return value as T;
}

/** What a KvCache's K/V or packed linear weights are stored as: float32, or bfloat16 (rounded once, widened exactly when read). */
export type StorageDtype = 'float32' | 'bfloat16';

/** A StorageDtype, float32 when undefined. */
export function checkStorageDtype(value: unknown, name: string, op: string): StorageDtype {
  return checkChoice(value, name, ['float32', 'bfloat16'] as const, 'float32', op);
}

/** A boolean (returnLse, causal of a layer ...), or `fallback` when undefined. */
export function checkBoolean(value: unknown, name: string, fallback = false, op = 'attention'): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgument(TypeError, `${name} to be a boolean`, describe(value), op);
  return value;
}

/**
 * An integer from `min` to `max`, or `fallback` when undefined and there is
 * one. `minText` says where min comes from in messages ("outFeatures (8)").
 */
export function checkInteger(value: unknown, name: string, min: number, fallback: number | undefined, op: string, minText = String(min), max = Infinity): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgument(TypeError, `${name} to be an integer >= ${minText}`, describe(value), op);
  if (!Number.isInteger(value) || value < min) throw invalidArgument(RangeError, `${name} to be an integer >= ${minText}`, describe(value), op);
  if (value > max) throw invalidArgument(RangeError, `${name} to be at most ${max}`, describe(value), op);
  return value;
}

/** The sliding window [left, right], each an integer >= -1 (-1 = unbounded); null when absent. */
export function checkWindow(value: unknown): [number, number] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) {
    throw invalidArgument(TypeError, 'window to be an array [left, right] of integers >= -1', describe(value));
  }
  if (value.length !== 2) throw invalidArgument(RangeError, 'window.length to be 2', describe(value.length));
  for (let side = 0; side < 2; side++) {
    const bound: unknown = value[side];
    if (typeof bound !== 'number') throw invalidArgument(TypeError, `window[${side}] to be an integer >= -1`, describe(bound));
    if (!Number.isInteger(bound) || bound < -1) {
      throw invalidArgument(RangeError, `window[${side}] to be an integer >= -1`, describe(bound));
    }
  }
  return [value[0] as number, value[1] as number];
}

/** keyPadding: a Uint8Array of B*Lk flags (nonzero = real key); null when absent. `what` spells out B*Lk in messages. */
export function checkKeyPadding(value: unknown, B: number, Lk: number, op = 'attention', name = 'keyPadding', what = `B*Lk (${B * Lk})`): Uint8Array | null {
  if (value === undefined || value === null) return null;
  if (!isUint8Array(value)) throw invalidArgument(TypeError, `${name} to be a Uint8Array`, describe(value), op);
  if (value.length !== B * Lk) throw invalidArgument(RangeError, `${name}.length to equal ${what}`, describe(value.length), op);
  return value;
}

/** keyLengths: an Int32Array of B lengths, each in [0, Lk]; null when absent. */
export function checkKeyLengths(value: unknown, B: number, Lk: number): Int32Array | null {
  if (value === undefined || value === null) return null;
  if (!isInt32Array(value)) throw invalidArgument(TypeError, 'keyLengths to be an Int32Array', describe(value));
  if (value.length !== B) throw invalidArgument(RangeError, `keyLengths.length to equal B (${B})`, describe(value.length));
  for (let b = 0; b < B; b++) {
    if (value[b] < 0 || value[b] > Lk) {
      throw invalidArgument(RangeError, `keyLengths[${b}] to be an integer from 0 to Lk (${Lk})`, describe(value[b]));
    }
  }
  return value;
}

/**
 * alibiSlopes: a Float32Array of H slopes; null when absent. A query and a
 * key it sees are less than Lq + Lk apart, so |slope| <= 2**127 / (Lq + Lk)
 * keeps slope · distance (times log2(e), natively) finite in float32.
 */
export function checkAlibiSlopes(value: unknown, H: number, Lq: number, Lk: number): Float32Array | null {
  if (value === undefined || value === null) return null;
  if (!isFloat32Array(value)) throw invalidArgument(TypeError, 'alibiSlopes to be a Float32Array', describe(value));
  if (value.length !== H) throw invalidArgument(RangeError, `alibiSlopes.length to equal H (${H})`, describe(value.length));
  const bound = MAX_FLOAT32_FACTOR / Math.max(1, Lq + Lk);
  for (let h = 0; h < H; h++) {
    if (!(Math.abs(value[h]) <= bound)) {
      throw invalidArgument(
        RangeError,
        `|alibiSlopes[${h}]| to be at most 2**127 / (Lq + Lk) = ${bound} (slope times a key distance must stay finite in float32)`,
        describe(value[h]),
      );
    }
  }
  return value;
}

/**
 * The caller's output buffer, or null when absent. It must hold exactly
 * `length` floats (`what` says where the length comes from) and must not
 * share memory with any input: the kernels write rows while still reading others.
 */
export function checkOut(value: unknown, length: number, what: string, inputs: ReadonlyArray<[string, ArrayBufferView]>, op = 'attention'): Float32Array | null {
  if (value === undefined) return null;
  if (!isFloat32Array(value)) throw invalidArgument(TypeError, 'out to be a Float32Array', describe(value), op);
  if (value.length !== length) throw invalidArgument(RangeError, `out.length to equal ${what} (${length})`, describe(value.length), op);
  checkDisjoint(value, inputs, op);
  return value;
}

/** An output `out` shares no memory with any of `inputs`. */
export function checkDisjoint(out: Float32Array, inputs: ReadonlyArray<[string, ArrayBufferView]>, op: string): void {
  for (const [name, input] of inputs) {
    if (overlaps(out, input)) throw invalidArgument(RangeError, `out not to share memory with ${name}`, 'an overlapping view of the same buffer', op);
  }
}

/** Thread count of setThreads(): an integer 1..256. */
export function checkThreads(value: unknown): number {
  if (typeof value !== 'number') throw invalidArgument(TypeError, 'n to be a number', describe(value), 'setThreads');
  if (!Number.isInteger(value) || value < 1 || value > 256) {
    throw invalidArgument(RangeError, 'n to be an integer from 1 to 256', describe(value), 'setThreads');
  }
  return value;
}

/** init()'s options; wasmBase as a URL string ('/assets/' gets a trailing '/' added when missing, so it names a folder). */
export function checkInitOptions(value: unknown): { wasmBase: string | null } {
  const options = checkOptionKeys(value, ['wasmBase'], 'init');
  const base = options.wasmBase;
  if (base === undefined) return { wasmBase: null };
  const href = typeof base === 'string' ? base : isRecord(base) && typeof base.href === 'string' ? base.href : null;
  if (href === null) throw invalidArgument(TypeError, 'options.wasmBase to be a string or URL', describe(base), 'init');
  return { wasmBase: href.endsWith('/') ? href : `${href}/` };
}

/** "[8, 16]". */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The shape without its trailing size-1 axes: [8, 16, 1, 1] → [8, 16]. */
function withoutTrailingOnes(shape: readonly number[]): readonly number[] {
  let rank = shape.length;
  while (rank > 0 && shape[rank - 1] === 1) rank--;
  return shape.slice(0, rank);
}

/**
 * A layer's weight (see WeightTensor): a bare Float32Array of exactly
 * prod(shape) floats, or a tensor { data, shape } whose shape is `shape` up to
 * trailing size-1 axes (Conv2d's [Cout, Cin, 1, 1] may come as [Cout, Cin]).
 * Returns a private copy: layers copy their weights at construction and never
 * keep the caller's arrays. `shapeText` names the axes in messages
 * ("[numHeads*headDim, dModel]").
 */
export function checkWeight(value: unknown, name: string, shape: readonly number[], shapeText: string, op: string): Float32Array {
  const length = shape.reduce((n, d) => n * d, 1);
  if (isFloat32Array(value)) {
    if (value.length !== length) {
      throw invalidArgument(RangeError, `${name}.length to equal ${length} (${shapeText} = ${formatShape(shape)})`, describe(value.length), op);
    }
    return value.slice();
  }
  if (!isRecord(value)) {
    const expected = `${name} to be a Float32Array of ${length} floats or a tensor { data, shape: ${formatShape(shape)} } (${shapeText})`;
    throw invalidArgument(TypeError, expected, describe(value), op);
  }
  const t = checkTensor(value, name, 1, Infinity, op);
  const want = withoutTrailingOnes(shape);
  const got = withoutTrailingOnes(t.shape);
  const matches = got.length === want.length && want.every((d, i) => got[i] === d);
  if (!matches) throw invalidArgument(RangeError, `${name}.shape to be ${formatShape(shape)} (${shapeText})`, formatShape(t.shape), op);
  return t.data.slice();
}

/** Every element of a weight finite (and >= min when given); `name[i]` in the message. */
export function checkFiniteElements(values: Float32Array, name: string, op: string, min = -Infinity): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]) || values[i] < min) {
      const expected = min === -Infinity ? 'finite' : `finite and >= ${min}`;
      throw invalidArgument(RangeError, `${name}[${i}] to be ${expected}`, describe(values[i]), op);
    }
  }
}
