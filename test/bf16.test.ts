/**
 * bfloat16 K/V storage in the native kernel, toBfloat16, and per-row query
 * alignment (rowOffsets): on every ISA this CPU supports × 1 and 2 threads,
 * against the float64 oracle run on the widened bf16 values (so only the
 * kernel's own fp32 error remains) and against the original fp32 inputs (the
 * storage rounding on top).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { nativeAddon } from '../lib/backend';
import { resolveAttention } from '../lib/options';
import type { NativeAttentionArgs } from '../lib/native';
import type { AttentionOptions, BoolTensor, Tensor } from '../lib/types';
import { referenceAttentionFull, relFrobenius, type ReferenceOptions } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';
import { nativeModes, restoreNativeModeAfterAll } from './native-modes';
import { tensor } from './helpers';

const addon = nativeAddon();
const TOL_WIDENED = 1e-5;
const TOL_FP32 = 1e-2;

// ---- bfloat16 helpers, independent of the addon ---------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The exact value of a bf16 bit pattern, with 0x7f80 / 0xff80 read as ±2^128 (the rounding boundary) when `extended`. */
function bf16Value(h: number, extended = false): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 7) & 0xff;
  const mantissa = h & 0x7f;
  if (exponent === 0) return sign * mantissa * 2 ** -133; // denormal: m/128 * 2^-126
  if (exponent === 0xff && !extended) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 128) * 2 ** (exponent - 127);
}

/**
 * bfloat16 of a float32 bit pattern by definition: the nearer of the two bf16
 * neighbours (float64 distances), ties to the even mantissa; past the largest
 * finite bf16 by half an ulp or more, Infinity; NaN keeps sign and top payload
 * with the quiet bit set.
 */
function bf16Reference(bits: number): number {
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return mantissa === 0 ? bits >>> 16 : ((bits >>> 16) | 0x40) & 0xffff;
  u32[0] = bits;
  const x = f32[0];
  const lower = bits >>> 16; // toward zero
  const upper = lower + 1; // away from zero (0x7f80 / 0xff80 = Inf)
  const dLower = Math.abs(x - bf16Value(lower));
  const dUpper = Math.abs(bf16Value(upper, true) - x);
  if (dLower < dUpper) return lower;
  if (dUpper < dLower) return upper;
  return lower & 1 ? upper : lower;
}

/** bf16 bit patterns → float32 values, exactly. */
function widen(bits: Uint16Array): Float32Array {
  const wide = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
  return new Float32Array(wide.buffer);
}

function toBf16(src: Float32Array): Uint16Array {
  const dst = new Uint16Array(src.length);
  addon!.toBfloat16(src, dst);
  return dst;
}

// ---- toBfloat16 ------------------------------------------------------------

/** Edge cases: zeros, ties both ways, denormals, extremes, Inf, NaN payloads. */
function edgeBits(): Uint32Array {
  const list: number[] = [
    0x00000000, 0x80000000, // ±0
    0x3f800000, 0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, // 1, ties to even (down, up), just below/above a tie
    0x3f80ffff, 0x3fffffff, 0x40000000,
    0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x00007fff, 0x007fffff, 0x807fffff, 0x007f8000, // denormals, ties among them
    0x00800000, 0x00807fff, 0x00808000, // smallest normal
    0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, 0x7f7effff, 0x7f7f0000, // largest floats: overflow to Inf or not
    0x7f800000, 0xff800000, // ±Inf
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7f80ffff, 0x7fffffff, 0xffffffff, 0x7fa5a5a5, // NaNs (signalling and quiet payloads)
  ];
  return Uint32Array.from(list);
}

