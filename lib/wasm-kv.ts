/**
 * KvCaches resident in the WebAssembly module's memory: a decoding step
 * against a cache would otherwise copy the whole cache into the module per
 * call (128 MiB for 32 heads × 4096 positions × 128 dims in float32). A
 * mirror is one fa_alloc block per (module instance, cache), the cache's
 * [B, Hkv, maxLength, ·] keys then values, kept equal to the cache's stored
 * positions by copying only the rows appended since the last call (all of
 * them again after a reset: KvCache.stableRows says which rows are final).
 *
 * Bounded: mirrors of one instance hold at most `budgetBytes`, least
 * recently used evicted first; one that cannot be allocated is no mirror
 * (the caller copies the cache per call, as before). A mirror is freed when
 * its cache is garbage-collected, when it is evicted, and when its cache's
 * raw buffers have been handed out (stableRows null). The module's memory
 * keeps its high-water mark, as for any call.
 */
import type { KvCache } from './kv-cache';
import type { WasmExports } from './wasm';

/** Where a resident cache lies in the module's memory: absolute pointers, lengths in elements (the whole [B, Hkv, maxLength, ·] buffer). */
export interface ResidentKv {
  k: number;
  kLength: number;
  v: number;
  vLength: number;
}

/** The mirror of one cache in one module instance. */
interface Mirror {
  /** The fa_alloc block: keys at 0, values at valuesOffset; 0 once freed. */
  block: number;
  bytes: number;
  valuesOffset: number;
  /** The cache's generation the rows below belong to. */
  generation: number;
  /** Positions of each batch row copied in, equal to the cache's. */
  synced: Int32Array;
}

/** What the mirrors of one instance may hold by default: a quarter of wasm32's 4 GiB, leaving the rest for the calls themselves. */
export const KV_MIRROR_BUDGET = 2 ** 30;

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

export class KvMirrors {
  readonly #exports: WasmExports;
  readonly #byCache = new WeakMap<KvCache, Mirror>();
  /** Allocated mirrors, least recently used first. */
  readonly #live = new Set<Mirror>();
  #liveBytes = 0;
  /** Frees a mirror whose cache was garbage-collected (the held Mirror does not reference the cache). */
  readonly #registry = new FinalizationRegistry<Mirror>((mirror) => this.#free(mirror));
  #budget = KV_MIRROR_BUDGET;
  /** Bytes copied into mirrors so far (see WasmKernels.copiedBytes). */
  copiedBytes = 0;

  constructor(exports: WasmExports) {
    this.#exports = exports;
  }

  /** Most bytes the allocated mirrors may hold together; lowering it frees the least recently used ones over it. */
  get budgetBytes(): number {
    return this.#budget;
  }

  set budgetBytes(bytes: number) {
    this.#budget = bytes;
    this.#trim(0);
  }

