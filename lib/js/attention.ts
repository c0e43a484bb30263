/**
 * The fast pure-TypeScript attention kernel, which the JS backend runs
 * (attention_forward and plan_attention, the names of the native entry
 * points, over the same argument object, NativeAttentionArgs). It computes
 * what the specification in ./attention_reference.ts computes, equal up to
 * rounding; read that file for the math and the order of the steps (score,
 * finish the scores, softmax update, P·V, store). This file adds only speed.
 *
 * Keys are visited in blocks with an online softmax: a running row maximum m
 * and row sum l, and an accumulator that is rescaled by exp(m_old - m_new)
 * whenever a block raises the maximum. Only one block of scores exists at a
 * time, never the Lq×Lk matrix (except that the slow returnWeights path keeps
 * one row of scores). Sums run in float64; outputs are float32.
 *
 * Speed (register blocking). A query row alone does 2 loads per multiply-add
 * (q[d] and k[d]; p and v[d]), so it runs at the speed of a naive loop. The
 * kernel therefore takes ROWS = 4 query rows of one head together: every
 * K and V element it loads is used by 4 rows, and dot products run over two
 * keys at once (8 running sums, 6 loads per 8 multiply-adds), the weighted
 * sum of V over two columns at once (likewise). The 4 rows share the keys
 * that all of them may see, the intersection of their bands; the few keys at
 * the band edges that only some of them see (causal: at most 3 per row), and
 * leftover rows (Lq not a multiple of 4, decode), go through the one-row
 * kernel, which keeps the same online-softmax state and runs four keys at a
 * time instead.
 * The order in which keys are folded into a row's (m, l, acc) does not
 * change the result beyond rounding, so both kernels may feed the same row.
 */
import type { NativeAttentionArgs } from '../native';
import type { KernelPlan } from '../types';
import { KEY_BLOCK } from './attention_reference';

/** Query rows computed together by the blocked kernel (see the header comment). */
const ROWS = 4;

/** The plan explain() reports: one work item per ROWS query rows of each (b, h), and Scratch's bytes. */
export function plan_attention(p: NativeAttentionArgs): KernelPlan {
  // The Scratch fields below: q and acc of ROWS rows, 8 per-row Float64Arrays, a
  // ROWS x KEY_BLOCK score block, the key list, and a whole score row for returnWeights.
  const scratchBytes =
    8 * ROWS * (p.D + p.Dv + 8 + KEY_BLOCK) + 4 * KEY_BLOCK + (p.weights !== null ? 8 * p.Lk : 0);
  const workItems = p.B * p.H * Math.ceil(p.Lq / ROWS);
  return { isa: 'js', path: 'reference', blockQ: ROWS, blockK: KEY_BLOCK, threads: 1, workItems, scratchBytes };
}

/**
 * Per-call scratch and the state of the (up to ROWS) query rows in flight.
 * Row r's values sit at r·D (q), r·Dv (acc) and [r] (everything else).
 */
class Scratch {
  /** scale · Q[b,h,i,:] of each row (the scale folded in once: scale·(q·k) = (scale·q)·k). */
  readonly q: Float64Array;
  /** Σ exp(s - m) · v over the keys seen so far, per row. */
  readonly acc: Float64Array;
  /** m: max of the scores seen so far. */
  readonly rowMax = new Float64Array(ROWS);
  /** l: Σ exp(s - m) over the keys seen so far. */
  readonly rowSum = new Float64Array(ROWS);
  /** i + alignOffset, the key position row i is aligned with (window, ALiBi). */
  readonly position = new Float64Array(ROWS);
  /** Start of the row's additive-mask row and boolean-mask row. */
  readonly maskRow = new Float64Array(ROWS);
  readonly boolRow = new Float64Array(ROWS);
  /** The row's band of keys [keyStart, keyEnd). */
  readonly keyStart = new Float64Array(ROWS);
  readonly keyEnd = new Float64Array(ROWS);
  /** One block of scores (later weights), key-major: key n, row r at n·ROWS + r. */
  readonly scores = new Float64Array(KEY_BLOCK * ROWS);
  /** The keys of a block that some row sees, then those with a nonzero weight. */
  readonly keys = new Int32Array(KEY_BLOCK);
  /** The block maximum of each row (blocked kernel). */
  readonly blockMax = new Float64Array(ROWS);
  /** returnWeights only: all scores of the current row, -Infinity on hidden keys. */
  readonly rowScores: Float64Array | null;
  // The current (b, h): where its K, V and key-padding rows start, and its ALiBi slope.
  kHead = 0;
  vHead = 0;
  paddingRow = 0;
  slope = 0;

