/**
 * Property-based fuzzing of the public API with fast-check.
 *
 * Bad arguments: every corrupted call must fail with a TypeError or RangeError
 * whose message is one `<op>: expected … but received …` sentence, thrown by
 * the TypeScript checks (never the binding's, never another error class, never
 * a crash). Valid calls: random small shapes and option mixes must equal the
 * pure-TS kernel, must not read past their input views and must not write
 * past their output view. NaN/Inf: propagate to the rows they touch only, on
 * every ISA and in the JS kernel.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attention, attentionAsync, explain, setThreads } from '../lib/index';
import { nativeAddon } from '../lib/backend';
import { attention_forward } from '../lib/js/attention';
import { resolveAttention } from '../lib/options';
import type { AttentionOptions, AttentionResult, Tensor } from '../lib/types';
import { relFrobenius } from './oracle/attention.mjs';
import { randn } from './oracle/prng.mjs';
import { restoreNativeModeAfterAll } from './native-modes';
import { filledTensor, product, type Dims as AttentionDims } from './helpers';

const addon = nativeAddon();
const isas = addon ? addon.info().supportedIsas : [];
restoreNativeModeAfterAll(addon);
const initialThreads = addon?.info().threads;

/** Fixed seed so a failure reproduces; FUZZ_SEED overrides it to explore. */
const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const BAD_RUNS = Number(process.env.FUZZ_BAD_RUNS ?? 10_000);
const VALID_RUNS = Number(process.env.FUZZ_VALID_RUNS ?? 1000);
const TOL = 1e-5;

/** One `op: expected … but received …` sentence, as lib/validate.ts renders every argument error. */
const MESSAGE = (op: string): RegExp => new RegExp(`^${op}: expected \\S.* but received \\S`, 's');

function expectArgumentError(err: unknown, op = 'attention'): void {
  if (!(err instanceof TypeError || err instanceof RangeError)) {
    throw new Error(`expected a TypeError or RangeError but got ${String(err)}`, { cause: err });
  }
  expect(err.constructor === TypeError || err.constructor === RangeError).toBe(true);
  expect(err.message).toMatch(MESSAGE(op));
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw, but it returned');
}

// ---- shapes ------------------------------------------------------------------

interface Dims extends AttentionDims {
  rank: 3 | 4;
}

const dimsArb = (maxL: number, maxD: number): fc.Arbitrary<Dims> =>
  fc
    .record({
      rank: fc.constantFrom(3 as const, 4 as const),
      B: fc.integer({ min: 1, max: 2 }),
      Hkv: fc.integer({ min: 1, max: 3 }),
      group: fc.integer({ min: 1, max: 3 }),
      Lq: fc.integer({ min: 1, max: maxL }),
      Lk: fc.integer({ min: 1, max: maxL }),
      D: fc.integer({ min: 1, max: maxD }),
      Dv: fc.integer({ min: 1, max: maxD }),
    })
    .map(({ rank, B, Hkv, group, Lq, Lk, D, Dv }) => ({ rank, B: rank === 3 ? 1 : B, H: Hkv * group, Hkv, Lq, Lk, D, Dv }));

function shapesOf(d: Dims): { q: number[]; k: number[]; v: number[] } {
  const lead = d.rank === 4 ? [d.B] : [];
  return { q: [...lead, d.H, d.Lq, d.D], k: [...lead, d.Hkv, d.Lk, d.D], v: [...lead, d.Hkv, d.Lk, d.Dv] };
}

/** A Float32Array view whose underlying buffer was transferred away (length 0). */
function detachedFloat32(n: number): Float32Array {
  const view = new Float32Array(n);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}
function detachedUint8(n: number): Uint8Array {
  const view = new Uint8Array(n);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}
function detachedInt32(n: number): Int32Array {
  const view = new Int32Array(n);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

// ---- bad calls -----------------------------------------------------------------

type Call = [unknown, unknown, unknown, unknown];

/** Values that are not a valid dim, or (0, -0) not one that matches the unchanged data. */
const badDim = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 0.5, NaN, Infinity, -Infinity, Number.EPSILON, '4', 4n, null, undefined, true, [4], {}),
  fc.double({ noInteger: true, min: -1e6, max: 1e6 }),
  fc.integer({ min: -1_000_000, max: 0 }),
);

/** Dims whose product exceeds 2**32 (and often 2**53, or is not a safe integer at all). */
const hugeDims = fc.constantFrom(
  [2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20], // 2**80
  [2 ** 31, 2 ** 31, 2, 2], // 2**64: overflows int64 too
  [1, 2 ** 16, 2 ** 16, 2], // 2**33
  [2 ** 32 + 1, 1, 1], // one dim past 2**32
  [2 ** 53, 1, 1, 1], // not a safe integer, still Number.isInteger
  [2 ** 53 + 2, 3, 1, 1],
  [Number.MAX_SAFE_INTEGER, 2, 1, 1],
  [1e300, 1e300, 1, 1], // product Infinity
  [Number.MAX_VALUE, 1, 1],
  [2 ** 26, 2 ** 26, 2, 1], // 2**53 exactly
  [65536, 65536, 1, 1], // 2**32 + 0: exactly the limit, but data is tiny
);

