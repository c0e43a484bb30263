/**
 * Turns the user's (q, k, v, options) into one fully checked and defaulted
 * object. Both backends run from it: the JS kernel directly, the native addon
 * through the same fields (see toNativeArgs in attention.ts).
 */
import {
  MAX_ELEMENTS,
  checkCausal,
  checkDimEqual,
  checkOptions,
  checkOut,
  checkScale,
  checkTensor,
  describe,
  invalidArgument,
} from './validate';

/** One attention call with every dimension named and every option decided. */
export interface ResolvedAttention {
  q: Float32Array; // [B, H, Lq, D]
  k: Float32Array; // [B, Hkv, Lk, D]
  v: Float32Array; // [B, Hkv, Lk, Dv]
  /** The caller's `out` or a fresh zeroed buffer; [B, H, Lq, Dv]. */
  out: Float32Array;
  /** Additive mask read at `b*maskStrideB + h*maskStrideH + i*maskStrideQ + j`; null for none. */
  mask: Float32Array | null;
  B: number;
  H: number;
  Hkv: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv: number;
  /** Element strides of the mask over b, h and the query row; 0 where the mask broadcasts. */
  maskStrideB: number;
  maskStrideH: number;
  maskStrideQ: number;
  /** Multiplier of q·k; 1/sqrt(D) unless given. */
  scale: number;
  causal: boolean;
  /** Shape of the returned tensor: [B, H, Lq, Dv], or [H, Lq, Dv] when q is rank 3. */
  outShape: number[];
}

// Axes of the 4-D layout [B, H, L, D]; a rank-3 tensor [H, L, D] lacks AXIS_B.
const AXIS_B = 0;
const AXIS_H = 1;
const AXIS_L = 2;
const AXIS_D = 3;

export function resolveAttention(q: unknown, k: unknown, v: unknown, options?: unknown): ResolvedAttention {
  const qt = checkTensor(q, 'q', 3, 4);
  const kt = checkTensor(k, 'k', 3, 4);
  const vt = checkTensor(v, 'v', 3, 4);
  const opts = checkOptions(options);

  const rank = qt.shape.length;
  checkDimEqual('k.shape.length', kt.shape.length, 'q.shape.length', rank);
  checkDimEqual('v.shape.length', vt.shape.length, 'q.shape.length', rank);
  // Index of a 4-D axis in these tensors' shapes (rank 3 drops the batch axis).
  const at = (axis: number): number => axis - (4 - rank);
  const dimName = (tensor: string, axis: number): string => `${tensor}.shape[${at(axis)}]`;
  const dim = (shape: number[], axis: number): number => shape[at(axis)];

  const B = rank === 4 ? qt.shape[0] : 1;
  if (rank === 4) {
    checkDimEqual(dimName('k', AXIS_B), dim(kt.shape, AXIS_B), dimName('q', AXIS_B), B);
    checkDimEqual(dimName('v', AXIS_B), dim(vt.shape, AXIS_B), dimName('q', AXIS_B), B);
  }
  const H = dim(qt.shape, AXIS_H);
  const Hkv = dim(kt.shape, AXIS_H);
  checkDimEqual(dimName('v', AXIS_H), dim(vt.shape, AXIS_H), dimName('k', AXIS_H), Hkv);
  if (H % Hkv !== 0) {
    // Grouped-query attention: each kv head serves H/Hkv consecutive query heads.
    throw invalidArgument(RangeError, `${dimName('k', AXIS_H)} to divide ${dimName('q', AXIS_H)} (${H})`, describe(Hkv));
  }
  const Lq = dim(qt.shape, AXIS_L);
  const Lk = dim(kt.shape, AXIS_L);
  checkDimEqual(dimName('v', AXIS_L), dim(vt.shape, AXIS_L), dimName('k', AXIS_L), Lk);
  const D = dim(qt.shape, AXIS_D);
  checkDimEqual(dimName('k', AXIS_D), dim(kt.shape, AXIS_D), dimName('q', AXIS_D), D);
  const Dv = dim(vt.shape, AXIS_D);

  const outLength = B * H * Lq * Dv;
  if (outLength > MAX_ELEMENTS) {
    throw invalidArgument(RangeError, `the output B*H*Lq*Dv to have at most ${MAX_ELEMENTS} elements`, describe(outLength));
  }

  const scale = checkScale(opts.scale) ?? 1 / Math.sqrt(D);
  const causal = checkCausal(opts.causal);

  // The mask broadcasts against [B, H, Lq, Lk], aligned from the right.
  let mask: Float32Array | null = null;
  let maskStrideB = 0;
  let maskStrideH = 0;
  let maskStrideQ = 0;
  if (opts.mask !== undefined && opts.mask !== null) {
    const mt = checkTensor(opts.mask, 'mask', 2, 4);
    const maskRank = mt.shape.length;
    const target = [B, H, Lq, Lk];
    const targetName = ['q.shape[0]', dimName('q', AXIS_H), dimName('q', AXIS_L), dimName('k', AXIS_L)];
    const padded = [1, 1, 1, 1]; // mask shape left-padded with broadcast dims to rank 4
    for (let m = 0; m < maskRank; m++) {
      const axis = 4 - maskRank + m;
      const size = mt.shape[m];
      if (m === maskRank - 1) {
        // The key axis never broadcasts: the kernels read a contiguous row of Lk values.
        checkDimEqual(`mask.shape[${m}]`, size, targetName[axis], Lk);
      } else if (size !== 1 && size !== target[axis]) {
        // Rank-3 q has an implicit batch of 1, which has no shape entry to name.
        const expected = target[axis] === 1 ? 'to be 1' : `to be 1 or ${targetName[axis]} (${target[axis]})`;
        throw invalidArgument(RangeError, `mask.shape[${m}] ${expected}`, describe(size));
      }
      padded[axis] = size;
    }
    mask = mt.data;
    maskStrideQ = padded[AXIS_L] === 1 ? 0 : Lk;
    maskStrideH = padded[AXIS_H] === 1 ? 0 : padded[AXIS_L] * Lk;
    maskStrideB = padded[AXIS_B] === 1 ? 0 : padded[AXIS_H] * padded[AXIS_L] * Lk;
  }

  const inputs: Array<[string, Float32Array]> = [['q.data', qt.data], ['k.data', kt.data], ['v.data', vt.data]];
  if (mask !== null) inputs.push(['mask.data', mask]);
  const out = checkOut(opts.out, outLength, inputs) ?? new Float32Array(outLength);

  return {
    q: qt.data,
    k: kt.data,
    v: vt.data,
    out,
    mask,
    B,
    H,
    Hkv,
    Lq,
    Lk,
    D,
    Dv,
    maskStrideB,
    maskStrideH,
    maskStrideQ,
    scale,
    causal,
    outShape: rank === 4 ? [B, H, Lq, Dv] : [H, Lq, Dv],
  };
}