describe.runIf(addon !== null)('toBfloat16', () => {
  restoreNativeModeAfterAll(addon);
  const initialIsa = addon ? addon.info().isa : 'scalar';

  function convertBits(bits: Uint32Array): Uint16Array {
    const dst = new Uint16Array(bits.length);
    addon!.toBfloat16(new Float32Array(bits.buffer, bits.byteOffset, bits.length), dst);
    return dst;
  }

  function inputs(): Uint32Array {
    const random = new Uint32Array(1 << 16);
    let state = 12345;
    for (let i = 0; i < random.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      random[i] = state;
    }
    const sweep = new Uint32Array(1 << 18); // every 16381st bit pattern: all exponents, both signs
    for (let i = 0; i < sweep.length; i++) sweep[i] = (i * 16381 + (i & 0xffff)) >>> 0;
    const edges = edgeBits();
    const all = new Uint32Array(random.length + sweep.length + edges.length);
    all.set(random);
    all.set(sweep, random.length);
    all.set(edges, random.length + sweep.length);
    return all;
  }

  for (const isa of addon ? addon.info().supportedIsas : []) {
    it(`rounds to nearest even on ${isa} (${isa === 'avx512' ? 'AVX512_BF16 when present' : 'integer path'})`, () => {
      addon!.setIsa(isa);
      const bits = inputs();
      const got = convertBits(bits);
      const bad: string[] = [];
      for (let i = 0; i < bits.length; i++) {
        const want = bf16Reference(bits[i]);
        if (got[i] !== want && bad.length < 5) bad.push(`0x${bits[i].toString(16)}: got 0x${got[i].toString(16)}, want 0x${want.toString(16)}`);
      }
      expect(bad).toEqual([]);
    });
  }

  it('the AVX512_BF16 and integer paths give the same bits, tails of every length included', () => {
    const isas = addon!.info().supportedIsas;
    addon!.setIsa(isas.includes('avx512') ? 'avx512' : isas[0]);
    const hardware = addon!.info().bf16Conversion;
    addon!.setIsa(isas.includes('avx2') ? 'avx2' : 'scalar');
    expect(addon!.info().bf16Conversion).toBe('integer');
    const bits = inputs();
    const portable = convertBits(bits);
    addon!.setIsa(isas[0]);
    for (let n = 0; n <= 40; n++) {
      // Tails: lengths around the 16-lane vector width, at unaligned offsets.
      const part = bits.subarray(n, n + n);
      expect(Array.from(convertBits(part))).toEqual(Array.from(portable.subarray(n, n + n)));
    }
    const all = convertBits(bits);
    expect(Buffer.from(all.buffer).equals(Buffer.from(portable.buffer))).toBe(true);
    addon!.setIsa(initialIsa);
    // Not every CPU has AVX512_BF16; when it does, the hardware path was the one compared.
    expect(['avx512bf16', 'integer']).toContain(hardware);
  });

  it('keeps ±Infinity, NaN stays NaN, exact values stay exact', () => {
    const src = Float32Array.of(Infinity, -Infinity, NaN, 1, -2.5, 0.15625, 3.0e38, -0);
    const out = widen(toBf16(src));
    expect(out[0]).toBe(Infinity);
    expect(out[1]).toBe(-Infinity);
    expect(Number.isNaN(out[2])).toBe(true);
    expect(Array.from(out.subarray(3, 6))).toEqual([1, -2.5, 0.15625]);
    expect(Object.is(out[7], -0)).toBe(true);
    expect(Math.abs(out[6] - 3.0e38) / 3.0e38).toBeLessThanOrEqual(2 ** -9);
  });

  it('rejects wrong kinds and lengths', () => {
    expect(() => addon!.toBfloat16(new Float32Array(4), new Uint16Array(3))).toThrow(
      new RangeError('fused-attention (native): expected dst to hold 4 elements (as many as src) but it holds 3'),
    );
    expect(() => addon!.toBfloat16(new Float64Array(4) as unknown as Float32Array, new Uint16Array(4))).toThrow(
      new TypeError('fused-attention (native): expected src to be a Float32Array'),
    );
    expect(() => addon!.toBfloat16(new Float32Array(4), new Int16Array(4) as unknown as Uint16Array)).toThrow(
      new TypeError('fused-attention (native): expected dst to be a Uint16Array'),
    );
    expect(() => addon!.toBfloat16(new Float32Array(0), new Uint16Array(0))).not.toThrow();
  });
});