const wrongArrayKind = fc.constantFrom(
  'Float64Array',
  'Int32Array',
  'Uint8Array',
  'Float32Array[]',
  'number[]',
  'DataView',
  'Buffer',
  'ArrayBuffer',
  'null',
  'number',
  'string',
  'object',
);
function arrayOfKind(kind: string, n: number): unknown {
  switch (kind) {
    case 'Float64Array':
      return new Float64Array(n);
    case 'Int32Array':
      return new Int32Array(n);
    case 'Uint8Array':
      return new Uint8Array(n);
    case 'Float32Array[]':
      return [new Float32Array(n)];
    case 'number[]':
      return new Array<number>(n).fill(0);
    case 'DataView':
      return new DataView(new ArrayBuffer(4 * n));
    case 'Buffer':
      return Buffer.alloc(4 * n);
    case 'ArrayBuffer':
      return new ArrayBuffer(4 * n);
    case 'null':
      return null;
    case 'number':
      return n;
    case 'string':
      return 'x'.repeat(n);
    default:
      return { length: n, 0: 0 };
  }
}

const tensorName = fc.constantFrom('q', 'k', 'v');

/** One corruption of an otherwise valid call; each variant is invalid by construction. */
const corruptionArb = fc.oneof(
  fc.record({ kind: fc.constant('notTensor' as const), which: tensorName, value: fc.anything() }),
  fc.record({ kind: fc.constant('rank' as const), which: tensorName, rank: fc.constantFrom(0, 1, 2, 5, 6, 9) }),
  fc.record({
    kind: fc.constant('mismatch' as const),
    // (tensor, logical axis) pairs that must agree across q, k and v
    at: fc.constantFrom(['q', 'B'], ['k', 'B'], ['v', 'B'], ['k', 'H'], ['v', 'H'], ['k', 'L'], ['v', 'L'], ['q', 'D'], ['k', 'D']),
    delta: fc.integer({ min: 1, max: 5 }),
  }),
  fc.record({ kind: fc.constant('headsIndivisible' as const), extra: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('rankMismatch' as const), which: fc.constantFrom('k', 'v') }),
  fc.record({ kind: fc.constant('arrayKind' as const), which: tensorName, array: wrongArrayKind }),
  fc.record({ kind: fc.constant('length' as const), which: tensorName, delta: fc.integer({ min: -3, max: 5 }).filter((d) => d !== 0) }),
  fc.record({ kind: fc.constant('detached' as const), which: fc.constantFrom('q', 'k', 'v', 'mask', 'boolMask', 'out', 'keyPadding', 'keyLengths', 'alibiSlopes') }),
  fc.record({ kind: fc.constant('badDim' as const), which: tensorName, axis: fc.nat(3), dim: badDim }),
  fc.record({ kind: fc.constant('hugeDims' as const), which: tensorName, shape: hugeDims }),
  fc.record({ kind: fc.constant('shapeNotArray' as const), which: tensorName, shape: fc.constantFrom(undefined, null, 4, '1,2,3,4', { length: 4 }, new Int32Array([1, 1, 1, 1])) }),
  fc.record({ kind: fc.constant('sparseShape' as const), which: tensorName }),
  fc.record({
    kind: fc.constant('scale' as const),
    value: fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, -1, '1', null, true, 1n, [1], 1e39, 1e-46), fc.double({ max: 0 }), fc.double().filter((x) => !Number.isFinite(x))),
  }),
  fc.record({ kind: fc.constant('softcap' as const), value: fc.constantFrom(NaN, Infinity, -Infinity, 0, -2, '30', null, false, 1e39, 1e-46) }),
  fc.record({ kind: fc.constant('causal' as const), value: fc.constantFrom(1, 0, 'true', 'top-right', 'bottom-right', null, {}, []) }),
  fc.record({ kind: fc.constant('layout' as const), value: fc.constantFrom('BHLD', 'bhdl', 'lbhd', '', 0, null, true, ['bhld']) }),
  fc.record({ kind: fc.constant('flag' as const), name: fc.constantFrom('returnLse', 'returnWeights'), value: fc.constantFrom(1, 0, 'true', null, {}) }),
  fc.record({
    kind: fc.constant('window' as const),
    value: fc.constantFrom(4, 'all', {}, [], [1], [1, 2, 3], [-2, 0], [0, -2], [1.5, 0], [0, NaN], [0, Infinity], ['1', 0], [null, 0], [0, 1n]),
  }),
  fc.record({
    kind: fc.constant('mask' as const),
    variant: fc.constantFrom('rank0', 'rank5', 'lastDim', 'midDim', 'float64', 'int8', 'uint8clamped', 'length', 'notObject', 'array'),
  }),
  fc.record({ kind: fc.constant('keyPadding' as const), variant: fc.constantFrom('type', 'length', 'array', 'string') }),
  fc.record({ kind: fc.constant('keyLengths' as const), variant: fc.constantFrom('type', 'length', 'negative', 'tooLong', 'huge', 'array') }),
  fc.record({ kind: fc.constant('alibiSlopes' as const), variant: fc.constantFrom('type', 'length', 'nan', 'inf') }),
  fc.record({ kind: fc.constant('out' as const), variant: fc.constantFrom('type', 'length', 'overlapQ', 'overlapMask', 'array', 'null') }),
  fc.record({ kind: fc.constant('unknownKey' as const), key: fc.constantFrom('casual', 'Scale', 'masks', 'dropout', 'is_causal', 'attn_mask', '__proto__x', '') }),
  fc.record({ kind: fc.constant('optionsNotObject' as const), value: fc.constantFrom(null, 1, 'causal', true, [], [{ causal: true }], new Float32Array(1), () => 1) }),
  fc.record({ kind: fc.constant('outputTooLarge' as const), returnWeights: fc.boolean() }),
);
type Corruption = typeof corruptionArb extends fc.Arbitrary<infer C> ? C : never;

