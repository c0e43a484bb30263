/**
 * Turns the user's (q, k, v, options) into one fully checked and defaulted
 * object. Both backends run from it: the JS kernel reads it directly, the
 * native addon the same object (kernelArgs builds its kernel fields).
 */
import type { NativeAttentionArgs } from './native';
import type { AttentionOptions, Layout } from './types';
import {
  MAX_ELEMENTS,
  MAX_WEIGHTS,
  checkAlibiSlopes,
  checkBoolean,
  checkCausal,
  checkChoice,
  checkDimEqual,
  checkFloat32Factor,
  checkKeyLengths,
  checkKeyPadding,
  checkMask,
  checkOptionKeys,
  checkOut,
  checkTensor,
  checkWindow,
  describe,
  invalidArgument,
  isFloat32Array,
  LAYOUTS,
  OPTION_KEYS,
} from './validate';

/**
 * One attention call with every dimension named and every option decided:
 * the kernel arguments (see NativeAttentionArgs for their exact semantics)
 * plus the shapes of what attention() returns.
 */
export interface ResolvedAttention extends NativeAttentionArgs {
  layout: Layout;
  /** Shape of the returned tensor: [B, H, Lq, Dv] ('bhld') or [B, Lq, H, Dv] ('blhd'), without B when q is rank 3. */
  outShape: number[];
  /** [B, H, Lq], or [H, Lq] when q is rank 3. */
  lseShape: number[];
  /** [B, H, Lq, Lk], or [H, Lq, Lk] when q is rank 3. */
  weightsShape: number[];
}

/** Where each logical axis sits in a rank-4 shape, per layout; rank 3 drops B. */
const AXES: Record<Layout, { B: number; H: number; L: number; D: number }> = {
  bhld: { B: 0, H: 1, L: 2, D: 3 },
  blhd: { B: 0, L: 1, H: 2, D: 3 },
};

/** Element strides [over b, over h, over the sequence position] of a contiguous tensor in `layout`. */
function stridesOf(layout: Layout, heads: number, length: number, width: number): Strides {
  return layout === 'bhld' ? [heads * length * width, length * width, width] : [length * heads * width, width, heads * width];
}

/** Element strides [over b, over h, over the sequence position] of one tensor. */
export type Strides = readonly [number, number, number];

/** The tensors and sizes of one kernel call. */
export type KernelDims = Pick<NativeAttentionArgs, 'q' | 'k' | 'v' | 'out' | 'B' | 'H' | 'Hkv' | 'Lq' | 'Lk' | 'D' | 'Dv'>;

/** A mask and its strides over [B, H, Lq, Lk] (0 broadcasts an axis). */
export interface StridedMask<T> {
  data: T;
  strides: { B: number; H: number; Q: number; K: number };
}

/** The strides of an absent mask (what the native kernel expects there). */
const NO_MASK: StridedMask<null>['strides'] = { B: 0, H: 0, Q: 0, K: 1 };

/** What a call turns on beyond plain softmax(scale·q·kᵀ)·v; absent means off. */
export interface KernelExtras {
  scale: number;
  mask?: StridedMask<Float32Array> | null;
  boolMask?: StridedMask<Uint8Array> | null;
  keyPadding?: Uint8Array | null;
  keyLengths?: Int32Array | null;
  alignOffset?: number;
  rowOffsets?: Int32Array | null;
  windowLeft?: number;
  windowRight?: number;
  alibiSlopes?: Float32Array | null;
  softcap?: number;
  lse?: Float32Array | null;
  weights?: Float32Array | null;
}

/**
 * The one builder of kernel arguments (attention(), axialAttention()): every
 * field of NativeAttentionArgs, in one order, with what `extras` leaves out off.
 */
