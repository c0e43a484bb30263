/**
 * The readable specification of the attention kernel: one query row at a
 * time, one block of keys at a time, in steps named after the native helpers
 * (native/flash_kernel.inl) so the two can be read side by side:
 *
 *   visible_keys       the band [lo, hi) of keys the window, causal and key length leave to row i
 *   score_row          s_j = (scale·q_i)·k_j, -Infinity for a key hidden by padding or the boolean mask
 *   finish_row_scores  s_j = cap(s_j) + mask[b,h,i,j] - slope[h]·|pos_i - j|
 *   softmax_update     online softmax: p_j = exp(s_j - m'), l = l·α + Σ p_j, α = exp(m - m')
 *   pv_row_guarded     acc = acc·α + Σ p_j·v_j over the keys with p_j ≠ 0
 *   store_row          out = acc / l (0 for a row that sees no key), lse = m + log l
 *
 * with cap(x) = softcap·tanh(x/softcap) (x without softcap), pos_i = i +
 * alignOffset (or rowOffsets[b]), and kv head g = floor(h / (H/Hkv)) for query
 * head h. A hidden key's K and V are never read, so NaN or Inf stored there
 * cannot reach the output; a NaN score sticks, so NaN input gives NaN output.
 * Sums run in float64; outputs are float32. The fast TS kernel
 * (./attention.ts) computes the same, equal up to rounding.
 */
import type { NativeAttentionArgs } from '../native';

/** Keys per block: 64 scores (512 bytes) stay in L1 next to the accumulator. */
export const KEY_BLOCK = 64;

/** One row's online-softmax state: m, l and Σ p_j·v_j over the keys folded in so far. */
interface RowState {
  rowMax: number;
  rowSum: number;
  readonly acc: Float64Array;
}

/** Key position that query row i of batch row b is aligned with (window, causal, ALiBi). */
function query_position(p: NativeAttentionArgs, b: number, i: number): number {
  const rowOffsets = p.rowOffsets ?? null;
  return i + (rowOffsets !== null ? rowOffsets[b] : p.alignOffset);
}

/** The keys [lo, hi) that the window (causal: windowRight = 0) and key length leave visible to row i. */
function visible_keys(p: NativeAttentionArgs, b: number, i: number): { lo: number; hi: number } {
  const pos = query_position(p, b, i);
  const lo = p.windowLeft >= 0 ? Math.max(0, pos - p.windowLeft) : 0;
  const length = p.keyLengths !== null ? p.keyLengths[b] : p.Lk;
  return { lo, hi: Math.min(length, p.windowRight >= 0 ? pos + p.windowRight + 1 : p.Lk) };
}

/** Whether key padding or the boolean mask hides key j from row (b, h, i). */
function key_hidden(p: NativeAttentionArgs, b: number, h: number, i: number, j: number): boolean {
  if (p.keyPadding !== null && p.keyPadding[b * p.Lk + j] === 0) return true;
  if (p.boolMask === null) return false;
  const at = b * p.boolMaskStrideB + h * p.boolMaskStrideH + i * p.boolMaskStrideQ + j * p.boolMaskStrideK;
  return p.boolMask[at] === 0;
}

/** s[n] = qs·k_j for the keys j = kb + n of one block (qs = scale·q_i), -Infinity where the key is hidden. */
function score_row(p: NativeAttentionArgs, qs: Float64Array, b: number, h: number, i: number, kb: number, s: Float64Array): void {
  const kHead = b * p.kStrideB + Math.floor(h / (p.H / p.Hkv)) * p.kStrideH;
  for (let n = 0; n < s.length; n++) {
    const j = kb + n;
    if (key_hidden(p, b, h, i, j)) {
      s[n] = -Infinity;
      continue;
    }
    const kRow = kHead + j * p.kStrideL;
    let dot = 0;
    for (let d = 0; d < p.D; d++) dot += qs[d] * p.k[kRow + d];
    s[n] = dot;
  }
}

/** s[n] = cap(s[n]) + mask - slope·|pos - j| on the block's visible keys (hidden ones stay -Infinity). */
function finish_row_scores(p: NativeAttentionArgs, b: number, h: number, i: number, kb: number, s: Float64Array): void {
  const pos = query_position(p, b, i);
  const slope = p.alibiSlopes !== null ? p.alibiSlopes[h] : 0;
  const maskRow = b * p.maskStrideB + h * p.maskStrideH + i * p.maskStrideQ;
  for (let n = 0; n < s.length; n++) {
    const j = kb + n;
    if (key_hidden(p, b, h, i, j)) continue;
    let x = s[n];
    if (p.softcap > 0) x = p.softcap * Math.tanh(x / p.softcap);
    if (p.mask !== null) x += p.mask[maskRow + j * p.maskStrideK];
    if (slope !== 0) x -= slope * Math.abs(pos - j);
    s[n] = x;
  }
}