// ---- attention with bf16 K/V -------------------------------------------------

interface Case {
  name: string;
  B: number; H: number; Hkv: number; Lq: number; Lk: number; D: number; Dv: number;
  options?: (c: Case) => AttentionOptions;
  /** Per-batch-row alignment passed to the addon (and the oracle). */
  rowOffsets?: (c: Case) => Int32Array;
  /** Store NaN/Inf in the K and V rows of these keys (which the options must hide). */
  poisonKeys?: (c: Case) => Array<[number, number]>;
  /** [batch, query head, row] triples that must come out as exact zeros. */
  deadRows?: (c: Case) => Array<[number, number, number]>;
}

function paddingOf(c: Case, hidden: (b: number, j: number) => boolean): Uint8Array {
  const pad = new Uint8Array(c.B * c.Lk);
  for (let b = 0; b < c.B; b++) for (let j = 0; j < c.Lk; j++) pad[b * c.Lk + j] = hidden(b, j) ? 0 : 1;
  return pad;
}

const alibi = (H: number): Float32Array => Float32Array.from({ length: H }, (_, h) => 2 ** (-(h + 1) / 2));

const cases: Case[] = [
  { name: 'tiled, one query block per head (K packed per item)', B: 2, H: 4, Hkv: 4, Lq: 5, Lk: 77, D: 64, Dv: 64 },
  { name: 'tiled, pre-packed K, causal', B: 1, H: 2, Hkv: 2, Lq: 130, Lk: 130, D: 64, Dv: 64, options: () => ({ causal: true }) },
  { name: 'tiled, D and Dv not multiples of the vector width', B: 1, H: 3, Hkv: 3, Lq: 21, Lk: 45, D: 7, Dv: 23 },
  { name: 'tiled GQA H=8 Hkv=2, causal, Lq < Lk', B: 2, H: 8, Hkv: 2, Lq: 40, Lk: 90, D: 32, Dv: 40, options: () => ({ causal: true }) },
  { name: 'layout blhd (strided K/V rows)', B: 2, H: 3, Hkv: 3, Lq: 19, Lk: 50, D: 24, Dv: 24, options: () => ({ layout: 'blhd', causal: true }) },
  {
    name: 'additive mask + ALiBi + softcap, returnLse',
    B: 1, H: 2, Hkv: 2, Lq: 33, Lk: 70, D: 16, Dv: 16,
    options: (c) => ({ mask: { data: randn(c.Lq * c.Lk, 7), shape: [c.Lq, c.Lk] }, alibiSlopes: alibi(c.H), softcap: 5, returnLse: true }),
  },
  {
    name: 'boolean mask, window, returnWeights',
    B: 2, H: 2, Hkv: 1, Lq: 24, Lk: 60, D: 32, Dv: 32,
    options: (c) => {
      const allow = new Uint8Array(c.Lq * c.Lk);
      for (let i = 0; i < allow.length; i++) allow[i] = i % 5 === 0 ? 0 : 1;
      return { mask: { data: allow, shape: [c.Lq, c.Lk] } as BoolTensor, window: [10, 3], returnWeights: true };
    },
  },
  {
    name: 'key padding and key lengths, NaN/Inf stored at the hidden keys',
    B: 2, H: 2, Hkv: 2, Lq: 18, Lk: 100, D: 32, Dv: 48,
    options: (c) => ({ keyPadding: paddingOf(c, (_b, j) => j % 7 === 3), keyLengths: Int32Array.of(100, 61) }),
    poisonKeys: () => [[0, 3], [0, 10], [1, 17], [1, 70], [1, 99]],
  },
  {
    name: 'fully masked rows give zeros',
    B: 1, H: 2, Hkv: 2, Lq: 6, Lk: 40, D: 16, Dv: 16,
    options: (c) => {
      const allow = new Uint8Array(c.Lq * c.Lk).fill(1);
      allow.fill(0, 2 * c.Lk, 3 * c.Lk);
      return { mask: { data: allow, shape: [c.Lq, c.Lk] } as BoolTensor, returnLse: true };
    },
    deadRows: () => [[0, 0, 2], [0, 1, 2]],
  },
  { name: 'decode, one item per head', B: 2, H: 4, Hkv: 4, Lq: 1, Lk: 300, D: 128, Dv: 128 },
  { name: 'decode split-K (1 stream, 4096 keys)', B: 1, H: 1, Hkv: 1, Lq: 1, Lk: 4096, D: 64, Dv: 64, options: () => ({ returnLse: true }) },
  { name: 'decode GQA H=8 Hkv=2, split-K, ALiBi', B: 1, H: 8, Hkv: 2, Lq: 1, Lk: 1100, D: 64, Dv: 64, options: (c) => ({ alibiSlopes: alibi(c.H), returnLse: true }) },
  { name: 'decode MQA with 12 query heads on one kv head, D=40', B: 1, H: 12, Hkv: 1, Lq: 1, Lk: 700, D: 40, Dv: 24 },
  { name: 'decode GQA with 3 query heads per kv head, D=Dv=128', B: 2, H: 6, Hkv: 2, Lq: 1, Lk: 333, D: 128, Dv: 128 },
  {
    name: 'decode with key padding, window and NaN/Inf at hidden keys',
    B: 2, H: 4, Hkv: 2, Lq: 1, Lk: 600, D: 64, Dv: 64,
    options: (c) => ({ keyPadding: paddingOf(c, (b, j) => (j + b) % 9 === 0), window: [400, 0], softcap: 3 }),
    poisonKeys: () => [[0, 0], [0, 9], [1, 8], [1, 593], [0, 100]],
  },
  {
    name: 'decode, key lengths with an empty batch row',
    B: 3, H: 2, Hkv: 1, Lq: 1, Lk: 520, D: 32, Dv: 32,
    options: () => ({ keyLengths: Int32Array.of(520, 0, 333), returnLse: true }),
    deadRows: () => [[1, 0, 0], [1, 1, 0]],
  },
  {
    name: 'rowOffsets: KV cache with per-row lengths, causal bottom-right in each row',
    B: 3, H: 4, Hkv: 2, Lq: 7, Lk: 90, D: 32, Dv: 32,
    options: () => ({ causal: true, keyLengths: Int32Array.of(90, 41, 7), alibiSlopes: alibi(4) }),
    rowOffsets: () => Int32Array.of(90 - 7, 41 - 7, 0),
  },
  {
    name: 'rowOffsets: prefill chunk, window, rows seeing nothing',
    B: 2, H: 2, Hkv: 2, Lq: 70, Lk: 150, D: 16, Dv: 16,
    options: () => ({ window: [20, 0], keyLengths: Int32Array.of(150, 100), returnLse: true }),
    rowOffsets: () => Int32Array.of(80, -10),
    deadRows: () => Array.from({ length: 10 }, (_, i) => [1, 0, i] as [number, number, number]),
  },
  {
    name: 'rowOffsets: decode with per-row cache lengths (split-K)',
    B: 2, H: 8, Hkv: 2, Lq: 1, Lk: 2048, D: 64, Dv: 64,
    options: () => ({ causal: true, keyLengths: Int32Array.of(2048, 777) }),
    rowOffsets: () => Int32Array.of(2047, 776),
  },
  {
    name: 'rowOffsets: decode with a sliding window per row',
    B: 2, H: 2, Hkv: 2, Lq: 1, Lk: 900, D: 64, Dv: 64,
    options: () => ({ window: [256, 0], keyLengths: Int32Array.of(900, 500), alibiSlopes: alibi(2) }),
    rowOffsets: () => Int32Array.of(899, 499),
  },
];