  /** Mirrors allocated now, and their bytes. */
  get live(): { count: number; bytes: number } {
    return { count: this.#live.size, bytes: this.#liveBytes };
  }

  /**
   * The mirror of `cache`, holding every position stored now and so every
   * position a call with these key lengths reads; null when there is none
   * to trust or allocate (the caller copies k and v as for plain arrays).
   * `k` and `v` are the arrays the call reads, which must be the cache's own.
   */
  resident(cache: KvCache, k: ArrayBufferView, v: ArrayBufferView, keyLengths: Int32Array | null): ResidentKv | null {
    const rows = cache.stableRows();
    let mirror = this.#byCache.get(cache);
    if (rows === null) {
      if (mirror !== undefined) this.#free(mirror);
      return null;
    }
    if (k !== rows.keys || v !== rows.values) return null;
    if (keyLengths !== null && keyLengths.some((n, b) => n > rows.lengths[b])) return null;
    if (mirror === undefined) {
      mirror = { block: 0, bytes: 0, valuesOffset: align64(rows.keys.byteLength), generation: -1, synced: new Int32Array(cache.batch) };
      mirror.bytes = mirror.valuesOffset + rows.values.byteLength;
      this.#byCache.set(cache, mirror);
    }
    if (mirror.block === 0 && !this.#allocate(cache, mirror)) return null;
    this.#live.delete(mirror); // most recently used last
    this.#live.add(mirror);
    if (mirror.generation !== rows.generation) {
      mirror.generation = rows.generation;
      mirror.synced.fill(0);
    }
    this.#sync(cache, mirror, rows.keys, 0, cache.headDim, rows.lengths);
    this.#sync(cache, mirror, rows.values, mirror.valuesOffset, cache.valueDim, rows.lengths);
    mirror.synced.set(rows.lengths);
    const elementBytes = rows.keys.BYTES_PER_ELEMENT;
    return {
      k: mirror.block,
      kLength: rows.keys.byteLength / elementBytes,
      v: mirror.block + mirror.valuesOffset,
      vLength: rows.values.byteLength / elementBytes,
    };
  }

  /** Frees every mirror but `keep` (a call that does not fit the memory retries after this). Returns whether any was freed. */
  evict(keep: ResidentKv | null = null): boolean {
    let freed = false;
    for (const mirror of [...this.#live]) {
      if (keep !== null && mirror.block === keep.k) continue;
      this.#free(mirror);
      freed = true;
    }
    return freed;
  }

  /** Frees the mirror of `cache`, if any (the next call copies it in again). */
  drop(cache: KvCache): void {
    const mirror = this.#byCache.get(cache);
    if (mirror !== undefined) this.#free(mirror);
  }

  /** Copies positions [synced[b], lengths[b]) of every (b, kv head) of `source` into the mirror at `offset`. */
  #sync(cache: KvCache, mirror: Mirror, source: Float32Array | Uint16Array, offset: number, width: number, lengths: Int32Array): void {
    const memory = new Uint8Array(this.#exports.memory.buffer); // after #allocate, which may have grown it
    const rowBytes = width * source.BYTES_PER_ELEMENT;
    const { numKvHeads: Hkv, maxLength } = cache;
    for (let b = 0; b < cache.batch; b++) {
      // A row shorter than its copy has been rewritten without a reset: impossible through KvCache, but then copy it all.
      const from = mirror.synced[b] <= lengths[b] ? mirror.synced[b] : 0;
      const bytes = (lengths[b] - from) * rowBytes;
      if (bytes === 0) continue;
      for (let hk = 0; hk < Hkv; hk++) {
        const at = ((b * Hkv + hk) * maxLength + from) * rowBytes;
        memory.set(new Uint8Array(source.buffer, source.byteOffset + at, bytes), mirror.block + offset + at);
      }
      this.copiedBytes += Hkv * bytes;
    }
  }

  /** An fa_alloc block for `mirror` within the budget, evicting least recently used mirrors first; false when none can be had. */
  #allocate(cache: KvCache, mirror: Mirror): boolean {
    if (mirror.bytes > this.#budget) return false;
    this.#trim(mirror.bytes);
    let block = this.#exports.fa_alloc(mirror.bytes);
    if (block === 0 && this.evict()) block = this.#exports.fa_alloc(mirror.bytes);
    if (block === 0) return false;
    mirror.block = block;
    mirror.generation = -1; // nothing copied in yet
    this.#live.add(mirror);
    this.#liveBytes += mirror.bytes;
    this.#registry.register(cache, mirror, mirror);
    return true;
  }

  /** Frees least recently used mirrors until `incoming` more bytes fit the budget. */
  #trim(incoming: number): void {
    for (const old of this.#live) {
      if (this.#liveBytes + incoming <= this.#budget) break;
      this.#free(old);
    }
  }

  #free(mirror: Mirror): void {
    if (mirror.block === 0) return;
    this.#exports.fa_free(mirror.block);
    mirror.block = 0;
    this.#live.delete(mirror);
    this.#liveBytes -= mirror.bytes;
    this.#registry.unregister(mirror);
  }
}