// Inputs for the size limits that follow from several tensors together, built once (256 KiB each).
const wideHeads = filledTensor([1, 65536, 1, 1]);
const oneKey = filledTensor([1, 1, 1, 1]);
const wideValue = filledTensor([1, 1, 1, 65537]); // out = 65536 * 65537 > 2**32
const longQ = filledTensor([1, 1, 16384, 1]);
const longK = filledTensor([1, 1, 16385, 1]); // Lq*Lk > 2**28 with returnWeights

/** Where the logical axis sits in this rank's shape (bhld). */
function axisIndex(rank: number, axis: 'B' | 'H' | 'L' | 'D'): number {
  const at = { B: 0, H: 1, L: 2, D: 3 }[axis];
  return at - (4 - rank);
}

function buildBadCall(d: Dims, c: Corruption): Call {
  const s = shapesOf(d);
  const t: Record<'q' | 'k' | 'v', Tensor> = { q: filledTensor(s.q), k: filledTensor(s.k), v: filledTensor(s.v) };
  const opts: Record<string, unknown> = {};
  const lead = d.rank === 4 ? [d.B] : [];
  const set = (which: 'q' | 'k' | 'v', value: unknown): void => {
    (t as Record<string, unknown>)[which] = value;
  };
  switch (c.kind) {
    case 'notTensor': {
      const value = c.value;
      // fc.anything() practically never builds a valid tensor, but make sure.
      if (typeof value === 'object' && value !== null && 'data' in value && 'shape' in value) set(c.which, null);
      else set(c.which, value);
      break;
    }
    case 'rank': {
      const shape = Array.from({ length: c.rank }, (_, i) => (i % 2) + 1);
      set(c.which, filledTensor(shape));
      break;
    }
    case 'mismatch': {
      const [which, axis] = c.at as ['q' | 'k' | 'v', 'B' | 'H' | 'L' | 'D'];
      if (axis === 'B' && d.rank === 3) {
        // no batch axis: mismatch H of v instead
        const shape = [...t.v.shape];
        shape[axisIndex(3, 'H')] += c.delta;
        set('v', filledTensor(shape));
      } else {
        const shape = [...t[which].shape];
        shape[axisIndex(d.rank, axis)] += c.delta;
        set(which, filledTensor(shape));
      }
      break;
    }
    case 'headsIndivisible': {
      // k and v get Hkv' heads with H % Hkv' != 0
      let hkv = d.H + c.extra;
      if (d.H % hkv === 0) hkv += 1;
      set('k', filledTensor([...lead, hkv, d.Lk, d.D]));
      set('v', filledTensor([...lead, hkv, d.Lk, d.Dv]));
      break;
    }
    case 'rankMismatch': {
      const shape = t[c.which].shape;
      set(c.which, filledTensor(d.rank === 4 ? shape.slice(1) : [1, ...shape]));
      break;
    }
    case 'arrayKind':
      set(c.which, { data: arrayOfKind(c.array, product(t[c.which].shape)), shape: t[c.which].shape });
      break;
    case 'length': {
      const n = Math.max(0, product(t[c.which].shape) + c.delta);
      const length = n === product(t[c.which].shape) ? n + 1 : n;
      set(c.which, { data: new Float32Array(length), shape: t[c.which].shape });
      break;
    }
    case 'detached':
      switch (c.which) {
        case 'q':
        case 'k':
        case 'v':
          set(c.which, { data: detachedFloat32(product(t[c.which].shape)), shape: t[c.which].shape });
          break;
        case 'mask':
          opts.mask = { data: detachedFloat32(d.Lq * d.Lk), shape: [d.Lq, d.Lk] };
          break;
        case 'boolMask':
          opts.mask = { data: detachedUint8(d.Lq * d.Lk), shape: [d.Lq, d.Lk] };
          break;
        case 'out':
          opts.out = detachedFloat32(d.B * d.H * d.Lq * d.Dv);
          break;
        case 'keyPadding':
          opts.keyPadding = detachedUint8(d.B * d.Lk);
          break;
        case 'keyLengths':
          opts.keyLengths = detachedInt32(d.B);
          break;
        case 'alibiSlopes':
          opts.alibiSlopes = detachedFloat32(d.H);
          break;
      }
      break;
    case 'badDim': {
      const shape: unknown[] = [...t[c.which].shape];
      shape[c.axis % shape.length] = c.dim;
      set(c.which, { data: t[c.which].data, shape });
      break;
    }
    case 'hugeDims':
      set(c.which, { data: new Float32Array(4), shape: c.shape });
      break;
    case 'shapeNotArray':
      set(c.which, { data: t[c.which].data, shape: c.shape });
      break;
    case 'sparseShape': {
      const shape = [...t[c.which].shape];
      delete (shape as unknown as Record<number, number>)[1];
      set(c.which, { data: t[c.which].data, shape });
      break;
    }
    case 'scale':
      opts.scale = c.value;
      break;
    case 'softcap':
      opts.softcap = c.value;
      break;
    case 'causal':
      opts.causal = c.value;
      break;
    case 'layout':
      opts.layout = c.value;
      break;
    case 'flag':
      opts[c.name] = c.value;
      break;
    case 'window':
      opts.window = c.value;
      break;
    case 'mask': {
      const m = (shape: number[], data: unknown = new Float32Array(product(shape))): unknown => ({ data, shape });
      switch (c.variant) {
        case 'rank0':
          opts.mask = m([], new Float32Array(1));
          break;
        case 'rank5':
          opts.mask = m([1, 1, 1, d.Lq, d.Lk]);
          break;
        case 'lastDim':
          opts.mask = m([d.Lq, d.Lk + 1]);
          break;
        case 'midDim':
          opts.mask = m([d.Lq + 1, d.Lk]);
          break;
        case 'float64':
          opts.mask = m([d.Lq, d.Lk], new Float64Array(d.Lq * d.Lk));
          break;
        case 'int8':
          opts.mask = m([d.Lq, d.Lk], new Int8Array(d.Lq * d.Lk));
          break;
        case 'uint8clamped':
          opts.mask = m([d.Lq, d.Lk], new Uint8ClampedArray(d.Lq * d.Lk));
          break;
        case 'length':
          opts.mask = m([d.Lq, d.Lk], new Float32Array(d.Lq * d.Lk + 1));
          break;
        case 'notObject':
          opts.mask = 1;
          break;
        case 'array':
          opts.mask = new Float32Array(d.Lq * d.Lk);
          break;
      }
      break;
    }
    case 'keyPadding':
      opts.keyPadding =
        c.variant === 'type' ? new Int8Array(d.B * d.Lk) : c.variant === 'length' ? new Uint8Array(d.B * d.Lk + 1) : c.variant === 'array' ? new Array(d.B * d.Lk).fill(1) : 'yes';
      break;
    case 'keyLengths': {
      const lengths = new Int32Array(d.B).fill(d.Lk);
      if (c.variant === 'type') opts.keyLengths = new Uint32Array(d.B);
      else if (c.variant === 'length') opts.keyLengths = new Int32Array(d.B + 1);
      else if (c.variant === 'array') opts.keyLengths = [d.Lk];
      else {
        lengths[d.B - 1] = c.variant === 'negative' ? -1 : c.variant === 'tooLong' ? d.Lk + 1 : 2 ** 31 - 1;
        opts.keyLengths = lengths;
      }
      break;
    }
    case 'alibiSlopes': {
      if (c.variant === 'type') opts.alibiSlopes = new Float64Array(d.H);
      else if (c.variant === 'length') opts.alibiSlopes = new Float32Array(d.H + 1);
      else opts.alibiSlopes = new Float32Array(d.H).fill(c.variant === 'nan' ? NaN : -Infinity);
      break;
    }
    case 'out': {
      const n = d.B * d.H * d.Lq * d.Dv;
      if (c.variant === 'type') opts.out = new Float64Array(n);
      else if (c.variant === 'length') opts.out = new Float32Array(n + 1);
      else if (c.variant === 'array') opts.out = new Array(n).fill(0);
      else if (c.variant === 'null') opts.out = null;
      else if (c.variant === 'overlapQ') {
        // out is a view into the same buffer as q.data
        const buffer = new Float32Array(product(s.q) + n);
        set('q', { data: buffer.subarray(0, product(s.q)), shape: s.q });
        opts.out = buffer.subarray(Math.max(0, product(s.q) - 1), Math.max(0, product(s.q) - 1) + n);
      } else {
        const buffer = new Float32Array(d.Lq * d.Lk + n);
        opts.mask = { data: buffer.subarray(n - 1, n - 1 + d.Lq * d.Lk), shape: [d.Lq, d.Lk] };
        opts.out = buffer.subarray(0, n);
      }
      break;
    }
    case 'unknownKey':
      opts[c.key] = true;
      break;
    case 'optionsNotObject':
      return [t.q, t.k, t.v, c.value];
    case 'outputTooLarge':
      if (c.returnWeights) return [longQ, longK, longK, { returnWeights: true }];
      return [wideHeads, oneKey, wideValue, undefined];
  }
  return [t.q, t.k, t.v, opts];
}

