/**
 * Many calls at once: attentionAsync calls in flight together, sync calls
 * interleaved with them, the thread pool resized and the ISA switched while
 * they run, and inputs whose only references are held by the pending calls
 * while the garbage collector runs. Every result must equal the same call run
 * alone.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { attention, attentionAsync, setThreads } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import type { AttentionOptions, Tensor } from '../lib/types';
import { relFrobenius } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';

const addon = nativeAddon();
const initialIsa = addon?.info().isa;
const initialThreads = addon?.info().threads ?? 1;
afterAll(() => {
  if (addon && initialIsa) addon.setIsa(initialIsa);
  setThreads(initialThreads);
});

interface Call {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  options: AttentionOptions;
}

/** A deterministic small call; `seed` picks shape and options. */
function makeCall(seed: number, big = false): Call {
  const pick = (n: number, salt: number): number => ((seed * 2654435761 + salt * 40503) >>> 0) % n;
  const B = 1 + pick(2, 1);
  const Hkv = 1 + pick(2, 2);
  const H = Hkv * (1 + pick(3, 3));
  const Lq = 1 + pick(big ? 200 : 24, 4);
  const Lk = 1 + pick(big ? 300 : 40, 5);
  const D = [1, 7, 16, 32, 64][pick(5, 6)];
  const Dv = [1, 8, 16, 33, 64][pick(5, 7)];
  const options: AttentionOptions = {};
  if (pick(3, 8) === 0) options.causal = true;
  if (pick(4, 9) === 0) {
    const data = randn(Lq * Lk, seed + 4);
    for (let i = seed % 5; i < data.length; i += 5) data[i] = -Infinity;
    options.mask = { data, shape: [Lq, Lk] };
  }
  if (pick(5, 10) === 0) options.keyLengths = Int32Array.from({ length: B }, (_, b) => (seed + b) % (Lk + 1));
  if (pick(4, 11) === 0) options.returnLse = true;
  return {
    q: { data: randn(B * H * Lq * D, seed + 1), shape: [B, H, Lq, D] },
    k: { data: randn(B * Hkv * Lk * D, seed + 2), shape: [B, Hkv, Lk, D] },
    v: { data: randn(B * Hkv * Lk * Dv, seed + 3), shape: [B, Hkv, Lk, Dv] },
    options,
  };
}

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSame(got: { data: Float32Array; lse?: Tensor }, want: { data: Float32Array; lse?: Tensor }, exact: boolean, what: string): void {
  if (exact) {
    expect(bytes(got.data).equals(bytes(want.data)), what).toBe(true);
    if (want.lse) expect(bytes(got.lse!.data).equals(bytes(want.lse.data)), `${what} lse`).toBe(true);
  } else {
    expect(relFrobenius(got.data, want.data), what).toBeLessThanOrEqual(1e-5);
  }
}

