/**
 * attentionAsync, PackedLinear.forwardAsync and MultiHeadAttention.forwardAsync
 * with an AbortSignal, on the native backend (own dispatcher thread, cancel
 * flag checked between work items) and the JS fallback. An aborted call never
 * writes into the caller's arrays, not even after its promise rejected.
 */
import { describe, expect, it, vi } from 'vitest';
import * as nativeLib from '../lib/index';
import { attention, attentionAsync, packLinear } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { loadJsLib, tensor as t } from './helpers';
import { randn } from './oracle/prng.mjs';

const jsLib = await loadJsLib();

/** Keeps the JS thread busy (so no promise settles and no native result is delivered) for `ms`. */
function blockJsThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const SENTINEL = 7;
const sentinelOut = (n: number, shared: boolean): Float32Array =>
  new Float32Array(shared ? new SharedArrayBuffer(4 * n) : new ArrayBuffer(4 * n)).fill(SENTINEL);
const untouched = (a: Float32Array): boolean => a.every((x) => x === SENTINEL);

describe('attentionAsync cancellation', () => {
  it('rejects with the signal reason when aborted before the call', async () => {
    const q = t([1, 2, 8, 16], 1);
    const controller = new AbortController();
    controller.abort();
    const err = await attentionAsync(q, q, q, { signal: controller.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
  });

  it('rejects a signal that is not an AbortSignal', async () => {
    const q = t([1, 2, 8, 16], 1);
    await expect(attentionAsync(q, q, q, { signal: {} as AbortSignal })).rejects.toThrow(
      new TypeError('attention: expected signal to be an AbortSignal but received Object'),
    );
  });

  it('an unaborted signal changes nothing', async () => {
    const q = t([1, 2, 33, 16], 1);
    const k = t([1, 2, 40, 16], 2);
    const sync = attention(q, k, k, { causal: true }).data;
    const got = await attentionAsync(q, k, k, { causal: true, signal: new AbortController().signal });
    expect(Buffer.from(got.data.buffer).equals(Buffer.from(sync.buffer))).toBe(true);
  });

  it.runIf(nativeAddon() !== null)('stops a running native call quickly and the queue keeps working', async () => {
    // ~0.3-1 s of work on 2 cores; aborted after 30 ms.
    const q = t([1, 8, 4096, 64], 3);
    const controller = new AbortController();
    const started = performance.now();
    const running = attentionAsync(q, q, q, { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    const err = await running.catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(performance.now() - started).toBeLessThan(500);
    // The next call still runs and is correct (the aborted one was stopped, not leaked).
    const small = t([1, 2, 17, 8], 4);
    const after = await attentionAsync(small, small, small);
    expect(Buffer.from(after.data.buffer).equals(Buffer.from(attention(small, small, small).data.buffer))).toBe(true);
  });

  it.runIf(nativeAddon() !== null)('queued calls aborted before they start never run', async () => {
    const big = t([1, 8, 2048, 64], 5);
    const blocker = attentionAsync(big, big, big);
    const controller = new AbortController();
    const out = new Float32Array(8 * 2048 * 64).fill(7);
    const queued = attentionAsync(big, big, big, { out, signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    await blocker;
    // Give the dispatcher time to reach (and skip) the aborted call.
    await attentionAsync(t([1, 1, 4, 4], 6), t([1, 1, 4, 4], 7), t([1, 1, 4, 4], 8));
    expect(out.every((x) => x === 7)).toBe(true);
  });
});

describe('an aborted call writes nothing into out', () => {
  // The kernel of these tiny calls ends within microseconds; the JS thread is kept busy
  // long past that and aborts before the finished call is delivered back to it.
  for (const shared of [false, true]) {
    const kind = shared ? 'SharedArrayBuffer' : 'ArrayBuffer';
    it.runIf(nativeAddon() !== null)(`attentionAsync aborted after its native kernel finished (${kind} out)`, async () => {
      const q = t([1, 2, 16, 16], 9);
      const out = sentinelOut(2 * 16 * 16, shared);
      const lse = sentinelOut(2 * 16, shared);
      const controller = new AbortController();
      const pending = attentionAsync(q, q, q, { out, signal: controller.signal, returnLse: true });
      blockJsThread(300);
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      // Results come back in order: once this later call settled, the aborted one was delivered too.
      await attentionAsync(q, q, q);
      expect(untouched(out)).toBe(true);
      expect(untouched(lse)).toBe(true);
    });

    it.runIf(nativeAddon() !== null)(`PackedLinear.forwardAsync aborted after its native kernel finished (${kind} out)`, async () => {
      const proj = packLinear(t([5, 16], 10), t([5], 11));
      const x = t([4, 16], 12);
      const out = sentinelOut(4 * 8, shared);
      const controller = new AbortController();
      const pending = proj.forwardAsync(x, { out, outStride: 8, signal: controller.signal });
      blockJsThread(300);
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      await proj.forwardAsync(x);
      expect(untouched(out)).toBe(true);
    });
  }

  it('JS backend: attentionAsync and forwardAsync aborted right after the call write nothing, then or later', async () => {
    const q = t([1, 2, 16, 16], 13);
    const out = sentinelOut(2 * 16 * 16, false);
    const linearOut = sentinelOut(4 * 5, false);
    const controller = new AbortController();
    const attending = jsLib.attentionAsync(q, q, q, { out, signal: controller.signal });
    const projecting = jsLib.packLinear(t([5, 16], 14)).forwardAsync(t([4, 16], 15), { out: linearOut, signal: controller.signal });
    controller.abort();
    await expect(attending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(projecting).rejects.toMatchObject({ name: 'AbortError' });
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(untouched(out)).toBe(true);
    expect(untouched(linearOut)).toBe(true);
  });
});

describe('MultiHeadAttention.forwardAsync with a signal', () => {
  const dModel = 32;
  const numHeads = 4;
  const layer = (lib: typeof nativeLib) =>
    new lib.MultiHeadAttention({
      dModel,
      numHeads,
      weights: { wq: randn(dModel * dModel, 20), wk: randn(dModel * dModel, 21), wv: randn(dModel * dModel, 22), wo: randn(dModel * dModel, 23) },
    });
  const x = t([2, 24, dModel], 24);

  it('rejects a signal that is not an AbortSignal', async () => {
    await expect(layer(nativeLib).forwardAsync(x, { signal: {} as AbortSignal })).rejects.toThrow(
      new TypeError('MultiHeadAttention.forwardAsync: expected signal to be an AbortSignal but received Object'),
    );
  });

  for (const [name, lib] of [['native', nativeLib], ['js', jsLib]] as const) {
    it(`${name}: an unaborted signal changes nothing`, async () => {
      const mha = layer(lib);
      const got = await mha.forwardAsync(x, { causal: true, signal: new AbortController().signal });
      expect(got.data).toEqual(mha.forward(x, { causal: true }).data);
    });

    it(`${name}: aborted before the call, it rejects with signal.reason and nothing runs`, async () => {
      const mha = layer(lib);
      const controller = new AbortController();
      const reason = new Error('client went away');
      controller.abort(reason);
      const projections = vi.spyOn(lib.PackedLinear.prototype, 'forwardAsync');
      try {
        await expect(mha.forwardAsync(x, { signal: controller.signal })).rejects.toBe(reason);
        expect(projections).not.toHaveBeenCalled();
      } finally {
        projections.mockRestore();
      }
    });

    it(`${name}: aborted while the projections run, it rejects with signal.reason and starts nothing more`, async () => {
      const mha = layer(lib);
      const controller = new AbortController();
      const reason = new Error('deadline');
      const projections = vi.spyOn(lib.PackedLinear.prototype, 'forwardAsync');
      try {
        const pending = mha.forwardAsync(x, { signal: controller.signal });
        controller.abort(reason);
        await expect(pending).rejects.toBe(reason);
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        // wq, wk and wv started; neither attention nor wo did.
        expect(projections).toHaveBeenCalledTimes(3);
      } finally {
        projections.mockRestore();
      }
    });
  }
});