const badCallArb = fc.tuple(dimsArb(6, 6), corruptionArb).map(([d, c]) => ({ d, c, call: buildBadCall(d, c) }));

describe('fuzz: bad arguments fail with a TypeError or RangeError naming the argument', () => {
  it(`attention(): ${BAD_RUNS} corrupted calls`, () => {
    fc.assert(
      fc.property(badCallArb, ({ call }) => {
        expectArgumentError(thrownBy(() => attention(...(call as Parameters<typeof attention>))));
      }),
      { numRuns: BAD_RUNS, seed: SEED },
    );
  });

  it(`explain(): ${BAD_RUNS} corrupted calls`, () => {
    fc.assert(
      fc.property(badCallArb, ({ call }) => {
        expectArgumentError(thrownBy(() => explain(...(call as Parameters<typeof explain>))));
      }),
      { numRuns: BAD_RUNS, seed: SEED + 1 },
    );
  });

  it(`attentionAsync(): ${BAD_RUNS} corrupted calls reject (never throw synchronously)`, async () => {
    await fc.assert(
      fc.asyncProperty(badCallArb, async ({ call }) => {
        let promise: Promise<unknown> | null = null;
        expect(() => {
          promise = attentionAsync(...(call as Parameters<typeof attentionAsync>));
        }).not.toThrow();
        expect(promise).toBeInstanceOf(Promise);
        const outcome = await promise!.then(
          () => ({ resolved: true, err: null as unknown }),
          (err: unknown) => ({ resolved: false, err }),
        );
        expect(outcome.resolved).toBe(false);
        expectArgumentError(outcome.err);
      }),
      { numRuns: BAD_RUNS, seed: SEED + 2 },
    );
  });

  it(`setThreads(): ${BAD_RUNS} bad values`, () => {
    const isValidThreads = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 256;
    const badThreads = fc.oneof(
      fc.anything(),
      fc.double(),
      fc.integer({ min: -(2 ** 31), max: 0 }),
      fc.integer({ min: 257, max: 2 ** 31 }),
      fc.constantFrom(NaN, Infinity, -Infinity, 1.5, 256.5, 2 ** 53, -0, '2', 2n, null, undefined, [2], new Number(2)),
    ).filter((n) => !isValidThreads(n));
    fc.assert(
      fc.property(badThreads, (n) => {
        expectArgumentError(thrownBy(() => setThreads(n as number)), 'setThreads');
      }),
      { numRuns: BAD_RUNS, seed: SEED + 3 },
    );
  });
});

