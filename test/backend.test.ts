/**
 * backend(): the choice between the native addon, the WebAssembly module and
 * the JS kernels, made once per module instance. Each test loads a fresh
 * instance of lib/ with its own FUSED_ATTENTION_BACKEND, so the order of tests
 * does not matter.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NativeAddon } from '../lib/native';
// WASM_BUILT: dist/fused_attention.wasm is built here (npm run build:wasm), so native falls back to it, not to JS.
import { WASM_BUILT, WASM_ISA } from './helpers';

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
    const message = 'fused-attention: expected FUSED_ATTENTION_BACKEND to be "native", "wasm", "js" or unset but received "nativ"';
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

  it('FUSED_ATTENTION_BACKEND=wasm forces the WebAssembly kernels and says so, or says how to build them', async () => {
    const lib = await freshLib('wasm');
    if (!WASM_BUILT) {
      const lines = (() => {
        try {
          lib.backend();
          return [];
        } catch (err) {
          return (err as Error).message.split('\n');
        }
      })();
      expect(lines[0]).toBe('fused-attention: FUSED_ATTENTION_BACKEND=wasm but the WebAssembly module was not found.');
      expect(lines).toContain('    npm run build:wasm');
      return;
    }
    expect(lib.backend()).toEqual({ name: 'wasm', isa: WASM_ISA, threads: 1, reason: 'FUSED_ATTENTION_BACKEND=wasm forces the WebAssembly backend' });
    expect(lib.nativeAddon()).toBeNull();
    expect(lib.wasmKernels()).not.toBeNull();
    const [q, k, v] = small();
    const sync = lib.attention(q, k, v, { causal: true });
    const viaAsync = await lib.attentionAsync(q, k, v, { causal: true });
    expect(Array.from(viaAsync.data)).toEqual(Array.from(sync.data));
    expect(lib.explain(q, k, v, { causal: true })).toMatchObject({ backend: 'wasm', isa: WASM_ISA, path: 'tiled', threads: 1 });
    // One thread, the calling one: setThreads is checked, then has no effect.
    lib.setThreads(4);
    expect(lib.backend().threads).toBe(1);
    expect(() => lib.setThreads(0)).toThrow(RangeError);
    // FUSED_ATTENTION_ISA=simd128 asks for the plain SIMD128 build even where relaxed SIMD runs.
    vi.stubEnv('FUSED_ATTENTION_ISA', 'simd128');
    expect((await freshLib('wasm')).backend().isa).toBe('simd128');
  });

  it("init() resolves to backend() (the browser entry needs it; here it lets shared code call it), checks its options, and rejects with the choice's error", async () => {
    const lib = await freshLib('js');
    await expect(lib.init()).resolves.toEqual(lib.backend());
    await expect(lib.init({ wasmBase: new URL('https://cdn.example/fused-attention/dist') })).resolves.toEqual(lib.backend());
    await expect(lib.init({ wasmBase: 42 } as never)).rejects.toThrow(new TypeError('init: expected options.wasmBase to be a string or URL but received 42'));
    await expect(lib.init({ wasmUrl: '/' } as never)).rejects.toThrow(new TypeError('init: expected options keys to be among wasmBase but received "wasmUrl"'));
    const broken = await freshLib('nativ');
    await expect(broken.init()).rejects.toThrow('fused-attention: expected FUSED_ATTENTION_BACKEND to be "native", "wasm", "js" or unset but received "nativ"');
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

  it('the native addon exports exactly the functions NativeAddon declares (benchmark helpers are not shipped)', async () => {
    const lib = await freshLib(undefined);
    const addon = lib.nativeAddon();
    if (addon === null) return; // covered by the js test above
    // A Record over keyof NativeAddon: typecheck fails when this list and lib/native.ts differ.
    const declared: Record<keyof NativeAddon, true> = {
      attention: true, attentionAsync: true, plan: true, info: true, setThreads: true, setIsa: true,
      crissCross: true, toBfloat16: true, linear: true, linearPack: true, linearAsync: true, linearPlan: true,
    };
    expect(Object.keys(addon).sort()).toEqual(Object.keys(declared).sort());
  });
});

/** Deno's error for a read without --allow-env (Deno.errors.NotCapable). */
class NotCapable extends Error {
  override name = 'NotCapable';
}