interface Prepared {
  args: NativeAttentionArgs;
  kBits: Uint16Array;
  vBits: Uint16Array;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  refOptions: ReferenceOptions;
  resolvedShapes: { layout: 'bhld' | 'blhd' };
}

function prepare(c: Case): Prepared {
  const options = c.options ? c.options(c) : {};
  const layout = options.layout ?? 'bhld';
  const shape = (heads: number, L: number, width: number): number[] => (layout === 'bhld' ? [c.B, heads, L, width] : [c.B, L, heads, width]);
  const q = tensor(shape(c.H, c.Lq, c.D), 11);
  const k = tensor(shape(c.Hkv, c.Lk, c.D), 12);
  const v = tensor(shape(c.Hkv, c.Lk, c.Dv), 13);
  const resolved = resolveAttention(q, k, v, options);
  const kBits = toBf16(k.data);
  const vBits = toBf16(v.data);
  if (c.poisonKeys) {
    const bad = [0x7fc0, 0x7f80, 0xff80, 0xffc1, 0x7f81];
    let n = 0;
    for (const [b, j] of c.poisonKeys(c)) {
      for (let hk = 0; hk < c.Hkv; hk++) {
        const kRow = b * resolved.kStrideB + hk * resolved.kStrideH + j * resolved.kStrideL;
        const vRow = b * resolved.vStrideB + hk * resolved.vStrideH + j * resolved.vStrideL;
        kBits[kRow + (n % c.D)] = bad[n % bad.length];
        vBits[vRow + (n % c.Dv)] = bad[(n + 1) % bad.length];
        n++;
      }
    }
  }
  const rowOffsets = c.rowOffsets ? c.rowOffsets(c) : null;
  const args: NativeAttentionArgs = { ...resolved, k: kBits, v: vBits, rowOffsets };
  const refOptions: ReferenceOptions = {
    scale: options.scale,
    causal: options.causal,
    mask: options.mask ?? null,
    keyPadding: options.keyPadding ?? null,
    keyLengths: options.keyLengths ?? null,
    layout,
    window: options.window ?? null,
    alibiSlopes: options.alibiSlopes ?? null,
    softcap: options.softcap ?? 0,
    rowOffsets,
  };
  return { args, kBits, vBits, q, k, v, refOptions, resolvedShapes: { layout } };
}