export function kernelArgs(dims: KernelDims, strides: Record<'q' | 'k' | 'v' | 'out', Strides>, extras: KernelExtras): NativeAttentionArgs {
  const { mask = null, boolMask = null } = extras;
  const maskStrides = mask === null ? NO_MASK : mask.strides;
  const boolStrides = boolMask === null ? NO_MASK : boolMask.strides;
  return {
    q: dims.q, k: dims.k, v: dims.v, out: dims.out,
    B: dims.B, H: dims.H, Hkv: dims.Hkv, Lq: dims.Lq, Lk: dims.Lk, D: dims.D, Dv: dims.Dv,
    qStrideB: strides.q[0], qStrideH: strides.q[1], qStrideL: strides.q[2],
    kStrideB: strides.k[0], kStrideH: strides.k[1], kStrideL: strides.k[2],
    vStrideB: strides.v[0], vStrideH: strides.v[1], vStrideL: strides.v[2],
    oStrideB: strides.out[0], oStrideH: strides.out[1], oStrideL: strides.out[2],
    mask: mask === null ? null : mask.data,
    maskStrideB: maskStrides.B, maskStrideH: maskStrides.H, maskStrideQ: maskStrides.Q, maskStrideK: maskStrides.K,
    boolMask: boolMask === null ? null : boolMask.data,
    boolMaskStrideB: boolStrides.B, boolMaskStrideH: boolStrides.H, boolMaskStrideQ: boolStrides.Q, boolMaskStrideK: boolStrides.K,
    keyPadding: extras.keyPadding ?? null,
    keyLengths: extras.keyLengths ?? null,
    scale: extras.scale,
    alignOffset: extras.alignOffset ?? 0,
    rowOffsets: extras.rowOffsets ?? null,
    windowLeft: extras.windowLeft ?? -1,
    windowRight: extras.windowRight ?? -1,
    alibiSlopes: extras.alibiSlopes ?? null,
    softcap: extras.softcap ?? 0,
    lse: extras.lse ?? null,
    weights: extras.weights ?? null,
  };
}

/**
 * K and V that come from a KvCache instead of two tensors: already checked
 * when the cache was made, laid out [B, Hkv, maxLength, D] whatever q's layout,
 * with the rows' lengths and where each row's queries sit.
 */
export interface CachedKeysValues {
  k: Float32Array | Uint16Array;
  v: Float32Array | Uint16Array;
  B: number;
  Hkv: number;
  /** The cache's maxLength: keys j >= keyLengths[b] are never read. */
  Lk: number;
  D: number;
  Dv: number;
  /** A snapshot of the cache's lengths (the cache may grow before an async call runs). */
  keyLengths: Int32Array;
  /** Key position of query 0 in each batch row; null: keyLengths[b] - Lq (the rows' last Lq positions). */
  rowOffsets: Int32Array | null;
}

/** Stands in for out, lse and weights when a call is only planned (explain): wanted, but not allocated. */
const PLACEHOLDER = new Float32Array(0);

/**
 * Checks and resolves one call. With allocateOutputs false (explain), out,
 * lse and weights are empty placeholders (a caller's `out` is still checked
 * and kept), so nothing proportional to the problem is allocated.
 */