/** Runs `body` with a process.env whose reads of the keys `denies` picks throw as Deno's do without --allow-env. */
function withDeniedEnv<T>(denies: (key: string) => boolean, body: () => T): T {
  const original = Object.getOwnPropertyDescriptor(process, 'env')!;
  const check = (key: string | symbol): void => {
    if (typeof key === 'string' && denies(key)) throw new NotCapable(`Requires env access to "${key}", run again with the --allow-env flag`);
  };
  const env = new Proxy(process.env, {
    get: (target, key) => (check(key), Reflect.get(target, key)),
    has: (target, key) => (check(key), Reflect.has(target, key)),
  });
  Object.defineProperty(process, 'env', { ...original, value: env });
  try {
    return body();
  } finally {
    Object.defineProperty(process, 'env', original);
  }
}

/** node-gyp-build reads the environment when it is first required: forget it so the next load runs that again, as in a fresh Deno process. */
function forgetNodeGypBuild(): void {
  const cache = createRequire(import.meta.url).cache;
  for (const key of Object.keys(cache)) if (key.includes(`${path.sep}node-gyp-build${path.sep}`)) delete cache[key];
}

describe('a runtime that denies environment reads (Deno without --allow-env)', () => {
  it('FUSED_ATTENTION_* unreadable counts as unset: backend() and attention() do not throw', async () => {
    const expected = (await freshLib(undefined)).backend();
    const lib = await freshLib(undefined);
    const [q, k, v] = small();
    const result = withDeniedEnv(
      (key) => key.startsWith('FUSED_ATTENTION_'),
      () => ({ info: lib.backend(), out: lib.attention(q, k, v) }),
    );
    expect(result.info).toEqual(expected);
    expect(Array.from(result.out.data)).toEqual(Array.from(lib.attention(q, k, v).data));
  });

  it('a loader that cannot read the environment falls back to wasm (else JS), and the reason names the permission, not a rebuild', async () => {
    const [q, k, v] = small();
    const expected = (await freshLib(WASM_BUILT ? 'wasm' : 'js')).attention(q, k, v);
    const lib = await freshLib(undefined);
    forgetNodeGypBuild();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const { info, out } = withDeniedEnv(
        () => true,
        () => ({ info: lib.backend(), out: lib.attention(q, k, v) }),
      );
      const reason = 'the runtime denied the native loader a permission: Requires env access to "PREBUILDS_ONLY", run again with the --allow-env flag';
      expect(info).toEqual(WASM_BUILT ? { name: 'wasm', isa: WASM_ISA, threads: 1, reason } : { name: 'js', isa: 'js', threads: 1, reason });
      expect(Array.from(out.data)).toEqual(Array.from(expected.data));
      expect(warn).toHaveBeenCalledTimes(1);
      const fallback = WASM_BUILT ? 'the WebAssembly backend (slower than native)' : 'the slower pure-TypeScript backend';
      expect(String(warn.mock.calls[0][0])).toBe(`fused-attention: using ${fallback}: ${reason}. Set FUSED_ATTENTION_SILENT=1 to hide this warning.`);
      expect(warn.mock.calls[0][1]).toEqual({ code: WASM_BUILT ? 'FUSED_ATTENTION_WASM_FALLBACK' : 'FUSED_ATTENTION_JS_FALLBACK' });
    } finally {
      warn.mockRestore();
      forgetNodeGypBuild();
    }
  });

  it('FUSED_ATTENTION_BACKEND=native with the loader denied a permission: the error asks for the permission, not a rebuild', async () => {
    const lib = await freshLib('native');
    forgetNodeGypBuild();
    try {
      const message = withDeniedEnv(
        (key) => key === 'PREBUILDS_ONLY',
        () => {
          try {
            lib.backend();
            return '';
          } catch (err) {
            return (err as Error).message;
          }
        },
      );
      expect(message.split('\n')).toEqual([
        'fused-attention: FUSED_ATTENTION_BACKEND=native but the native addon failed to load.',
        expect.stringMatching(/^  Tried: node-gyp-build in /),
        expect.stringMatching(/^  Platform: /),
        '  Error: Requires env access to "PREBUILDS_ONLY", run again with the --allow-env flag',
        '  The runtime denied a permission the loader needs (the error says which); grant it, the build is not at fault.',
        '  Or unset FUSED_ATTENTION_BACKEND to fall back to the pure-TypeScript kernels.',
      ]);
    } finally {
      forgetNodeGypBuild();
    }
  });
});