// ---- valid calls ---------------------------------------------------------------

interface ValidSpec {
  d: Dims;
  layout: 'bhld' | 'blhd';
  causal: boolean | 'top-left';
  mask: 'none' | 'additive' | 'additiveHoles' | 'broadcastKeys' | 'perHead' | 'bool';
  keyPadding: boolean;
  keyLengths: boolean;
  window: [number, number] | null;
  alibi: boolean;
  softcap: number | null;
  scale: number | null;
  returnLse: boolean;
  returnWeights: boolean;
  useOut: boolean;
  /** Elements of NaN canary before and after each input view, and around out. */
  pad: number;
  seed: number;
}

const validSpecArb = (maxL: number, maxD: number): fc.Arbitrary<ValidSpec> =>
  fc.record({
    d: dimsArb(maxL, maxD),
    layout: fc.constantFrom('bhld' as const, 'blhd' as const),
    causal: fc.constantFrom(false, false, true, 'top-left' as const),
    mask: fc.constantFrom('none' as const, 'none' as const, 'additive' as const, 'additiveHoles' as const, 'broadcastKeys' as const, 'perHead' as const, 'bool' as const),
    keyPadding: fc.boolean(),
    keyLengths: fc.boolean(),
    window: fc.option(fc.tuple(fc.integer({ min: -1, max: 8 }), fc.integer({ min: -1, max: 8 })), { freq: 3 }),
    alibi: fc.boolean(),
    softcap: fc.option(fc.double({ min: 0.5, max: 50, noNaN: true }), { freq: 2 }),
    scale: fc.option(fc.double({ min: 0.01, max: 2, noNaN: true }), { freq: 2 }),
    returnLse: fc.boolean(),
    returnWeights: fc.boolean(),
    useOut: fc.boolean(),
    pad: fc.integer({ min: 0, max: 17 }),
    seed: fc.nat(),
  });

interface Built {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  options: AttentionOptions;
  /** Every view with NaN canaries around it, to check for over-reads and over-writes. */
  padded: Array<{ name: string; view: ArrayBufferView & ArrayLike<number>; pad: number }>;
}

/** A view of n random elements with `pad` canary elements on both sides, in a larger buffer. */
function paddedF32(n: number, pad: number, seed: number, canary = NaN): Float32Array {
  const whole = new Float32Array(n + 2 * pad).fill(canary);
  whole.set(randn(n, seed), pad);
  return whole.subarray(pad, pad + n);
}

function buildValid(s: ValidSpec): Built {
  const { d } = s;
  const lead = d.rank === 4 ? [d.B] : [];
  const shapeFor = (heads: number, length: number, width: number): number[] =>
    s.layout === 'bhld' ? [...lead, heads, length, width] : [...lead, length, heads, width];
  const qShape = shapeFor(d.H, d.Lq, d.D);
  const kShape = shapeFor(d.Hkv, d.Lk, d.D);
  const vShape = shapeFor(d.Hkv, d.Lk, d.Dv);
  const padded: Built['padded'] = [];
  const f32 = (name: string, n: number, seed: number): Float32Array => {
    const view = paddedF32(n, s.pad, seed);
    padded.push({ name, view, pad: s.pad });
    return view;
  };
  const q = { data: f32('q', product(qShape), s.seed), shape: qShape };
  const k = { data: f32('k', product(kShape), s.seed + 1), shape: kShape };
  const v = { data: f32('v', product(vShape), s.seed + 2), shape: vShape };
  const options: AttentionOptions = {};
  if (s.causal !== false) options.causal = s.causal;
  switch (s.mask) {
    case 'additive':
      options.mask = { data: f32('mask', d.Lq * d.Lk, s.seed + 3), shape: [d.Lq, d.Lk] };
      break;
    case 'additiveHoles': {
      const data = f32('mask', d.B * d.H * d.Lq * d.Lk, s.seed + 3);
      for (let i = s.seed % 3; i < data.length; i += 3) data[i] = -Infinity;
      options.mask = { data, shape: [d.B, d.H, d.Lq, d.Lk] };
      break;
    }
    case 'broadcastKeys':
      options.mask = { data: f32('mask', d.B * d.Lk, s.seed + 3), shape: [d.B, 1, 1, d.Lk] };
      break;
    case 'perHead':
      options.mask = { data: f32('mask', d.H * d.Lk, s.seed + 3), shape: [d.H, 1, d.Lk] };
      break;
    case 'bool': {
      const data = new Uint8Array(d.H * d.Lq * d.Lk);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 + s.seed) % 5 === 0 ? 0 : 1;
      options.mask = { data, shape: [d.H, d.Lq, d.Lk] };
      break;
    }
  }
  if (s.keyPadding) {
    const padding = new Uint8Array(d.B * d.Lk).fill(1);
    for (let i = s.seed % 4; i < padding.length; i += 4) padding[i] = 0;
    options.keyPadding = padding;
  }
  if (s.keyLengths) options.keyLengths = Int32Array.from({ length: d.B }, (_, b) => (s.seed + b * 7) % (d.Lk + 1));
  if (s.window !== null) options.window = s.window;
  if (s.alibi) options.alibiSlopes = Float32Array.from({ length: d.H }, (_, h) => 2 ** -(h + 1));
  if (s.softcap !== null) options.softcap = s.softcap;
  if (s.scale !== null) options.scale = s.scale;
  if (s.returnLse) options.returnLse = true;
  if (s.returnWeights) options.returnWeights = true;
  if (s.layout !== 'bhld') options.layout = s.layout;
  if (s.useOut) {
    // A canary of 7 (not NaN) around out: any write past the view changes it.
    const n = d.B * d.H * d.Lq * d.Dv;
    const whole = new Float32Array(n + 2 * s.pad).fill(7);
    options.out = whole.subarray(s.pad, s.pad + n);
    padded.push({ name: 'out', view: options.out, pad: s.pad });
  }
  return { q, k, v, options, padded };
}

