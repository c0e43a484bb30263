/**
 * backend(): the choice between the native addon and the JS kernels, made
 * once per module instance. Each test loads a fresh instance of lib/ with
 * its own FUSED_ATTENTION_BACKEND, so the order of tests does not matter.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

type Lib = typeof import('../lib/index') & typeof import('../lib/backend');

async function freshLib(env: string | undefined): Promise<Lib> {
  vi.resetModules();
  if (env === undefined) delete process.env.FUSED_ATTENTION_BACKEND;
  else vi.stubEnv('FUSED_ATTENTION_BACKEND', env);
  const [index, backend] = await Promise.all([import('../lib/index'), import('../lib/backend')]);
  return { ...index, ...backend };
}

function small() {
  const t = (shape: number[]) => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i)), shape });
  return [t([1, 2, 3, 4]), t([1, 1, 5, 4]), t([1, 1, 5, 2])] as const;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('backend()', () => {
  it('never throws by default: native when built, else js with a one-line reason', async () => {
    const lib = await freshLib(undefined);
    const info = lib.backend();
    if (lib.nativeAddon() === null) {
      expect(info).toMatchObject({ name: 'js', isa: 'js', threads: 1 });
      expect(info.reason).toMatch(/\S/);
      expect(info.reason).not.toContain('\n');
    } else {
      expect(info.name).toBe('native');
      expect(['avx512', 'avx2', 'neon', 'scalar']).toContain(info.isa);
      expect(info.threads).toBeGreaterThanOrEqual(1);
      expect(info.reason).toBeUndefined();
    }
  });

  it('FUSED_ATTENTION_BACKEND=js forces the JS kernels and says so', async () => {
    const lib = await freshLib('js');
    expect(lib.backend()).toEqual({
      name: 'js',
      isa: 'js',
      threads: 1,
      reason: 'FUSED_ATTENTION_BACKEND=js forces the JS backend',
    });
    expect(lib.nativeAddon()).toBeNull();
    const [q, k, v] = small();
    const sync = lib.attention(q, k, v, { causal: true });
    const viaAsync = await lib.attentionAsync(q, k, v, { causal: true });
    expect(Array.from(viaAsync.data)).toEqual(Array.from(sync.data));
    // The JS backend runs on the calling thread: setThreads is checked, then has no effect.
    lib.setThreads(4);
    expect(lib.backend().threads).toBe(1);
  });

  it('an unknown FUSED_ATTENTION_BACKEND value is an error on first use, not on import', async () => {
    const lib = await freshLib('nativ');
    const message = 'fused-attention: expected FUSED_ATTENTION_BACKEND to be "native", "js" or unset but received "nativ"';
    expect(() => lib.backend()).toThrow(message);
    const [q, k, v] = small();
    expect(() => lib.attention(q, k, v)).toThrow(message);
    await expect(lib.attentionAsync(q, k, v)).rejects.toThrow(message);
  });

  it('FUSED_ATTENTION_BACKEND=native: native, or a multi-line error saying how to build it', async () => {
    const available = (await freshLib(undefined)).nativeAddon() !== null;
    const lib = await freshLib('native');
    if (available) {
      expect(lib.backend().name).toBe('native');
      return;
    }
    let caught: Error | null = null;
    try {
      lib.backend();
    } catch (err) {
      caught = err as Error;
    }
    expect(caught).toBeInstanceOf(Error);
    const lines = caught!.message.split('\n');
    expect(lines[0]).toMatch(/^fused-attention: FUSED_ATTENTION_BACKEND=native but the native addon (was not found|failed to load)\.$/);
    expect(caught!.message).toContain(`${process.platform}-${process.arch}`);
    expect(caught!.message).toContain('npm rebuild fused-attention');
    expect(caught!.message).toContain('npx node-gyp rebuild');
  });

  it('setThreads forwards to the native pool when native is in use', async () => {
    const lib = await freshLib(undefined);
    if (lib.nativeAddon() === null) return; // covered by the js test above
    const before = lib.backend().threads;
    try {
      lib.setThreads(3);
      expect(lib.backend().threads).toBe(3);
    } finally {
      lib.setThreads(before);
    }
  });
});
