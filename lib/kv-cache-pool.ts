/**
 * KvCachePool: KvCaches of one config, reset and handed out again instead of
 * created per request. A cache's memory is a SharedArrayBuffer, which JS can
 * neither free nor detach and V8 reclaims only when a full GC finds it dead, so
 * a service that creates and drops a cache per request can hold gigabytes of
 * dead caches (bench/kv-cache-churn.js); a pool never holds more than `max`.
 */
import { CONFIG_KEYS, KvCache, type KvCacheConfig } from './kv-cache';
import { checkInteger, checkOptionKeys, describe, invalidArgument, isRecord } from './validate';

export interface KvCachePoolConfig extends KvCacheConfig {
  /** Most caches the pool creates; acquire() waits while all of them are in use. */
  max: number;
}

const OP = 'KvCachePool';

export class KvCachePool {
  /** Most caches this pool creates. */
  readonly max: number;
  /** The config of every cache it hands out. */
  readonly config: Readonly<KvCacheConfig>;
  /** Every cache this pool created, in use or not. */
  readonly #created = new Set<KvCache>();
  /** Reset caches ready to hand out. */
  readonly #idle: KvCache[] = [];
  /** Handed out and not released yet. */
  readonly #inUse = new Set<KvCache>();
  /** acquire() calls waiting for a cache, first come first served. */
  readonly #waiting: Array<(cache: KvCache) => void> = [];

  constructor(config: KvCachePoolConfig) {
    if (!isRecord(config)) throw invalidArgument(TypeError, 'config to be an object', describe(config), OP);
    const { max, ...cacheConfig } = checkOptionKeys(config, [...CONFIG_KEYS, 'max'], OP, 'config');
    this.max = checkInteger(max, 'config.max', 1, undefined, OP);
    this.config = Object.freeze(cacheConfig as unknown as KvCacheConfig);
    // The first cache checks the config (with KvCache's messages) now rather than at the first acquire.
    this.#idle.push(this.#create());
  }

  /** Caches created so far (at most max). */
  get size(): number {
    return this.#created.size;
  }

  /** Caches handed out and not released. */
  get inUse(): number {
    return this.#inUse.size;
  }

  /** acquire() calls waiting for a release. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** An empty cache: an idle one, a new one while fewer than max exist, else the next one released. */
  acquire(): Promise<KvCache> {
    const cache = this.tryAcquire();
    if (cache !== null) return Promise.resolve(cache);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** An empty cache now, or null when all max are in use. */
  tryAcquire(): KvCache | null {
    const cache = this.#idle.pop() ?? (this.#created.size < this.max ? this.#create() : null);
    if (cache !== null) this.#inUse.add(cache);
    return cache;
  }

  /**
   * Gives a cache back. It is reset and handed out again once no
   * attentionAsync call reads it, so a release while a call is pending is safe.
   * The caller must not touch the cache afterwards.
   */
  release(cache: KvCache): void {
    const op = `${OP}.release`;
    if (!this.#inUse.has(cache)) {
      if (this.#created.has(cache)) throw invalidArgument(Error, 'a cache acquired from this pool and not released since', 'one already released', op);
      if (cache instanceof KvCache) throw invalidArgument(TypeError, 'a cache acquired from this pool', 'a KvCache this pool did not create', op);
      throw invalidArgument(TypeError, 'a KvCache acquired from this pool', describe(cache), op);
    }
    this.#inUse.delete(cache);
    this.#recycle(cache);
  }

  #create(): KvCache {
    const cache = new KvCache(this.config);
    this.#created.add(cache);
    return cache;
  }

  /** Resets the cache once its readers have settled, then hands it to the first waiter or keeps it idle. */
  #recycle(cache: KvCache): void {
    if (cache.pendingReads > 0) {
      void cache.whenIdle().then(() => this.#recycle(cache));
      return;
    }
    cache.reset();
    const next = this.#waiting.shift();
    if (next === undefined) {
      this.#idle.push(cache);
    } else {
      this.#inUse.add(cache);
      next(cache);
    }
  }
}