/** The pure-TS kernel's answer to the same call (with its own out). */
function jsExpected(b: Built): AttentionResult {
  const { out: _out, ...options } = b.options;
  const r = resolveAttention(b.q, b.k, b.v, options);
  attention_forward(r);
  const result: AttentionResult = { data: r.out, shape: r.outShape };
  if (r.lse) result.lse = { data: r.lse, shape: r.lseShape };
  if (r.weights) result.weights = { data: r.weights, shape: r.weightsShape };
  return result;
}

/** Both arrays -Infinity at the same places, and within TOL elsewhere. */
function expectCloseWithInfinities(got: Float32Array, want: Float32Array): void {
  const gotFinite: number[] = [];
  const wantFinite: number[] = [];
  for (let i = 0; i < want.length; i++) {
    expect(got[i] === -Infinity).toBe(want[i] === -Infinity);
    if (want[i] !== -Infinity) {
      gotFinite.push(got[i]);
      wantFinite.push(want[i]);
    }
  }
  expect(relFrobenius(gotFinite, wantFinite)).toBeLessThanOrEqual(TOL);
}

function checkAgainstJs(b: Built, got: AttentionResult): void {
  const want = jsExpected(b);
  expect(got.shape).toEqual(want.shape);
  expect(got.data.some(Number.isNaN)).toBe(false);
  expect(relFrobenius(got.data, want.data)).toBeLessThanOrEqual(TOL);
  if (b.options.out) expect(got.data).toBe(b.options.out);
  if (want.lse) expectCloseWithInfinities(got.lse!.data, want.lse.data);
  else expect(got.lse).toBeUndefined();
  if (want.weights) expect(relFrobenius(got.weights!.data, want.weights.data)).toBeLessThanOrEqual(TOL);
  else expect(got.weights).toBeUndefined();
  // The canaries around every view are untouched: no read reached them (NaN would poison the output) and no write did.
  for (const { name, view, pad } of b.padded) {
    const whole = new Float32Array(view.buffer, 0, view.buffer.byteLength / 4);
    const start = view.byteOffset / 4;
    for (let i = 0; i < pad; i++) {
      const before = whole[start - pad + i];
      const after = whole[start + view.length + i];
      if (name === 'out') {
        expect(before, 'write before out').toBe(7);
        expect(after, 'write past out').toBe(7);
      } else {
        expect(Number.isNaN(before) && Number.isNaN(after), `canary around ${name}`).toBe(true);
      }
    }
  }
}

const modes = [...isas.flatMap((isa) => [`native ${isa}, 1 thread`, `native ${isa}, 2 threads`]), ...(addon ? [] : ['js'])];

function useMode(mode: string): void {
  if (!addon) return;
  const [, isa, threads] = /^native (\S+), (\d)/.exec(mode)!;
  addon.setIsa(isa as 'avx512' | 'avx2' | 'neon' | 'scalar');
  addon.setThreads(Number(threads));
}

