/**
 * KvCache: keys and values of past positions for incremental decoding, in one
 * preallocated [batch, numKvHeads, maxLength, dim] buffer each (float32, or
 * bfloat16 bit patterns in a Uint16Array to halve the bytes a step reads).
 * attention(q, cache) reads it in place; it never reallocates.
 */
import { nativeAddon } from './backend';
import { fromBfloat16, toBfloat16 } from './js/bf16';
import type { CachedKeysValues } from './options';
import type { Layout, Tensor } from './types';
import { MAX_ELEMENTS, type StorageDtype, checkChoice, checkDimEqual, checkInteger, checkOptionKeys, checkStorageDtype, checkTensor, describe, invalidArgument, isRecord } from './validate';

/** Storage type of a {@link KvCache}. */
export type KvCacheDtype = StorageDtype;

export interface KvCacheConfig {
  /** Batch rows (independent sequences). */
  batch: number;
  /** Key/value heads (numHeads for plain multi-head attention; fewer for GQA/MQA). */
  numKvHeads: number;
  /** Width of one key (the query/key head dim D). */
  headDim: number;
  /** Width of one value (Dv); default headDim. */
  valueDim?: number;
  /** Positions each batch row can hold; appending past it throws. */
  maxLength: number;
  /**
   * `'float32'` (default) or `'bfloat16'`: keys and values rounded to bfloat16
   * (nearest, ties to even) when appended, widened exactly in the kernel.
   * Halves the cache's memory and the bytes a decoding step reads; adds a
   * relative error of up to 2^-9 per stored value (outputs typically ~1e-3).
   */
  dtype?: KvCacheDtype;
}

/** Options of {@link KvCache.append}. */
export interface KvAppendOptions {
  /** Order of k and v: `'bhld'` ([B, Hkv, T, D], default) or `'blhd'` ([B, T, Hkv, D]). */
  layout?: Layout;
  /**
   * Per batch row, how many of the T given positions are real (the first
   * `counts[b]` of them); the rest are ignored. Default: all T for every row.
   */
  counts?: ArrayLike<number>;
}

/** @internal The config keys (KvCachePool adds its own). */
export const CONFIG_KEYS = ['batch', 'numKvHeads', 'headDim', 'valueDim', 'maxLength', 'dtype'] as const;
const APPEND_KEYS = ['layout', 'counts'] as const;

/**
 * @internal
 * Rows of keys or values to copy into the cache: element (b, t, hk, d) at
 * `offset + b*strideB + t*strideT + hk*strideH + d` of `data`.
 */
export interface KvRows {
  data: Float32Array;
  offset: number;
  strideB: number;
  strideT: number;
  strideH: number;
}

/**
 * Marks a KvCache across copies of this package (two installs, ESM and CJS
 * builds): instanceof fails there, the registry-wide symbol does not. Its
 * value is the version of what attention() and MultiHeadAttention read from a
 * cache: the config fields, `dtype`, `keys`, `values`, `lengths` and the
 * methods `view`, `widened`, `reading`, `checkCounts` and `appendRows`.
 * Bump it when any of these change meaning. Those methods are marked
 * `@internal`: stripped from the published declarations (not in the README),
 * but kept on every instance, as other copies of the package call them.
 */
const BRAND = Symbol.for('fused-attention.KvCache');
const BRAND_VERSION = 1;

/**
 * @internal
 * The cache if `value` is a KvCache of this or another copy of the package
 * with the same brand version; null if it is no KvCache at all. A cache of an
 * incompatible copy throws (`op` names the function in the message).
 */
export function asKvCache(value: unknown, op: string): KvCache | null {
  if (typeof value !== 'object' || value === null) return null;
  const version: unknown = (value as { [BRAND]?: unknown })[BRAND];
  if (version === undefined) return null;
  if (version !== BRAND_VERSION) {
    throw invalidArgument(
      TypeError,
      `cache to be a KvCache of this copy of fused-attention (brand version ${BRAND_VERSION})`,
      `a KvCache from another copy of fused-attention (brand version ${describe(version)})`,
      op,
    );
  }
  return value as KvCache;
}

export class KvCache {
  /** @internal See BRAND: lets asKvCache recognise caches made by other copies of the package. */
  get [BRAND](): number {
    return BRAND_VERSION;
  }