/** Max abs difference of lse, with -Infinity required to match exactly. */
function lseWorstError(got: Float32Array, want: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (want[i] === -Infinity) {
      if (got[i] !== -Infinity) return Infinity;
      continue;
    }
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  }
  return worst;
}

let worstVsFp32 = 0;
let worstVsFp32Case = '';

describe.runIf(addon !== null)('attention with bf16 K/V and rowOffsets', () => {
  afterAll(() => {
    // Recorded for the README's accuracy note.
    console.log(`bf16 K/V vs fp32 inputs: worst relative Frobenius error ${worstVsFp32.toExponential(2)} (${worstVsFp32Case})`);
  });

  for (const mode of nativeModes(addon)) {
    describe(mode.name, () => {
      for (const c of cases) {
        it(c.name, () => {
          mode.select();
          const p = prepare(c);
          const wantWeights = p.args.weights !== null;
          addon!.attention(p.args);
          const got = p.args.out;
          expect(got.some((x) => !Number.isFinite(x))).toBe(false);

          const kWide: Tensor = { data: widen(p.kBits), shape: p.k.shape };
          const vWide: Tensor = { data: widen(p.vBits), shape: p.v.shape };
          const ref = referenceAttentionFull(p.q, kWide, vWide, p.refOptions, wantWeights);
          expect(relFrobenius(got, ref.out)).toBeLessThanOrEqual(TOL_WIDENED);
          if (p.args.lse) expect(lseWorstError(p.args.lse, ref.lse)).toBeLessThanOrEqual(TOL_WIDENED);
          if (p.args.weights) expect(relFrobenius(p.args.weights, ref.weights!)).toBeLessThanOrEqual(TOL_WIDENED);

          if (!c.poisonKeys) {
            // Storage rounding only: against the fp32 values the bf16 came from.
            const fp32 = referenceAttentionFull(p.q, p.k, p.v, p.refOptions).out;
            const err = relFrobenius(got, fp32);
            expect(err).toBeLessThanOrEqual(TOL_FP32);
            if (err > worstVsFp32) {
              worstVsFp32 = err;
              worstVsFp32Case = c.name;
            }
          }
          if (c.deadRows) {
            const { layout } = p.resolvedShapes;
            for (const [b, h, i] of c.deadRows(c)) {
              const start = layout === 'bhld' ? ((b * c.H + h) * c.Lq + i) * c.Dv : ((b * c.Lq + i) * c.H + h) * c.Dv;
              expect(Array.from(got.subarray(start, start + c.Dv))).toEqual(new Array(c.Dv).fill(0));
              if (p.args.lse) expect(p.args.lse[(b * c.H + h) * c.Lq + i]).toBe(-Infinity);
            }
          }
        });
      }
    });
  }

  it('fp32 and bf16 calls agree with the widened values passed as fp32', () => {
    // Same numbers, two storages: the kernel's arithmetic is the same fp32 either way.
    for (const c of cases.filter((x) => !x.poisonKeys)) {
      const p = prepare(c);
      addon!.attention(p.args);
      const asFloat: NativeAttentionArgs = { ...p.args, k: widen(p.kBits), v: widen(p.vBits), out: new Float32Array(p.args.out.length) };
      if (asFloat.lse) asFloat.lse = new Float32Array(asFloat.lse.length);
      if (asFloat.weights) asFloat.weights = new Float32Array(asFloat.weights.length);
      addon!.attention(asFloat);
      expect(relFrobenius(p.args.out, asFloat.out)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('attentionAsync with bf16 K/V and rowOffsets equals attention', async () => {
    for (const c of cases.filter((x) => x.rowOffsets || x.Lq === 1)) {
      const sync = prepare(c);
      addon!.attention(sync.args);
      const async = prepare(c);
      await addon!.attentionAsync(async.args);
      expect(Buffer.from(async.args.out.buffer).equals(Buffer.from(sync.args.out.buffer))).toBe(true);
    }
  });

  it('decode gives the same result with 1 and 2 threads up to the split merge', () => {
    const c = cases.find((x) => x.name.startsWith('decode GQA'))!;
    addon!.setThreads(1);
    const one = prepare(c);
    addon!.attention(one.args);
    addon!.setThreads(2);
    const two = prepare(c);
    addon!.attention(two.args);
    expect(relFrobenius(two.args.out, one.args.out)).toBeLessThanOrEqual(1e-6);
  });
});

// ---- binding guards ------------------------------------------------------------

describe.runIf(addon !== null)('native binding guards for bf16 K/V and rowOffsets', () => {
  // A valid bf16 call: B=2, H=2, L=4, D=Dv=8, contiguous [B,H,L,D].
  const base = (): NativeAttentionArgs => {
    const q = randn(2 * 2 * 4 * 8, 5);
    const kv = toBf16(q);
    return {
      q, k: kv, v: kv.slice(), out: new Float32Array(q.length),
      B: 2, H: 2, Hkv: 2, Lq: 4, Lk: 4, D: 8, Dv: 8,
      qStrideB: 64, qStrideH: 32, qStrideL: 8, kStrideB: 64, kStrideH: 32, kStrideL: 8,
      vStrideB: 64, vStrideH: 32, vStrideL: 8, oStrideB: 64, oStrideH: 32, oStrideL: 8,
      mask: null, maskStrideB: 0, maskStrideH: 0, maskStrideQ: 0, maskStrideK: 1,
      boolMask: null, boolMaskStrideB: 0, boolMaskStrideH: 0, boolMaskStrideQ: 0, boolMaskStrideK: 1,
      keyPadding: null, keyLengths: null, scale: 1, alignOffset: 0, windowLeft: -1, windowRight: 0,
      alibiSlopes: null, softcap: 0, lse: null, weights: null, rowOffsets: Int32Array.of(0, 0),
    };
  };
  it('accepts the valid call, with rowOffsets absent, null or given', () => {
    expect(() => addon!.attention(base())).not.toThrow();
    expect(() => addon!.attention({ ...base(), rowOffsets: null })).not.toThrow();
    const { rowOffsets: _omitted, ...withoutRowOffsets } = base();
    expect(() => addon!.attention(withoutRowOffsets)).not.toThrow();
    // rowOffsets equal to alignOffset in every row changes nothing.
    const a = base();
    const b = { ...base(), rowOffsets: null };
    addon!.attention(a);
    addon!.attention(b);
    expect(Array.from(a.out)).toEqual(Array.from(b.out));
  });
  it('rejects k and v of different kinds', () => {
    expect(() => addon!.attention({ ...base(), v: new Float32Array(128) })).toThrow(
      new TypeError('fused-attention (native): expected k and v to be the same kind of array (both Float32Array or both Uint16Array) but received k: Uint16Array, v: Float32Array'),
    );
    expect(() => addon!.attention({ ...base(), k: new Float32Array(128) })).toThrow(
      new TypeError('fused-attention (native): expected k and v to be the same kind of array (both Float32Array or both Uint16Array) but received k: Float32Array, v: Uint16Array'),
    );
    expect(() => addon!.attention({ ...base(), v: new Int16Array(128) as unknown as Uint16Array })).toThrow(
      new TypeError('fused-attention (native): expected v to be a Float32Array or a Uint16Array (bfloat16)'),
    );
  });
  it('counts Uint16Array extents in elements', () => {
    expect(() => addon!.attention({ ...base(), k: new Uint16Array(127) })).toThrow(
      new RangeError('fused-attention (native): expected k to hold at least 128 elements but it holds 127'),
    );
    // 64 Float32 elements' worth of bytes is not enough: 128 bf16 elements are needed.
    expect(() => addon!.attention({ ...base(), v: new Uint16Array(new ArrayBuffer(128)) })).toThrow(
      new RangeError('fused-attention (native): expected v to hold at least 128 elements but it holds 64'),
    );
    expect(() => addon!.attention({ ...base(), vStrideL: 9 })).toThrow(
      new RangeError('fused-attention (native): expected v to hold at least 131 elements but it holds 128'),
    );
  });
  it('rejects rowOffsets of the wrong length or kind', () => {
    expect(() => addon!.attention({ ...base(), rowOffsets: Int32Array.of(0) })).toThrow(
      new RangeError('fused-attention (native): expected rowOffsets to hold 2 elements but it holds 1'),
    );
    expect(() => addon!.attention({ ...base(), rowOffsets: Int32Array.of(0, 0, 0) })).toThrow(
      new RangeError('fused-attention (native): expected rowOffsets to hold 2 elements but it holds 3'),
    );
    expect(() => addon!.attention({ ...base(), rowOffsets: Float64Array.of(0, 0) as unknown as Int32Array })).toThrow(
      new TypeError('fused-attention (native): expected rowOffsets to be a Int32Array'),
    );
  });
  it('extreme rowOffsets hide everything or nothing, never crash', () => {
    for (const offsets of [Int32Array.of(-(2 ** 31), 2 ** 31 - 1), Int32Array.of(2 ** 31 - 1, -(2 ** 31))]) {
      const args = { ...base(), rowOffsets: offsets };
      addon!.attention(args);
      expect(args.out.every(Number.isFinite)).toBe(true);
      const decode = { ...base(), Lq: 1, qStrideH: 8, qStrideB: 16, q: new Float32Array(32), out: new Float32Array(32), oStrideH: 8, oStrideB: 16, rowOffsets: offsets };
      addon!.attention(decode);
      expect(decode.out.every(Number.isFinite)).toBe(true);
    }
  });
});
