/**
 * KvCachePool: caches of one config handed out reset, at most `max` of them,
 * never handed out again while an attentionAsync call still reads them, and
 * release() refusing what the pool did not hand out.
 */
import { describe, expect, it } from 'vitest';
import * as nativeLib from '../lib/index';
import { KvCache, KvCachePool } from '../lib/index';
import { tensor, loadJsLib } from './helpers';

const jsLib: typeof nativeLib = await loadJsLib();

const CONFIG = { batch: 2, numKvHeads: 2, headDim: 8, maxLength: 16 };

describe('KvCachePool', () => {
  it('checks its config: max is required, unknown keys are named with the accepted ones', () => {
    expect(() => new KvCachePool(CONFIG as never)).toThrow(new TypeError('KvCachePool: expected config.max to be an integer >= 1 but received undefined'));
    expect(() => new KvCachePool({ ...CONFIG, max: 0 })).toThrow(new RangeError('KvCachePool: expected config.max to be an integer >= 1 but received 0'));
    expect(() => new KvCachePool({ ...CONFIG, max: 2, maxSize: 4 } as never)).toThrow(
      new TypeError('KvCachePool: expected config keys to be among batch, numKvHeads, headDim, valueDim, maxLength, dtype, max but received "maxSize"'),
    );
    expect(() => new KvCachePool({ ...CONFIG, headDim: 0, max: 2 })).toThrow(new RangeError('KvCache: expected config.headDim to be an integer >= 1 but received 0'));
  });

  it('acquire hands out an empty cache of the config; a released one comes back reset', async () => {
    const pool = new KvCachePool({ ...CONFIG, dtype: 'bfloat16', max: 2 });
    const cache = await pool.acquire();
    expect(cache).toBeInstanceOf(KvCache);
    expect([cache.batch, cache.numKvHeads, cache.headDim, cache.valueDim, cache.maxLength, cache.dtype]).toEqual([2, 2, 8, 8, 16, 'bfloat16']);
    cache.append(tensor([2, 2, 5, 8], 1), tensor([2, 2, 5, 8], 2));
    expect(Array.from(cache.lengths)).toEqual([5, 5]);
    pool.release(cache);
    const again = await pool.acquire();
    expect(again).toBe(cache);
    expect(Array.from(again.lengths)).toEqual([0, 0]);
    expect(pool.size).toBe(1);
  });

  it('creates at most max caches; acquire waits for a release and gets the released cache, reset', async () => {
    const pool = new KvCachePool({ ...CONFIG, max: 2 });
    const a = await pool.acquire();
    const b = pool.tryAcquire();
    expect(b).not.toBeNull();
    expect(b).not.toBe(a);
    expect(pool.tryAcquire()).toBeNull();
    let third: KvCache | null = null;
    const waiting = pool.acquire().then((cache) => (third = cache));
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBeNull();
    expect([pool.size, pool.inUse, pool.waiting]).toEqual([2, 2, 1]);
    a.append(tensor([2, 2, 3, 8], 3), tensor([2, 2, 3, 8], 4));
    pool.release(a);
    await waiting;
    expect(third).toBe(a);
    expect(Array.from(a.lengths)).toEqual([0, 0]);
    expect([pool.size, pool.inUse, pool.waiting]).toEqual([2, 2, 0]);
  });

  it('release refuses a cache it did not hand out, or one released already', async () => {
    const pool = new KvCachePool({ ...CONFIG, max: 1 });
    const other = new KvCachePool({ ...CONFIG, max: 1 });
    expect(() => pool.release(new KvCache(CONFIG))).toThrow(
      new TypeError('KvCachePool.release: expected a cache acquired from this pool but received a KvCache this pool did not create'),
    );
    const foreign = await other.acquire();
    expect(() => pool.release(foreign)).toThrow(
      new TypeError('KvCachePool.release: expected a cache acquired from this pool but received a KvCache this pool did not create'),
    );
    expect(() => pool.release({} as KvCache)).toThrow(new TypeError('KvCachePool.release: expected a KvCache acquired from this pool but received Object'));
    const cache = await pool.acquire();
    pool.release(cache);
    expect(() => pool.release(cache)).toThrow(new Error('KvCachePool.release: expected a cache acquired from this pool and not released since but received one already released'));
  });

  for (const [name, lib] of [['js', jsLib], ['default backend', nativeLib]] as const) {
    it(`${name}: a cache released while attentionAsync reads it is handed out only after the read settled, and the read is intact`, async () => {
      const pool = new lib.KvCachePool({ ...CONFIG, max: 1 });
      const cache = await pool.acquire();
      cache.append(tensor([2, 2, 10, 8], 5), tensor([2, 2, 10, 8], 6));
      const q = tensor([2, 2, 1, 8], 7);
      const expected = lib.attention(q, cache);
      const read = lib.attentionAsync(q, cache);
      pool.release(cache);
      expect(pool.tryAcquire()).toBeNull();
      let readersAtHandOut = -1;
      const handedOut = pool.acquire().then((c) => {
        readersAtHandOut = c.pendingReads;
        // What a new owner does first: overwrite the positions the read uses.
        c.append(tensor([2, 2, 10, 8], 8), tensor([2, 2, 10, 8], 9));
        return c;
      });
      const out = await read;
      expect(Array.from(out.data)).toEqual(Array.from(expected.data));
      expect(await handedOut).toBe(cache);
      expect(readersAtHandOut).toBe(0);
      expect(Array.from(cache.lengths)).toEqual([10, 10]);
    });
  }
});