describe('concurrency', () => {
  it('1,000 attentionAsync calls in flight at once (mixed small shapes) all equal the sync results', async () => {
    const calls = Array.from({ length: 1000 }, (_, i) => makeCall(i));
    const want = calls.map((c) => attention(c.q, c.k, c.v, c.options));
    const pending = calls.map((c) => attentionAsync(c.q, c.k, c.v, c.options));
    const got = await Promise.all(pending);
    got.forEach((g, i) => {
      expect(g.shape).toEqual(want[i].shape);
      expectSame(g, want[i], true, `call ${i}`);
    });
  });

  it('sync calls interleaved with 300 pending async calls are correct, and so are the async ones', async () => {
    const calls = Array.from({ length: 300 }, (_, i) => makeCall(5000 + i, i % 10 === 0));
    const want = calls.map((c) => attention(c.q, c.k, c.v, c.options));
    const pending: Array<Promise<{ data: Float32Array; lse?: Tensor }>> = [];
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i];
      pending.push(attentionAsync(c.q, c.k, c.v, c.options));
      // Every third call also runs synchronously while the queue is busy, sometimes after a turn of the event loop.
      if (i % 3 === 0) {
        if (i % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
        expectSame(attention(c.q, c.k, c.v, c.options), want[i], true, `sync call ${i}`);
      }
    }
    const got = await Promise.all(pending);
    got.forEach((g, i) => expectSame(g, want[i], true, `async call ${i}`));
  });

  it('setThreads() while 200 multithreaded calls are in flight: every result stays correct', async () => {
    const calls = Array.from({ length: 200 }, (_, i) => makeCall(9000 + i, true));
    // Four heavier calls (~2 GFLOP each) at the end of the queue keep it busy after the JS
    // thread has queued everything: with today's kernel the 200 small ones can all finish
    // while it is still queuing, leaving nothing in flight to resize the pool under.
    for (let i = 0; i < 4; i++) {
      const [H, L, D] = [8, 1024, 64];
      calls.push({
        q: { data: randn(H * L * D, 9500 + i), shape: [1, H, L, D] },
        k: { data: randn(H * L * D, 9600 + i), shape: [1, H, L, D] },
        v: { data: randn(H * L * D, 9700 + i), shape: [1, H, L, D] },
        options: {},
      });
    }
    setThreads(initialThreads);
    const want = calls.map((c) => attention(c.q, c.k, c.v, c.options));
    let settled = false;
    const all = Promise.all(calls.map((c) => attentionAsync(c.q, c.k, c.v, c.options))).finally(() => {
      settled = true;
    });
    const sizes = [1, 3, 2, 4, 1, 2, 8, 1];
    let resizes = 0;
    while (!settled) {
      setThreads(sizes[resizes++ % sizes.length]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const got = await all;
    setThreads(initialThreads);
    // The split-key decode path merges per-thread partial sums, so the thread count may change the last bits.
    got.forEach((g, i) => expectSame(g, want[i], false, `call ${i}`));
    // Native calls run off the event loop, so the loop above resized the pool between them (the JS backend runs them all in one turn).
    if (addon !== null) expect(resizes).toBeGreaterThan(1);
  });

  it.runIf(addon !== null)('setIsa() while calls are in flight: every result matches its ISA within 1e-5', async () => {
    const isas = addon!.info().supportedIsas;
    const calls = Array.from({ length: 200 }, (_, i) => makeCall(12000 + i, i % 4 === 0));
    const want = calls.map((c) => attention(c.q, c.k, c.v, c.options));
    let settled = false;
    const all = Promise.all(calls.map((c) => attentionAsync(c.q, c.k, c.v, c.options))).finally(() => {
      settled = true;
    });
    let switches = 0;
    while (!settled) {
      addon!.setIsa(isas[switches++ % isas.length]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const got = await all;
    addon!.setIsa(initialIsa!);
    got.forEach((g, i) => expectSame(g, want[i], false, `call ${i}`));
  });

  it('inputs referenced only by 200 pending calls survive forced garbage collection', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const seeds = Array.from({ length: 200 }, (_, i) => 20000 + i);
    // Results of the same calls, from freshly regenerated (identical) inputs.
    const want = seeds.map((seed) => {
      const c = makeCall(seed, seed % 8 === 0);
      return attention(c.q, c.k, c.v, c.options);
    });
    // No reference to these inputs is kept here: only the pending calls hold them.
    const pending = seeds.map((seed) => {
      const c = makeCall(seed, seed % 8 === 0);
      return attentionAsync(c.q, c.k, c.v, c.options);
    });
    let settled = false;
    const all = Promise.all(pending).finally(() => {
      settled = true;
    });
    while (!settled) {
      gc();
      // Churn the heap so freed memory would be reused quickly.
      for (let i = 0; i < 20; i++) new Float32Array(4096).fill(-1);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const got = await all;
    got.forEach((g, i) => expectSame(g, want[i], true, `call ${i}`));
  });
});