  constructor(D: number, Dv: number, rowScoresLength: number) {
    this.q = new Float64Array(ROWS * D);
    this.acc = new Float64Array(ROWS * Dv);
    this.rowScores = rowScoresLength > 0 ? new Float64Array(rowScoresLength) : null;
  }
}

export function attention_forward(p: NativeAttentionArgs): void {
  const { q, out, alibiSlopes, keyLengths, lse, weights } = p;
  const rowOffsets = p.rowOffsets ?? null;
  const { B, H, Hkv, Lq, Lk, D, Dv, scale, alignOffset, windowLeft, windowRight } = p;
  const groupSize = H / Hkv;

  // Scratch, allocated once per call and reused for every row. returnWeights keeps a
  // whole row of scores, so that slow path runs one row at a time.
  const s = new Scratch(D, Dv, weights !== null ? Lk : 0);
  const rowsAtATime = weights !== null ? 1 : ROWS;
  const { q: qBlock, acc, rowMax, rowSum, position, maskRow, boolRow, keyStart, keyEnd, rowScores } = s;

  for (let b = 0; b < B; b++) {
    const keyLimit = keyLengths !== null ? keyLengths[b] : Lk;
    // Where query 0 of this batch row sits among the keys (per row for KV caches).
    const rowAlign = rowOffsets !== null ? rowOffsets[b] : alignOffset;
    s.paddingRow = b * Lk;
    for (let h = 0; h < H; h++) {
      const kvHead = Math.floor(h / groupSize);
      const qHead = b * p.qStrideB + h * p.qStrideH;
      const outHead = b * p.oStrideB + h * p.oStrideH;
      const maskHead = b * p.maskStrideB + h * p.maskStrideH;
      const boolHead = b * p.boolMaskStrideB + h * p.boolMaskStrideH;
      s.kHead = b * p.kStrideB + kvHead * p.kStrideH;
      s.vHead = b * p.vStrideB + kvHead * p.vStrideH;
      s.slope = alibiSlopes !== null ? alibiSlopes[h] : 0;

      for (let i0 = 0; i0 < Lq; i0 += rowsAtATime) {
        const rows = Math.min(rowsAtATime, Lq - i0);
        // The keys all rows see: the intersection [shareStart, shareEnd) of their bands.
        let shareStart = 0;
        let shareEnd = Lk;
        for (let r = 0; r < rows; r++) {
          const i = i0 + r;
          // The band of keys this row may see: window (causal is windowRight = 0) and key length.
          const at = i + rowAlign;
          position[r] = at;
          keyStart[r] = windowLeft >= 0 ? Math.max(0, at - windowLeft) : 0;
          keyEnd[r] = Math.min(keyLimit, windowRight >= 0 ? at + windowRight + 1 : Lk);
          shareStart = Math.max(shareStart, keyStart[r]);
          shareEnd = Math.min(shareEnd, keyEnd[r]);

          const qStart = qHead + i * p.qStrideL;
          for (let d = 0; d < D; d++) qBlock[r * D + d] = scale * q[qStart + d];
          maskRow[r] = maskHead + i * p.maskStrideQ;
          boolRow[r] = boolHead + i * p.boolMaskStrideQ;
          rowMax[r] = -Infinity;
          rowSum[r] = 0;
          acc.fill(0, r * Dv, (r + 1) * Dv);
        }

        if (rows === ROWS && shareStart < shareEnd) {
          // The shared keys four rows at a time, then each row's own band edges.
          attendRows(p, s, shareStart, shareEnd);
          for (let r = 0; r < rows; r++) {
            attendRow(p, s, r, keyStart[r], shareStart);
            attendRow(p, s, r, shareEnd, keyEnd[r]);
          }
        } else {
          for (let r = 0; r < rows; r++) {
            if (rowScores !== null) rowScores.fill(-Infinity);
            attendRow(p, s, r, keyStart[r], keyEnd[r]);
          }
        }

        for (let r = 0; r < rows; r++) {
          const i = i0 + r;
          const outRow = outHead + i * p.oStrideL;
          const statRow = (b * H + h) * Lq + i; // index into lse; times Lk into weights
          const m = rowMax[r];
          const l = rowSum[r];
          // out = acc / l. l is 0 only when the row sees no key: zeros (not NaN), lse -Infinity.
          const seesNothing = l === 0;
          if (seesNothing) {
            out.fill(0, outRow, outRow + Dv);
          } else {
            const inverse = 1 / l;
            for (let d = 0; d < Dv; d++) out[outRow + d] = acc[r * Dv + d] * inverse;
          }
          if (lse !== null) lse[statRow] = seesNothing ? -Infinity : m + Math.log(l);
          if (weights !== null && rowScores !== null) {
            // The slow path: p_ij = exp(s_ij - m) / l, 0 on hidden keys (exp(-Infinity) = 0).
            const weightsRow = statRow * Lk;
            if (seesNothing) {
              weights.fill(0, weightsRow, weightsRow + Lk);
            } else {
              for (let j = 0; j < Lk; j++) weights[weightsRow + j] = Math.exp(rowScores[j] - m) / l;
            }
          }
        }
      }
    }
  }
}

