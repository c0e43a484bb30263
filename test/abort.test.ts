/**
 * attentionAsync with an AbortSignal, on the native backend (own dispatcher
 * thread, cancel flag checked between work items) and the JS fallback.
 */
import { describe, expect, it } from 'vitest';
import { attention, attentionAsync } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { randn } from './reference';

const t = (shape: number[], seed: number) => ({ data: randn(shape.reduce((a, b) => a * b, 1), seed), shape });

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