  readonly batch: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly maxLength: number;
  readonly dtype: KvCacheDtype;
  readonly #keys: Float32Array | Uint16Array;
  readonly #values: Float32Array | Uint16Array;
  readonly #lengths: Int32Array;
  /** Bumped by every write that is not an append past a row's end (reset): see stableRows. */
  #generation = 0;
  /** Whether `keys` or `values` was handed out: writes through them are invisible here (see stableRows). */
  #rawExposed = false;

  constructor(config: KvCacheConfig) {
    const op = 'KvCache';
    if (!isRecord(config)) throw invalidArgument(TypeError, 'config to be an object', describe(config), op);
    const c = checkOptionKeys(config, CONFIG_KEYS, op, 'config');
    this.batch = checkInteger(c.batch, 'config.batch', 1, undefined, op);
    this.numKvHeads = checkInteger(c.numKvHeads, 'config.numKvHeads', 1, undefined, op);
    this.headDim = checkInteger(c.headDim, 'config.headDim', 1, undefined, op);
    this.valueDim = checkInteger(c.valueDim, 'config.valueDim', 1, this.headDim, op);
    this.maxLength = checkInteger(c.maxLength, 'config.maxLength', 1, undefined, op);
    this.dtype = checkStorageDtype(c.dtype, 'config.dtype', op);
    const rows = this.batch * this.numKvHeads * this.maxLength;
    const width = Math.max(this.headDim, this.valueDim);
    if (rows * width > MAX_ELEMENTS) {
      throw invalidArgument(
        RangeError,
        `batch*numKvHeads*maxLength*max(headDim, valueDim) to be at most ${MAX_ELEMENTS}`,
        describe(rows * width),
        op,
      );
    }
    // SharedArrayBuffer memory can never be detached or resized, so the native
    // attentionAsync reads it in place instead of copying the whole cache per call.
    // A browser page that is not cross-origin isolated has no SharedArrayBuffer;
    // there (no native addon) plain memory does.
    const bytes = this.dtype === 'float32' ? 4 : 2;
    const Memory = typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : ArrayBuffer;
    const make = (n: number): Float32Array | Uint16Array =>
      this.dtype === 'float32' ? new Float32Array(new Memory(n * bytes)) : new Uint16Array(new Memory(n * bytes));
    this.#keys = make(rows * this.headDim);
    this.#values = make(rows * this.valueDim);
    this.#lengths = new Int32Array(this.batch);
  }

  /**
   * [batch, numKvHeads, maxLength, headDim]: Float32Array, or bfloat16 bits in
   * a Uint16Array. Once it (or `values`) has been read, the WebAssembly backend
   * copies the whole cache per call, as writes into it cannot be seen.
   */
  get keys(): Float32Array | Uint16Array {
    this.#rawExposed = true;
    return this.#keys;
  }

  /** [batch, numKvHeads, maxLength, valueDim], same element type as keys. */
  get values(): Float32Array | Uint16Array {
    this.#rawExposed = true;
    return this.#values;
  }