/**
 * The one-row kernel: folds keys [from, to) of row r into its (m, l, acc),
 * testing key padding and the boolean mask per key. It also records the
 * scores in s.rowScores for returnWeights. Same steps as attendRows below,
 * with the blocking turned around: one row, four keys at a time (each q
 * element loaded serves four keys, each acc element four v rows).
 */
function attendRow(p: NativeAttentionArgs, s: Scratch, r: number, from: number, to: number): void {
  if (from >= to) return;
  const { k, v, mask, boolMask, keyPadding, D, Dv, softcap, maskStrideK, boolMaskStrideK } = p;
  const { kStrideL, vStrideL } = p;
  const { q, acc, scores, keys, rowScores, kHead, vHead, paddingRow, slope } = s;
  const qRow = r * D;
  const accRow = r * Dv;
  const position = s.position[r];
  const maskRow = s.maskRow[r];
  const boolRow = s.boolRow[r];
  let rowMax = s.rowMax[r];
  let rowSum = s.rowSum[r];

  for (let blockStart = from; blockStart < to; blockStart += KEY_BLOCK) {
    const blockEnd = Math.min(blockStart + KEY_BLOCK, to);

    // 1. keys[0..count) = the keys of the block this row sees.
    let count = 0;
    for (let j = blockStart; j < blockEnd; j++) {
      const hidden = (keyPadding !== null && keyPadding[paddingRow + j] === 0) || (boolMask !== null && boolMask[boolRow + j * boolMaskStrideK] === 0);
      if (!hidden) keys[count++] = j;
    }

    // 2. scores[n] = (scale·q)·k_j for j = keys[n], four keys at a time.
    let n = 0;
    for (; n + 3 < count; n += 4) {
      const kA = kHead + keys[n] * kStrideL;
      const kB = kHead + keys[n + 1] * kStrideL;
      const kC = kHead + keys[n + 2] * kStrideL;
      const kD = kHead + keys[n + 3] * kStrideL;
      let xA = 0, xB = 0, xC = 0, xD = 0;
      for (let d = 0; d < D; d++) {
        const x = q[qRow + d];
        xA += x * k[kA + d];
        xB += x * k[kB + d];
        xC += x * k[kC + d];
        xD += x * k[kD + d];
      }
      scores[n] = xA;
      scores[n + 1] = xB;
      scores[n + 2] = xC;
      scores[n + 3] = xD;
    }
    for (; n < count; n++) {
      const kA = kHead + keys[n] * kStrideL;
      let xA = 0;
      for (let d = 0; d < D; d++) xA += q[qRow + d] * k[kA + d];
      scores[n] = xA;
    }

    // 3. s_j = cap(dot) + mask - slope·|position - j|; blockMax = their maximum.
    let blockMax = -Infinity;
    for (let m = 0; m < count; m++) {
      const j = keys[m];
      let x = scores[m];
      if (softcap > 0) x = softcap * Math.tanh(x / softcap);
      if (mask !== null) x += mask[maskRow + j * maskStrideK];
      if (slope !== 0) x -= slope * Math.abs(position - j);
      scores[m] = x;
      if (rowScores !== null) rowScores[j] = x;
      if (x > blockMax || x !== x) blockMax = x; // a NaN score sticks, so NaN input gives NaN output
    }
    // Every key of the block hidden or masked with -Infinity: it adds nothing.
    if (blockMax === -Infinity) continue;

    if (blockMax > rowMax || blockMax !== blockMax) {
      // New maximum: rescale l and acc from exp(s - m_old) to exp(s - m_new).
      if (rowSum > 0) {
        const correction = Math.exp(rowMax - blockMax);
        rowSum *= correction;
        for (let d = 0; d < Dv; d++) acc[accRow + d] *= correction;
      }
      rowMax = blockMax;
    }

    // 4. l += Σ p_j with p_j = exp(s_j - m). Keys with p_j = 0 (masked with -Infinity, or
    //    underflow) add nothing, not 0·v: the others are compacted to the front of keys/scores.
    let full = 0;
    for (let m = 0; m < count; m++) {
      const weight = Math.exp(scores[m] - rowMax);
      if (weight === 0) continue;
      rowSum += weight;
      scores[full] = weight;
      keys[full++] = keys[m];
    }

    // 5. acc += Σ p_j · v_j, four keys at a time.
    n = 0;
    for (; n + 3 < full; n += 4) {
      const vA = vHead + keys[n] * vStrideL;
      const vB = vHead + keys[n + 1] * vStrideL;
      const vC = vHead + keys[n + 2] * vStrideL;
      const vD = vHead + keys[n + 3] * vStrideL;
      const wA = scores[n];
      const wB = scores[n + 1];
      const wC = scores[n + 2];
      const wD = scores[n + 3];
      for (let d = 0; d < Dv; d++) {
        acc[accRow + d] += wA * v[vA + d] + wB * v[vB + d] + wC * v[vC + d] + wD * v[vD + d];
      }
    }
    for (; n < full; n++) {
      const vA = vHead + keys[n] * vStrideL;
      const wA = scores[n];
      for (let d = 0; d < Dv; d++) acc[accRow + d] += wA * v[vA + d];
    }
  }
  s.rowMax[r] = rowMax;
  s.rowSum[r] = rowSum;
}