describe('fuzz: valid calls equal the pure-TS kernel', () => {
  for (const [index, mode] of modes.entries()) {
    it(`attention(), ${mode}: ${VALID_RUNS} small calls`, () => {
      useMode(mode);
      fc.assert(
        fc.property(validSpecArb(12, 12), (s) => {
          const b = buildValid(s);
          checkAgainstJs(b, attention(b.q, b.k, b.v, b.options));
        }),
        { numRuns: VALID_RUNS, seed: SEED + 10 + index },
      );
    });
  }

  it(`attention(), every mode: 24 calls of up to 160×160×80 (the multithreaded tiled path)`, () => {
    for (const [index, mode] of modes.entries()) {
      useMode(mode);
      fc.assert(
        fc.property(validSpecArb(160, 80), (s) => {
          const b = buildValid({ ...s, returnWeights: false });
          checkAgainstJs(b, attention(b.q, b.k, b.v, b.options));
        }),
        { numRuns: 4, seed: SEED + 30 + index },
      );
    }
  });

  it(`attentionAsync(): ${VALID_RUNS} small calls`, async () => {
    useMode(modes[0]);
    await fc.assert(
      fc.asyncProperty(validSpecArb(12, 12), async (s) => {
        const b = buildValid(s);
        checkAgainstJs(b, await attentionAsync(b.q, b.k, b.v, b.options));
      }),
      { numRuns: VALID_RUNS, seed: SEED + 40 },
    );
  });

  it('explain(): plans every valid call without touching out', () => {
    fc.assert(
      fc.property(validSpecArb(64, 64), (s) => {
        const b = buildValid({ ...s, useOut: true });
        const plan = explain(b.q, b.k, b.v, b.options);
        expect(['native', 'js']).toContain(plan.backend);
        expect(plan.threads).toBeGreaterThanOrEqual(1);
        expect(plan.workItems).toBeGreaterThanOrEqual(1);
        expect(Number.isFinite(plan.scratchBytes)).toBe(true);
        expect(b.options.out!.every((x) => x === 7)).toBe(true);
      }),
      { numRuns: VALID_RUNS, seed: SEED + 41 },
    );
  });

  it('setThreads(): any valid size keeps results correct', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), validSpecArb(96, 32), (n, s) => {
        setThreads(n);
        const b = buildValid({ ...s, returnWeights: false });
        checkAgainstJs(b, attention(b.q, b.k, b.v, b.options));
      }),
      { numRuns: 100, seed: SEED + 42 },
    );
    setThreads(initialThreads ?? 1);
  });

  it('accepts other realms, resizable buffers and Buffer key padding', async () => {
    const { runInNewContext } = await import('node:vm');
    const d: Dims = { rank: 4, B: 2, H: 2, Hkv: 1, Lq: 5, Lk: 7, D: 8, Dv: 3 };
    const s = shapesOf(d);
    const foreign = runInNewContext(`new Float32Array(${product(s.q)})`) as Float32Array;
    foreign.set(randn(product(s.q), 1));
    // Resizable ArrayBuffers (ES2024) are not in this project's lib typings.
    const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;
    const resizable = new Float32Array(new Resizable(4 * product(s.k), { maxByteLength: 8 * product(s.k) }));
    resizable.set(randn(product(s.k), 2));
    const b: Built = {
      q: { data: foreign, shape: s.q },
      k: { data: resizable, shape: s.k },
      v: { data: randn(product(s.v), 3), shape: s.v },
      options: { keyPadding: Buffer.alloc(d.B * d.Lk, 1), causal: true },
      padded: [],
    };
    checkAgainstJs(b, attention(b.q, b.k, b.v, b.options));
    checkAgainstJs(b, await attentionAsync(b.q, b.k, b.v, b.options));
  });
});

// SharedArrayBuffer-backed arrays are accepted by both backends (the binding takes the data pointer from
// napi_get_typedarray_info, which handles both buffer kinds; async calls read shared inputs in place
// since a SharedArrayBuffer can be neither detached nor shrunk, and stage every output).
describe('SharedArrayBuffer-backed inputs', () => {
  const run = (): AttentionResult => {
    const shared = (n: number, seed: number): Float32Array => {
      const view = new Float32Array(new SharedArrayBuffer(4 * n));
      view.set(randn(n, seed));
      return view;
    };
    const b: Built = {
      q: { data: shared(2 * 3 * 4, 1), shape: [2, 3, 4] },
      k: { data: shared(2 * 5 * 4, 2), shape: [2, 5, 4] },
      v: { data: shared(2 * 5 * 6, 3), shape: [2, 5, 6] },
      options: { out: new Float32Array(new SharedArrayBuffer(4 * 2 * 3 * 6)), returnLse: true },
      padded: [],
    };
    const got = attention(b.q, b.k, b.v, b.options);
    checkAgainstJs(b, got);
    return got;
  };
  it('are accepted and computed', () => {
    run();
  });
});

// ---- NaN and Infinity ----------------------------------------------------------