export function resolveAttention(
  q: unknown,
  k: unknown,
  v: unknown,
  options?: unknown,
  cached: CachedKeysValues | null = null,
  allocateOutputs = true,
): ResolvedAttention {
  // Dims may be 0 (PyTorch returns empty results); attention.ts runs no kernel then.
  const qt = checkTensor(q, 'q', 3, 4, 'attention', 0);
  const kt = cached === null ? checkTensor(k, 'k', 3, 4, 'attention', 0) : null;
  const vt = cached === null ? checkTensor(v, 'v', 3, 4, 'attention', 0) : null;
  const opts: AttentionOptions = checkOptionKeys(options, OPTION_KEYS);
  const layout = checkChoice(opts.layout, 'layout', LAYOUTS, 'bhld');
  const rank = qt.shape.length;
  // Index in these tensors' shapes of a logical axis (rank 3 drops the batch axis).
  const axes = AXES[layout];
  const at = (axis: number): number => axis - (4 - rank);
  const dimName = (tensor: string, axis: number): string => `${tensor}.shape[${at(axis)}]`;
  const dim = (shape: number[], axis: number): number => shape[at(axis)];
  const B = rank === 4 ? qt.shape[0] : 1;
  const H = dim(qt.shape, axes.H);
  const Lq = dim(qt.shape, axes.L);
  const D = dim(qt.shape, axes.D);
  if (D === 0) {
    // Scores need a width (and the default scale 1/sqrt(D) would be Infinity).
    throw invalidArgument(RangeError, `${dimName('q', axes.D)} (the width D of queries and keys) to be an integer >= 1`, '0');
  }

  let kData: Float32Array | Uint16Array;
  let vData: Float32Array | Uint16Array;
  let Hkv: number;
  let Lk: number;
  let Dv: number;
  // Names of K's head and length axes in messages (tensor dims, or the cache's fields).
  let kHeadsName: string;
  let kLengthName: string;
  if (kt !== null && vt !== null) {
    checkDimEqual('k.shape.length', kt.shape.length, 'q.shape.length', rank);
    checkDimEqual('v.shape.length', vt.shape.length, 'q.shape.length', rank);
    if (rank === 4) {
      checkDimEqual(dimName('k', axes.B), dim(kt.shape, axes.B), dimName('q', axes.B), B);
      checkDimEqual(dimName('v', axes.B), dim(vt.shape, axes.B), dimName('q', axes.B), B);
    }
    Hkv = dim(kt.shape, axes.H);
    checkDimEqual(dimName('v', axes.H), dim(vt.shape, axes.H), dimName('k', axes.H), Hkv);
    Lk = dim(kt.shape, axes.L);
    checkDimEqual(dimName('v', axes.L), dim(vt.shape, axes.L), dimName('k', axes.L), Lk);
    checkDimEqual(dimName('k', axes.D), dim(kt.shape, axes.D), dimName('q', axes.D), D);
    Dv = dim(vt.shape, axes.D);
    kData = kt.data;
    vData = vt.data;
    kHeadsName = dimName('k', axes.H);
    kLengthName = dimName('k', axes.L);
  } else if (cached !== null) {
    checkDimEqual(rank === 4 ? 'q.shape[0]' : 'the batch of a rank-3 q (1)', B, 'cache.batch', cached.B);
    checkDimEqual(dimName('q', axes.D), D, 'cache.headDim', cached.D);
    if (opts.keyLengths !== undefined && opts.keyLengths !== null) {
      throw invalidArgument(TypeError, 'no keyLengths option with a KvCache (the cache\'s lengths are used)', describe(opts.keyLengths));
    }
    if (opts.causal === 'top-left') {
      throw invalidArgument(RangeError, 'causal to be true or false with a KvCache (queries sit at the end of each row\'s keys)', '"top-left"');
    }
    ({ Hkv, Lk, Dv } = cached);
    kData = cached.k;
    vData = cached.v;
    kHeadsName = 'cache.numKvHeads';
    kLengthName = 'cache.maxLength';
  } else {
    throw new Error('unreachable: neither k/v tensors nor a cache');
  }
  if (Hkv === 0 ? H !== 0 : H % Hkv !== 0) {
    // Grouped-query attention: each kv head serves H/Hkv consecutive query heads.
    throw invalidArgument(RangeError, `${kHeadsName} to divide ${dimName('q', axes.H)} (${H})`, describe(Hkv));
  }

  const outLength = B * H * Lq * Dv;
  if (outLength > MAX_ELEMENTS) {
    throw invalidArgument(RangeError, `the output B*H*Lq*Dv to have at most ${MAX_ELEMENTS} elements`, describe(outLength));
  }

  const scale = checkFloat32Factor(opts.scale, 'scale', 1 / Math.sqrt(D));

  // Visibility: causal and window become one band around the aligned position i + alignOffset.
  const causal = checkCausal(opts.causal);
  const window = checkWindow(opts.window);
  const alignOffset = causal === 'top-left' ? 0 : Lk - Lq;
  // |i + alignOffset - j| < max(Lq, Lk), so a bound of Lq + Lk or more hides nothing: store it as unbounded.
  const bound = (distance: number): number => (distance >= Lq + Lk ? -1 : distance);
  const windowLeft = window === null ? -1 : bound(window[0]);
  const windowRight = causal !== false ? 0 : window === null ? -1 : bound(window[1]);

  // Masks broadcast against [B, H, Lq, Lk] (aligned from the right, numpy's rule) in every layout.
  let mask: Float32Array | null = null;
  let boolMask: Uint8Array | null = null;
  let maskStrideB = 0;
  let maskStrideH = 0;
  let maskStrideQ = 0;
  let maskStrideK = 1;
  if (opts.mask !== undefined && opts.mask !== null) {
    const mt = checkMask(opts.mask);
    const maskRank = mt.shape.length;
    const target = [B, H, Lq, Lk];
    const targetName = ['q.shape[0]', dimName('q', axes.H), dimName('q', axes.L), kLengthName];
    // The layout changes which q/k dims are H, Lq and Lk, not the mask's order: say so.
    const note = layout === 'bhld' ? '' : `, as masks are [B, H, Lq, Lk] in layout "${layout}" too,`;
    const padded = [1, 1, 1, 1]; // mask shape left-padded with broadcast dims to rank 4
    for (let m = 0; m < maskRank; m++) {
      const axis = 4 - maskRank + m;
      const size = mt.shape[m];
      if (size !== 1 && size !== target[axis]) {
        // Rank-3 q has an implicit batch of 1, which has no shape entry to name.
        const expected = target[axis] === 1 ? 'to be 1' : `to be 1 or ${targetName[axis]} (${target[axis]})`;
        throw invalidArgument(RangeError, `mask.shape[${m}] ${expected}${note}`, describe(size));
      }
      padded[axis] = size;
    }
    if (isFloat32Array(mt.data)) mask = mt.data;
    else boolMask = mt.data;
    // Stride 0 on a broadcast axis; on the key axis it makes one value serve the whole row.
    maskStrideK = padded[3] === 1 ? 0 : 1;
    maskStrideQ = padded[2] === 1 ? 0 : padded[3];
    maskStrideH = padded[1] === 1 ? 0 : padded[2] * padded[3];
    maskStrideB = padded[0] === 1 ? 0 : padded[1] * padded[2] * padded[3];
  }

  const keyPadding = checkKeyPadding(opts.keyPadding, B, Lk);
  const keyLengths = cached !== null ? cached.keyLengths : checkKeyLengths(opts.keyLengths, B, Lk);
  const alibiSlopes = checkAlibiSlopes(opts.alibiSlopes, H, Lq, Lk);
  const softcap = checkFloat32Factor(opts.softcap, 'softcap', 0);
  const returnLse = checkBoolean(opts.returnLse, 'returnLse');
  const returnWeights = checkBoolean(opts.returnWeights, 'returnWeights');
  const weightsLength = B * H * Lq * Lk;
  if (returnWeights && weightsLength > MAX_WEIGHTS) {
    throw invalidArgument(
      RangeError,
      `B*H*Lq*Lk to be at most ${MAX_WEIGHTS} with returnWeights, which materialises the weights (leave it off, or use returnLse, for calls this large),`,
      describe(weightsLength),
    );
  }

  const inputs: Array<[string, ArrayBufferView]> = [
    ['q.data', qt.data],
    [cached === null ? 'k.data' : 'cache.keys', kData],
    [cached === null ? 'v.data' : 'cache.values', vData],
  ];
  if (mask !== null) inputs.push(['mask.data', mask]);
  if (boolMask !== null) inputs.push(['mask.data', boolMask]);
  if (keyPadding !== null) inputs.push(['keyPadding', keyPadding]);
  if (keyLengths !== null) inputs.push(['keyLengths', keyLengths]);
  if (alibiSlopes !== null) inputs.push(['alibiSlopes', alibiSlopes]);
  const out = checkOut(opts.out, outLength, 'B*H*Lq*Dv', inputs) ?? (allocateOutputs ? new Float32Array(outLength) : PLACEHOLDER);

  // A cache is [B, Hkv, maxLength, D] whatever the layout of q and out.
  const kvLayout = cached === null ? layout : 'bhld';
  const strides = {
    q: stridesOf(layout, H, Lq, D),
    k: stridesOf(kvLayout, Hkv, Lk, D),
    v: stridesOf(kvLayout, Hkv, Lk, Dv),
    out: stridesOf(layout, H, Lq, Dv),
  };
  const maskStrides = { B: maskStrideB, H: maskStrideH, Q: maskStrideQ, K: maskStrideK };
  const outShape = layout === 'bhld' ? [B, H, Lq, Dv] : [B, Lq, H, Dv];
  const args = kernelArgs({ q: qt.data, k: kData, v: vData, out, B, H, Hkv, Lq, Lk, D, Dv }, strides, {
    mask: mask === null ? null : { data: mask, strides: maskStrides },
    boolMask: boolMask === null ? null : { data: boolMask, strides: maskStrides },
    keyPadding,
    keyLengths,
    scale,
    alignOffset,
    rowOffsets: cached === null ? null : (cached.rowOffsets ?? cached.keyLengths.map((n) => n - Lq)),
    windowLeft,
    windowRight,
    alibiSlopes,
    softcap,
    lse: !returnLse ? null : allocateOutputs ? new Float32Array(B * H * Lq) : PLACEHOLDER,
    weights: !returnWeights ? null : allocateOutputs ? new Float32Array(weightsLength) : PLACEHOLDER,
  });
  return Object.assign(args, {
    layout,
    outShape: rank === 4 ? outShape : outShape.slice(1),
    lseShape: rank === 4 ? [B, H, Lq] : [H, Lq],
    weightsShape: rank === 4 ? [B, H, Lq, Lk] : [H, Lq, Lk],
  });
}
