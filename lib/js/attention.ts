/**
 * The pure-TypeScript attention kernel, and the readable specification of
 * the native one (native/ uses the same names, attention_forward and
 * plan_attention, and the same argument object, NativeAttentionArgs).
 *
 *   out[b,h,i,:] = Σ_j p_ij · V[b,g,j,:] / Σ_j p_ij      over the keys j visible to (b,h,i)
 *   p_ij = exp(s_ij - max_j s_ij)
 *   s_ij = cap(scale · Q[b,h,i,:]·K[b,g,j,:]) + mask[b,h,i,j] - slope[h]·|i + alignOffset - j|
 *   cap(x) = softcap · tanh(x / softcap), or x without softcap
 *
 * with g = floor(h / (H/Hkv)) the kv head shared by a group of query heads.
 * Visibility (window, causal, key lengths) is a band of keys
 * [keyStart, keyEnd) per row, so invisible keys are not even looped over;
 * key padding and the boolean mask are tested per key. A hidden key's K and
 * V are never read, so NaN or Inf stored there cannot reach the output.
 *
 * Keys are visited in blocks with an online softmax: a running row maximum m
 * and row sum l, and an accumulator that is rescaled by exp(m_old - m_new)
 * whenever a block raises the maximum. Only one block of scores exists at a
 * time, never the Lq×Lk matrix (except that the slow returnWeights path keeps
 * one row of scores). Sums run in float64; outputs are float32.
 */
import type { NativeAttentionArgs } from '../native';

/** Keys per block: 64 scores (512 bytes) stay in L1 next to the accumulator. */
export const KEY_BLOCK = 64;

/** How the JS kernel runs a call (see explain()): one query row at a time, on the calling thread. */
export interface JsPlan {
  path: 'reference';
  blockQ: number;
  blockK: number;
  threads: number;
  workItems: number;
  scratchBytes: number;
}

export function plan_attention(p: NativeAttentionArgs): JsPlan {
  // scores, acc and qRow in float64, the visibility flags, and one row of scores for returnWeights.
  const scratchBytes = 8 * (KEY_BLOCK + p.Dv + p.D) + KEY_BLOCK + (p.weights !== null ? 8 * p.Lk : 0);
  return { path: 'reference', blockQ: 1, blockK: KEY_BLOCK, threads: 1, workItems: p.B * p.H * p.Lq, scratchBytes };
}