/**
 * The blocked kernel: folds keys [from, to), which all ROWS rows may see
 * (their band intersection), into the rows' (m, l, acc). Same math as
 * attendRow, per row; key padding and the boolean mask still hide keys per
 * key (and, for the boolean mask, per row). A key that no row sees is never
 * read; a key only some rows see gets the score -Infinity in the others.
 */
function attendRows(p: NativeAttentionArgs, s: Scratch, from: number, to: number): void {
  const { k, v, mask, boolMask, keyPadding, D, Dv, softcap, maskStrideK, boolMaskStrideK } = p;
  const { kStrideL, vStrideL } = p;
  const { q, acc, rowMax, rowSum, scores, keys, blockMax, position, maskRow, boolRow } = s;
  const { kHead, vHead, paddingRow, slope } = s;
  // Scores are the plain dot products: no softcap, mask, ALiBi or per-row hiding to apply.
  const plain = softcap <= 0 && mask === null && boolMask === null && slope === 0;
  // Where rows 1..3 start in q and in acc (row 0 at 0).
  const q1 = D;
  const q2 = 2 * D;
  const q3 = 3 * D;
  const acc1 = Dv;
  const acc2 = 2 * Dv;
  const acc3 = 3 * Dv;

  for (let blockStart = from; blockStart < to; blockStart += KEY_BLOCK) {
    const blockEnd = Math.min(blockStart + KEY_BLOCK, to);

    // 1. keys[0..count) = the keys of the block that at least one row sees.
    let count = 0;
    for (let j = blockStart; j < blockEnd; j++) {
      if (keyPadding !== null && keyPadding[paddingRow + j] === 0) continue;
      const boolKey = j * boolMaskStrideK;
      if (
        boolMask !== null &&
        boolMask[boolRow[0] + boolKey] === 0 &&
        boolMask[boolRow[1] + boolKey] === 0 &&
        boolMask[boolRow[2] + boolKey] === 0 &&
        boolMask[boolRow[3] + boolKey] === 0
      ) {
        continue;
      }
      keys[count++] = j;
    }
    if (count === 0) continue;

    // 2. scores[n·ROWS + r] = (scale·q_r)·k_j for j = keys[n]: two keys × four rows
    //    at a time, so each q element loaded serves two keys and each k element four rows.
    let n = 0;
    for (; n + 1 < count; n += 2) {
      const kA = kHead + keys[n] * kStrideL;
      const kB = kHead + keys[n + 1] * kStrideL;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0; // key A, rows 0..3
      let b0 = 0, b1 = 0, b2 = 0, b3 = 0; // key B, rows 0..3
      for (let d = 0; d < D; d++) {
        const x = k[kA + d];
        const y = k[kB + d];
        const r0 = q[d];
        const r1 = q[q1 + d];
        const r2 = q[q2 + d];
        const r3 = q[q3 + d];
        a0 += r0 * x;
        b0 += r0 * y;
        a1 += r1 * x;
        b1 += r1 * y;
        a2 += r2 * x;
        b2 += r2 * y;
        a3 += r3 * x;
        b3 += r3 * y;
      }
      const at = n * ROWS;
      scores[at] = a0;
      scores[at + 1] = a1;
      scores[at + 2] = a2;
      scores[at + 3] = a3;
      scores[at + 4] = b0;
      scores[at + 5] = b1;
      scores[at + 6] = b2;
      scores[at + 7] = b3;
    }
    if (n < count) {
      // An odd key out.
      const kA = kHead + keys[n] * kStrideL;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let d = 0; d < D; d++) {
        const x = k[kA + d];
        a0 += q[d] * x;
        a1 += q[q1 + d] * x;
        a2 += q[q2 + d] * x;
        a3 += q[q3 + d] * x;
      }
      const at = n * ROWS;
      scores[at] = a0;
      scores[at + 1] = a1;
      scores[at + 2] = a2;
      scores[at + 3] = a3;
    }

    // 3. s_rj = cap(dot) + mask - slope·|position_r - j|, or -Infinity where the boolean mask hides j from row r.
    if (!plain) {
      for (let m = 0; m < count; m++) {
        const j = keys[m];
        for (let r = 0; r < ROWS; r++) {
          const at = m * ROWS + r;
          if (boolMask !== null && boolMask[boolRow[r] + j * boolMaskStrideK] === 0) {
            scores[at] = -Infinity; // hidden from this row (another row sees it): its K value is ignored
            continue;
          }
          let x = scores[at];
          if (softcap > 0) x = softcap * Math.tanh(x / softcap);
          if (mask !== null) x += mask[maskRow[r] + j * maskStrideK];
          if (slope !== 0) x -= slope * Math.abs(position[r] - j);
          scores[at] = x;
        }
      }
    }

    // 4. Per row: the block maximum; a new maximum rescales l and acc by exp(m_old - m_new).
    for (let r = 0; r < ROWS; r++) {
      let top = -Infinity;
      for (let m = 0; m < count; m++) {
        const x = scores[m * ROWS + r];
        if (x > top || x !== x) top = x; // a NaN score sticks, so NaN input gives NaN output
      }
      blockMax[r] = top;
      if (top === -Infinity) continue; // every score -Infinity: the row gains nothing from this block
      if (top > rowMax[r] || top !== top) {
        if (rowSum[r] > 0) {
          const correction = Math.exp(rowMax[r] - top);
          rowSum[r] *= correction;
          for (let d = r * Dv, end = d + Dv; d < end; d++) acc[d] *= correction;
        }
        rowMax[r] = top;
      }
    }

    // 5. Weights p_rj = exp(s_rj - m_r). A row whose scores are all -Infinity in this block
    //    subtracts +Infinity instead, so that its weights are exp(-Infinity) = 0, not NaN.
    const m0 = blockMax[0] === -Infinity ? Infinity : rowMax[0];
    const m1 = blockMax[1] === -Infinity ? Infinity : rowMax[1];
    const m2 = blockMax[2] === -Infinity ? Infinity : rowMax[2];
    const m3 = blockMax[3] === -Infinity ? Infinity : rowMax[3];
    let l0 = rowSum[0];
    let l1 = rowSum[1];
    let l2 = rowSum[2];
    let l3 = rowSum[3];
    // Keys with a nonzero weight in every row ("full" keys) are compacted to the front of
    // keys/scores for step 6. A zero weight (-Infinity score, hidden, or underflow) must add
    // nothing, not 0·v (NaN for v = ±Infinity), so keys that only some rows weigh go row by row here.
    let full = 0;
    for (let m = 0; m < count; m++) {
      const at = m * ROWS;
      const w0 = Math.exp(scores[at] - m0);
      const w1 = Math.exp(scores[at + 1] - m1);
      const w2 = Math.exp(scores[at + 2] - m2);
      const w3 = Math.exp(scores[at + 3] - m3);
      l0 += w0;
      l1 += w1;
      l2 += w2;
      l3 += w3;
      if (w0 !== 0 && w1 !== 0 && w2 !== 0 && w3 !== 0) {
        const to = full * ROWS;
        scores[to] = w0;
        scores[to + 1] = w1;
        scores[to + 2] = w2;
        scores[to + 3] = w3;
        keys[full++] = keys[m];
      } else {
        const vRow = vHead + keys[m] * vStrideL;
        if (w0 !== 0) for (let d = 0; d < Dv; d++) acc[d] += w0 * v[vRow + d];
        if (w1 !== 0) for (let d = 0; d < Dv; d++) acc[acc1 + d] += w1 * v[vRow + d];
        if (w2 !== 0) for (let d = 0; d < Dv; d++) acc[acc2 + d] += w2 * v[vRow + d];
        if (w3 !== 0) for (let d = 0; d < Dv; d++) acc[acc3 + d] += w3 * v[vRow + d];
      }
    }
    rowSum[0] = l0;
    rowSum[1] = l1;
    rowSum[2] = l2;
    rowSum[3] = l3;

    // 6. acc_r += Σ_full p_rj · v_j, two columns × four rows at a time: the eight sums stay
    //    in registers over the block's keys, and each v element loaded serves four rows.
    let d = 0;
    for (; d + 1 < Dv; d += 2) {
      let x0 = 0, x1 = 0, x2 = 0, x3 = 0; // column d, rows 0..3
      let y0 = 0, y1 = 0, y2 = 0, y3 = 0; // column d + 1
      for (let m = 0; m < full; m++) {
        const vRow = vHead + keys[m] * vStrideL + d;
        const e = v[vRow];
        const f = v[vRow + 1];
        const at = m * ROWS;
        const w0 = scores[at];
        const w1 = scores[at + 1];
        const w2 = scores[at + 2];
        const w3 = scores[at + 3];
        x0 += w0 * e;
        y0 += w0 * f;
        x1 += w1 * e;
        y1 += w1 * f;
        x2 += w2 * e;
        y2 += w2 * f;
        x3 += w3 * e;
        y3 += w3 * f;
      }
      acc[d] += x0;
      acc[d + 1] += y0;
      acc[acc1 + d] += x1;
      acc[acc1 + d + 1] += y1;
      acc[acc2 + d] += x2;
      acc[acc2 + d + 1] += y2;
      acc[acc3 + d] += x3;
      acc[acc3 + d + 1] += y3;
    }
    if (d < Dv) {
      // An odd column out.
      let x0 = 0, x1 = 0, x2 = 0, x3 = 0;
      for (let m = 0; m < full; m++) {
        const e = v[vHead + keys[m] * vStrideL + d];
        const at = m * ROWS;
        x0 += scores[at] * e;
        x1 += scores[at + 1] * e;
        x2 += scores[at + 2] * e;
        x3 += scores[at + 3] * e;
      }
      acc[d] += x0;
      acc[acc1 + d] += x1;
      acc[acc2 + d] += x2;
      acc[acc3 + d] += x3;
    }
  }
}