describe('NaN and Infinity propagate only to the rows they touch', () => {
  // B=1, H=2, Lq=Lk=6, D=5, Dv=4, causal: query row i sees keys 0..i.
  const H = 2;
  const L = 6;
  const D = 5;
  const Dv = 4;
  const base = (): { q: Tensor; k: Tensor; v: Tensor } => ({
    q: { data: randn(H * L * D, 11), shape: [1, H, L, D] },
    k: { data: randn(H * L * D, 12), shape: [1, H, L, D] },
    v: { data: randn(H * L * Dv, 13), shape: [1, H, L, Dv] },
  });
  const row = (out: Float32Array, h: number, i: number): Float32Array => out.subarray((h * L + i) * Dv, (h * L + i + 1) * Dv);

  type Runner = (q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions) => Float32Array;
  const runners: Array<[string, Runner]> = [
    ...isas.map((isa): [string, Runner] => [
      `native ${isa}`,
      (q, k, v, options) => {
        addon!.setIsa(isa);
        return attention(q, k, v, options).data;
      },
    ]),
    [
      'js',
      (q, k, v, options) => {
        const r = resolveAttention(q, k, v, options);
        attention_forward(r);
        return r.out;
      },
    ],
  ];

  for (const [name, run] of runners) {
    describe(name, () => {
      for (const poison of [NaN, Infinity, -Infinity]) {
        it(`${poison} in q row (h=1, i=3): that output row is NaN or non-finite, every other row unchanged`, () => {
          const clean = base();
          const want = run(clean.q, clean.k, clean.v, { causal: true });
          const bad = base();
          bad.q.data[(1 * L + 3) * D + 2] = poison;
          const got = run(bad.q, bad.k, bad.v, { causal: true });
          for (let h = 0; h < H; h++) {
            for (let i = 0; i < L; i++) {
              if (h === 1 && i === 3) {
                // NaN gives NaN; ±Infinity makes the row's scores ±Infinity: softmax(Inf - Inf) = NaN.
                if (Number.isNaN(poison)) expect(row(got, h, i).every(Number.isNaN)).toBe(true);
                else expect(row(got, h, i).some((x) => !Number.isFinite(x))).toBe(true);
              } else {
                expect(Array.from(row(got, h, i))).toEqual(Array.from(row(want, h, i)));
              }
            }
          }
        });
      }

      it('NaN in k row j=2 poisons exactly the causal rows that see key 2', () => {
        const clean = base();
        const want = run(clean.q, clean.k, clean.v, { causal: true });
        const bad = base();
        bad.k.data[(0 * L + 2) * D + 1] = NaN;
        const got = run(bad.q, bad.k, bad.v, { causal: true });
        for (let i = 0; i < L; i++) {
          if (i >= 2) expect(row(got, 0, i).every(Number.isNaN), `row ${i}`).toBe(true);
          else expect(Array.from(row(got, 0, i))).toEqual(Array.from(row(want, 0, i)));
          expect(Array.from(row(got, 1, i))).toEqual(Array.from(row(want, 1, i)));
        }
      });

      it('NaN in v row j=4 reaches rows that see key 4, not the others', () => {
        const clean = base();
        const want = run(clean.q, clean.k, clean.v, { causal: true });
        const bad = base();
        bad.v.data[(1 * L + 4) * Dv + 0] = NaN;
        const got = run(bad.q, bad.k, bad.v, { causal: true });
        for (let i = 0; i < L; i++) {
          if (i >= 4) expect(Number.isNaN(row(got, 1, i)[0]), `row ${i}`).toBe(true);
          else expect(Array.from(row(got, 1, i))).toEqual(Array.from(row(want, 1, i)));
          expect(Array.from(row(got, 0, i))).toEqual(Array.from(row(want, 0, i)));
        }
      });

      it('NaN in k and v of keys hidden by causal, keyPadding, keyLengths or a boolean mask never reaches the output', () => {
        const clean = base();
        const hiddenKeys = new Uint8Array(L).fill(1);
        hiddenKeys[1] = 0;
        const boolMask = { data: new Uint8Array(L * L).fill(1), shape: [L, L] };
        for (let i = 0; i < L; i++) boolMask.data[i * L + 3] = 0;
        const options: AttentionOptions = { causal: true, keyPadding: hiddenKeys, keyLengths: Int32Array.of(5), mask: boolMask };
        const want = run(clean.q, clean.k, clean.v, options);
        const bad = base();
        for (const j of [1, 3, 5]) {
          // key 1: padding, key 3: boolean mask, key 5: beyond keyLengths (and causal for rows < 5)
          for (let h = 0; h < H; h++) {
            bad.k.data.fill(NaN, (h * L + j) * D, (h * L + j + 1) * D);
            bad.v.data.fill(NaN, (h * L + j) * Dv, (h * L + j + 1) * Dv);
          }
        }
        const got = run(bad.q, bad.k, bad.v, options);
        expect(got.some(Number.isNaN)).toBe(false);
        expect(Array.from(got)).toEqual(Array.from(want));
      });

      it('-Infinity mask entries hide their keys: same result as dropping those keys', () => {
        const clean = base();
        const mask = { data: new Float32Array(L).fill(0), shape: [1, L] };
        mask.data[0] = -Infinity;
        mask.data[4] = -Infinity;
        const got = run(clean.q, clean.k, clean.v, { mask: { data: new Float32Array(L * L).map((_, x) => mask.data[x % L]), shape: [L, L] } });
        // The same keys removed: k and v with rows 1, 2, 3, 5 only.
        const keep = [1, 2, 3, 5];
        const pick = (t: Tensor, width: number): Tensor => {
          const data = new Float32Array(H * keep.length * width);
          for (let h = 0; h < H; h++) keep.forEach((j, n) => data.set(t.data.subarray((h * L + j) * width, (h * L + j + 1) * width), (h * keep.length + n) * width));
          return { data, shape: [1, H, keep.length, width] };
        };
        const want = run(clean.q, pick(clean.k, D), pick(clean.v, Dv), { scale: 1 / Math.sqrt(D) });
        expect(relFrobenius(got, want)).toBeLessThanOrEqual(TOL);
        // A row whose keys are all -Infinity gives zeros, not NaN.
        const allMasked = run(clean.q, clean.k, clean.v, { mask: { data: new Float32Array(L).fill(-Infinity), shape: [1, L] } });
        expect(Array.from(allMasked).every((x) => x === 0)).toBe(true);
      });

      it('a NaN entry in the additive mask poisons its row only', () => {
        const clean = base();
        const data = new Float32Array(L * L);
        data[2 * L + 1] = NaN; // row 2
        const got = run(clean.q, clean.k, clean.v, { mask: { data, shape: [L, L] } });
        const want = run(clean.q, clean.k, clean.v, {});
        for (let h = 0; h < H; h++) {
          for (let i = 0; i < L; i++) {
            if (i === 2) expect(row(got, h, i).every(Number.isNaN)).toBe(true);
            else expect(Array.from(row(got, h, i))).toEqual(Array.from(row(want, h, i)));
          }
        }
      });
    });
  }
});