  /**
   * @internal
   * For a copy of the cache kept outside JS memory (the wasm backend's
   * resident K/V, lib/wasm-kv.ts): the raw buffers, and the positions
   * [0, lengths[b]) of batch row b, which stay as they are until
   * `generation` changes (append only writes past a row's end; reset()
   * bumps it). Null once `keys` or `values` has been read: the raw buffers
   * can be written without the cache knowing, so a copy can never again be
   * trusted (callers then copy the cache per call).
   */
  stableRows(): { generation: number; lengths: Int32Array; keys: Float32Array | Uint16Array; values: Float32Array | Uint16Array } | null {
    if (this.#rawExposed) return null;
    return { generation: this.#generation, lengths: Int32Array.from(this.#lengths), keys: this.#keys, values: this.#values };
  }

  /** Positions stored in each batch row (a copy). */
  get lengths(): Int32Array {
    return Int32Array.from(this.#lengths);
  }

  /** Positions stored in batch row b. */
  lengthOf(b: number): number {
    const row = checkInteger(b, 'b', 0, undefined, 'KvCache.lengthOf');
    if (row >= this.batch) throw invalidArgument(RangeError, `b to be less than batch (${this.batch})`, describe(row), 'KvCache.lengthOf');
    return this.#lengths[row];
  }

  /** Bytes held by keys and values. */
  get byteLength(): number {
    return this.#keys.byteLength + this.#values.byteLength;
  }

  /** attentionAsync calls reading this cache that have not settled yet. */
  #pending = 0;

  /**
   * Empties every row (the memory stays allocated). Refused while an
   * attentionAsync call reads the cache: new appends would overwrite the
   * positions it reads. (append itself is safe then: a call reads only the
   * positions stored when it was made.)
   */
  reset(): void {
    if (this.#pending > 0) {
      throw invalidArgument(Error, 'no attentionAsync call to be reading the cache', `${this.#pending} pending`, 'KvCache.reset');
    }
    this.#lengths.fill(0);
    this.#generation++;
  }

  /** Callbacks of {@link whenIdle}, run when the last pending reader settles. */
  #onIdle: Array<() => void> = [];

  /** @internal Runs `call` while counting it as a pending reader (see reset). */
  async reading<T>(call: Promise<T>): Promise<T> {
    this.#pending++;
    try {
      return await call;
    } finally {
      if (--this.#pending === 0) for (const resolve of this.#onIdle.splice(0)) resolve();
    }
  }

  /** attentionAsync calls reading the cache now; reset() is refused while this is not 0. */
  get pendingReads(): number {
    return this.#pending;
  }

  /** Resolves once no attentionAsync call reads the cache (at once when none does). */
  whenIdle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onIdle.push(resolve));
  }

  /**
   * Appends T positions to every batch row: k [B, Hkv, T, D] and v [B, Hkv, T, Dv]
   * (or [B, T, Hkv, ·] with layout 'blhd'; rank 3 when batch is 1). Row b's
   * positions go at lengths[b] ..; with `counts`, only the first counts[b].
   * Throws (and writes nothing) when a row would exceed maxLength.
   */
  append(k: Tensor, v: Tensor, options?: KvAppendOptions): void {
    const op = 'KvCache.append';
    const kt = checkTensor(k, 'k', 3, 4, op);
    const vt = checkTensor(v, 'v', 3, 4, op);
    const opts = checkOptionKeys(options, APPEND_KEYS, op);
    const layout = checkChoice(opts.layout, 'options.layout', ['bhld', 'blhd'] as const, 'bhld', op);
    const rank = kt.shape.length;
    checkDimEqual('v.shape.length', vt.shape.length, 'k.shape.length', rank, op);
    const full = (shape: number[]): number[] => (rank === 4 ? shape : [1, ...shape]);
    const ks = full(kt.shape);
    const vs = full(vt.shape);
    const [hAxis, tAxis] = layout === 'bhld' ? [1, 2] : [2, 1];
    const expect = (name: string, shape: number[], axis: number, what: string, value: number): void =>
      checkDimEqual(`${name}.shape[${rank === 4 ? axis : axis - 1}]`, shape[axis], what, value, op);
    if (rank === 3 && this.batch !== 1) {
      throw invalidArgument(RangeError, `k to be rank 4 ([B, ...]) for a cache of batch ${this.batch}`, 'a rank-3 tensor', op);
    }
    if (rank === 4) expect('k', ks, 0, 'cache.batch', this.batch);
    expect('k', ks, hAxis, 'cache.numKvHeads', this.numKvHeads);
    expect('k', ks, 3, 'cache.headDim', this.headDim);
    const T = ks[tAxis];
    if (rank === 4) expect('v', vs, 0, 'cache.batch', this.batch);
    expect('v', vs, hAxis, 'cache.numKvHeads', this.numKvHeads);
    expect('v', vs, tAxis, `k's length`, T);
    expect('v', vs, 3, 'cache.valueDim', this.valueDim);
    const counts = this.checkCounts(opts.counts, T, op);
    const Hkv = this.numKvHeads;
    const rows = (data: Float32Array, width: number): KvRows =>
      layout === 'bhld'
        ? { data, offset: 0, strideB: Hkv * T * width, strideT: width, strideH: T * width }
        : { data, offset: 0, strideB: T * Hkv * width, strideT: Hkv * width, strideH: width };
    this.appendRows(rows(kt.data, this.headDim), rows(vt.data, this.valueDim), counts);
  }

  /**
   * @internal
   * Checks counts (undefined = T for every row) against T and the room left
   * in each row; returns them as an Int32Array.
   */
  checkCounts(value: unknown, T: number, op: string): Int32Array {
    const counts = new Int32Array(this.batch);
    if (value === undefined) {
      counts.fill(T);
    } else {
      if (typeof value !== 'object' || value === null || typeof (value as ArrayLike<number>).length !== 'number') {
        throw invalidArgument(TypeError, 'options.counts to be an array of integers', describe(value), op);
      }
      const list = value as ArrayLike<unknown>;
      checkDimEqual('options.counts.length', list.length, 'cache.batch', this.batch, op);
      for (let b = 0; b < this.batch; b++) {
        const n = list[b];
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > T) {
          throw invalidArgument(typeof n === 'number' ? RangeError : TypeError, `options.counts[${b}] to be an integer from 0 to T (${T})`, describe(n), op);
        }
        counts[b] = n;
      }
    }
    for (let b = 0; b < this.batch; b++) {
      if (this.#lengths[b] + counts[b] > this.maxLength) {
        throw invalidArgument(
          RangeError,
          `at most ${this.maxLength - this.#lengths[b]} new positions for batch row ${b} (length ${this.#lengths[b]}, maxLength ${this.maxLength}; the cache never grows)`,
          describe(counts[b]),
          op,
        );
      }
    }
    return counts;
  }

  /**
   * @internal
   * Copies counts[b] positions of each batch row from already-checked strided
   * sources (MultiHeadAttention passes views into its projection buffer) and
   * advances lengths. Callers have run checkCounts.
   */
  appendRows(k: KvRows, v: KvRows, counts: Int32Array): void {
    this.copyRows(this.#keys, k, this.headDim, counts);
    this.copyRows(this.#values, v, this.valueDim, counts);
    for (let b = 0; b < this.batch; b++) this.#lengths[b] += counts[b];
  }

  /** @internal */
  private copyRows(dst: Float32Array | Uint16Array, src: KvRows, width: number, counts: Int32Array): void {
    const { maxLength, numKvHeads: Hkv } = this;
    // bfloat16: gather the new rows into a float32 staging block laid out like
    // the cache, then round it in one conversion per (b, hk) run of rows.
    const native = nativeAddon();
    for (let b = 0; b < this.batch; b++) {
      const n = counts[b];
      if (n === 0) continue;
      const staging = dst instanceof Float32Array ? null : new Float32Array(n * width);
      for (let hk = 0; hk < Hkv; hk++) {
        const at = ((b * Hkv + hk) * maxLength + this.#lengths[b]) * width;
        const from = src.offset + b * src.strideB + hk * src.strideH;
        const target = staging ?? (dst as Float32Array);
        const base = staging === null ? at : 0;
        if (src.strideT === width) {
          target.set(src.data.subarray(from, from + n * width), base);
        } else {
          for (let t = 0; t < n; t++) target.set(src.data.subarray(from + t * src.strideT, from + t * src.strideT + width), base + t * width);
        }
        if (staging !== null) {
          const out = (dst as Uint16Array).subarray(at, at + n * width);
          if (native !== null) native.toBfloat16(staging, out);
          else toBfloat16(staging, out);
        }
      }
    }
  }

  /**
   * @internal
   * The cache as attention's keys and values: query t of row b sits at
   * position `queryStart[b] + t` (default `lengths[b] - Lq`: the queries are
   * the row's last Lq positions).
   */
  view(queryStart?: Int32Array): CachedKeysValues {
    const keyLengths = Int32Array.from(this.#lengths);
    const rowOffsets = queryStart !== undefined ? Int32Array.from(queryStart) : null;
    return {
      k: this.#keys,
      v: this.#values,
      B: this.batch,
      Hkv: this.numKvHeads,
      Lk: this.maxLength,
      D: this.headDim,
      Dv: this.valueDim,
      keyLengths,
      rowOffsets,
    };
  }

  /** @internal Keys and values of [0, max length) widened to float32 (the JS backend's view of a bfloat16 cache). */
  widened(): { k: Float32Array; v: Float32Array } {
    if (this.#keys instanceof Float32Array && this.#values instanceof Float32Array) return { k: this.#keys, v: this.#values };
    const k = new Float32Array(this.#keys.length);
    const v = new Float32Array(this.#values.length);
    const used = this.#lengths.reduce((a, n) => Math.max(a, n), 0);
    for (let bh = 0; bh < this.batch * this.numKvHeads; bh++) {
      const ko = bh * this.maxLength * this.headDim;
      const vo = bh * this.maxLength * this.valueDim;
      fromBfloat16((this.#keys as Uint16Array).subarray(ko, ko + used * this.headDim), k.subarray(ko, ko + used * this.headDim));
      fromBfloat16((this.#values as Uint16Array).subarray(vo, vo + used * this.valueDim), v.subarray(vo, vo + used * this.valueDim));
    }
    return { k, v };
  }
}