export function attention_forward(p: NativeAttentionArgs): void {
  const { q, k, v, out, mask, boolMask, keyPadding, keyLengths, alibiSlopes, lse, weights } = p;
  const { B, H, Hkv, Lq, Lk, D, Dv, scale, softcap, alignOffset, windowLeft, windowRight } = p;
  const groupSize = H / Hkv;

  // Scratch, allocated once per call and reused for every row.
  const scores = new Float64Array(KEY_BLOCK);
  const visible = new Uint8Array(KEY_BLOCK);
  const acc = new Float64Array(Dv);
  const qRow = new Float64Array(D);
  const rowScores = weights !== null ? new Float64Array(Lk) : null; // -Infinity on hidden keys

  for (let b = 0; b < B; b++) {
    const keyLimit = keyLengths !== null ? keyLengths[b] : Lk;
    const paddingRow = b * Lk;
    for (let h = 0; h < H; h++) {
      const kvHead = Math.floor(h / groupSize);
      const qHead = b * p.qStrideB + h * p.qStrideH;
      const kHead = b * p.kStrideB + kvHead * p.kStrideH;
      const vHead = b * p.vStrideB + kvHead * p.vStrideH;
      const outHead = b * p.oStrideB + h * p.oStrideH;
      const maskHead = b * p.maskStrideB + h * p.maskStrideH;
      const boolHead = b * p.boolMaskStrideB + h * p.boolMaskStrideH;
      const slope = alibiSlopes !== null ? alibiSlopes[h] : 0;

      for (let i = 0; i < Lq; i++) {
        const outRow = outHead + i * p.oStrideL;
        const statRow = (b * H + h) * Lq + i; // index into lse; times Lk into weights
        // The band of keys this row may see: window (causal is windowRight = 0) and key length.
        const position = i + alignOffset;
        const keyStart = windowLeft >= 0 ? Math.max(0, position - windowLeft) : 0;
        const keyEnd = Math.min(keyLimit, windowRight >= 0 ? position + windowRight + 1 : Lk);

        // Fold the scale into q once per row: scale·(q_i·k_j) = (scale·q_i)·k_j.
        const qStart = qHead + i * p.qStrideL;
        for (let d = 0; d < D; d++) qRow[d] = scale * q[qStart + d];
        const maskRow = maskHead + i * p.maskStrideQ;
        const boolRow = boolHead + i * p.boolMaskStrideQ;
        if (rowScores !== null) rowScores.fill(-Infinity);

        let rowMax = -Infinity; // m: max of the scores seen so far
        let rowSum = 0; // l: Σ exp(s - m) over the keys seen so far
        acc.fill(0); // Σ exp(s - m) · v over the keys seen so far

        for (let blockStart = keyStart; blockStart < keyEnd; blockStart += KEY_BLOCK) {
          const blockEnd = Math.min(blockStart + KEY_BLOCK, keyEnd);

          // scores = s_ij for the visible keys of this block; blockMax = their maximum.
          let blockMax = -Infinity;
          for (let j = blockStart; j < blockEnd; j++) {
            const slot = j - blockStart;
            const hidden = (keyPadding !== null && keyPadding[paddingRow + j] === 0) || (boolMask !== null && boolMask[boolRow + j] === 0);
            visible[slot] = hidden ? 0 : 1;
            if (hidden) continue;
            const kRow = kHead + j * p.kStrideL;
            let s = 0;
            for (let d = 0; d < D; d++) s += qRow[d] * k[kRow + d];
            if (softcap > 0) s = softcap * Math.tanh(s / softcap);
            if (mask !== null) s += mask[maskRow + j];
            if (slope !== 0) s -= slope * Math.abs(position - j);
            scores[slot] = s;
            if (rowScores !== null) rowScores[j] = s;
            if (s > blockMax || s !== s) blockMax = s; // a NaN score sticks, so NaN input gives NaN output
          }
          // Every key of the block hidden or masked with -Infinity: it adds nothing.
          if (blockMax === -Infinity) continue;

          if (blockMax > rowMax || blockMax !== blockMax) {
            // New maximum: rescale l and acc from exp(s - m_old) to exp(s - m_new).
            if (rowSum > 0) {
              const correction = Math.exp(rowMax - blockMax);
              rowSum *= correction;
              for (let d = 0; d < Dv; d++) acc[d] *= correction;
            }
            rowMax = blockMax;
          }

          // l += Σ p_j; acc += Σ p_j · v_j with p_j = exp(s_j - m), visible keys only.
          for (let j = blockStart; j < blockEnd; j++) {
            if (visible[j - blockStart] === 0) continue;
            const weight = Math.exp(scores[j - blockStart] - rowMax);
            if (weight === 0) continue; // masked with -Infinity, or underflow: no contribution
            rowSum += weight;
            const vRow = vHead + j * p.vStrideL;
            for (let d = 0; d < Dv; d++) acc[d] += weight * v[vRow + d];
          }
        }

        // out = acc / l. l is 0 only when the row sees no key: zeros (not NaN), lse -Infinity.
        const seesNothing = rowSum === 0;
        if (seesNothing) {
          out.fill(0, outRow, outRow + Dv);
        } else {
          const inverse = 1 / rowSum;
          for (let d = 0; d < Dv; d++) out[outRow + d] = acc[d] * inverse;
        }
        if (lse !== null) lse[statRow] = seesNothing ? -Infinity : rowMax + Math.log(rowSum);
        if (weights !== null && rowScores !== null) {
          // The slow path: p_ij = exp(s_ij - m) / l, 0 on hidden keys (exp(-Infinity) = 0).
          const weightsRow = statRow * Lk;
          if (seesNothing) {
            weights.fill(0, weightsRow, weightsRow + Lk);
          } else {
            for (let j = 0; j < Lk; j++) weights[weightsRow + j] = Math.exp(rowScores[j] - rowMax) / rowSum;
          }
        }
      }
    }
  }
}