/**
 * Folds one block of finished scores into the row: s becomes p_j = exp(s_j - m')
 * with m' the new row maximum, l = l·α + Σ p_j. Returns α = exp(m - m'), the
 * factor the accumulator must be scaled by. A row that has seen only -Infinity
 * keeps p = 0 (not NaN).
 */
function softmax_update(s: Float64Array, row: RowState): number {
  let blockMax = -Infinity;
  for (let n = 0; n < s.length; n++) if (s[n] > blockMax || s[n] !== s[n]) blockMax = s[n];
  const oldMax = row.rowMax;
  const newMax = blockMax > oldMax || blockMax !== blockMax ? blockMax : oldMax;
  const ref = newMax === -Infinity ? 0 : newMax;
  let sum = 0;
  for (let n = 0; n < s.length; n++) {
    s[n] = Math.exp(s[n] - ref);
    sum += s[n];
  }
  const alpha = Math.exp(oldMax - ref);
  row.rowSum = row.rowSum * alpha + sum;
  row.rowMax = newMax;
  return alpha;
}

/** acc = acc·α + Σ p_j·v_j over the block's keys with p_j ≠ 0 (a zero weight must add nothing, not 0·v). */
function pv_row_guarded(p: NativeAttentionArgs, P: Float64Array, b: number, h: number, kb: number, acc: Float64Array, alpha: number): void {
  const vHead = b * p.vStrideB + Math.floor(h / (p.H / p.Hkv)) * p.vStrideH;
  if (alpha !== 1) for (let d = 0; d < p.Dv; d++) acc[d] *= alpha;
  for (let n = 0; n < P.length; n++) {
    if (P[n] === 0) continue;
    const vRow = vHead + (kb + n) * p.vStrideL;
    for (let d = 0; d < p.Dv; d++) acc[d] += P[n] * p.v[vRow + d];
  }
}

/** out = acc / l, zeros when the row saw no key (l = 0); lse = m + log l, -Infinity then. */
function store_row(p: NativeAttentionArgs, b: number, h: number, i: number, row: RowState): void {
  const outRow = b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
  const inverse = row.rowSum > 0 ? 1 / row.rowSum : 0;
  for (let d = 0; d < p.Dv; d++) p.out[outRow + d] = row.acc[d] * inverse;
  if (p.lse !== null) p.lse[(b * p.H + h) * p.Lq + i] = row.rowSum > 0 ? row.rowMax + Math.log(row.rowSum) : -Infinity;
}

/**
 * returnWeights: p_ij = exp(s_ij - m) / l over all Lk keys, 0 on hidden ones
 * and in a row that sees no key. The scores are computed again, one block at a
 * time, from the row's final m and l.
 */
function write_weights(p: NativeAttentionArgs, qs: Float64Array, b: number, h: number, i: number, row: RowState): void {
  const weightsRow = ((b * p.H + h) * p.Lq + i) * p.Lk;
  const weights = p.weights as Float32Array;
  weights.fill(0, weightsRow, weightsRow + p.Lk);
  if (row.rowSum === 0) return;
  const { lo, hi } = visible_keys(p, b, i);
  for (let kb = lo; kb < hi; kb += KEY_BLOCK) {
    const s = new Float64Array(Math.min(KEY_BLOCK, hi - kb));
    score_row(p, qs, b, h, i, kb, s);
    finish_row_scores(p, b, h, i, kb, s);
    for (let n = 0; n < s.length; n++) weights[weightsRow + kb + n] = Math.exp(s[n] - row.rowMax) / row.rowSum;
  }
}

/** The whole call: every (b, h, i) row on its own. Writes out, and lse and weights when asked for. */
export function attention_reference(p: NativeAttentionArgs): void {
  const qs = new Float64Array(p.D);
  const row: RowState = { rowMax: -Infinity, rowSum: 0, acc: new Float64Array(p.Dv) };
  for (let b = 0; b < p.B; b++) {
    for (let h = 0; h < p.H; h++) {
      for (let i = 0; i < p.Lq; i++) {
        const qRow = b * p.qStrideB + h * p.qStrideH + i * p.qStrideL;
        for (let d = 0; d < p.D; d++) qs[d] = p.scale * p.q[qRow + d];
        row.rowMax = -Infinity;
        row.rowSum = 0;
        row.acc.fill(0);
        const { lo, hi } = visible_keys(p, b, i);
        for (let kb = lo; kb < hi; kb += KEY_BLOCK) {
          const s = new Float64Array(Math.min(KEY_BLOCK, hi - kb));
          score_row(p, qs, b, h, i, kb, s);
          finish_row_scores(p, b, h, i, kb, s);
          const alpha = softmax_update(s, row);
          pv_row_guarded(p, s, b, h, kb, row.acc, alpha);
        }
        store_row(p, b, h, i, row);
        if (p.weights !== null) write_weights(p, qs, b, h, i, row);
      }
    }
  }
}
