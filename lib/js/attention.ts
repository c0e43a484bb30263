/**
 * The pure-TypeScript attention kernel, and the readable specification of
 * the native one (native/ uses the same name, attention_forward).
 *
 *   out[b,h,i,:] = Σ_j p_ij · V[b,g,j,:] / Σ_j p_ij
 *   p_ij = exp(s_ij - max_j s_ij),  s_ij = scale · Q[b,h,i,:]·K[b,g,j,:] + mask[b,h,i,j]
 *
 * with g = floor(h / (H/Hkv)) the kv head shared by a group of query heads.
 * Keys are visited in blocks with an online softmax: a running row maximum m
 * and row sum l, and an accumulator that is rescaled by exp(m_old - m_new)
 * whenever a block raises the maximum. Only one block of scores exists at a
 * time, never the Lq×Lk matrix. Sums run in float64; the output is float32.
 */
import type { ResolvedAttention } from '../options';

/** Keys per block: 64 scores (512 bytes) stay in L1 next to the accumulator. */
const KEY_BLOCK = 64;

export function attention_forward(r: ResolvedAttention): void {
  const { q, k, v, out, mask, B, H, Hkv, Lq, Lk, D, Dv, scale, causal, maskStrideB, maskStrideH, maskStrideQ } = r;
  const groupSize = H / Hkv;
  // Causal, bottom-right aligned: query i sees keys j <= i + Lk - Lq.
  const causalShift = Lk - Lq;

  // Scratch, allocated once per call and reused for every row.
  const scores = new Float64Array(KEY_BLOCK);
  const acc = new Float64Array(Dv);
  const qRow = new Float64Array(D);

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvHead = Math.floor(h / groupSize);
      const qHead = (b * H + h) * Lq * D;
      const kHead = (b * Hkv + kvHead) * Lk * D;
      const vHead = (b * Hkv + kvHead) * Lk * Dv;
      const outHead = (b * H + h) * Lq * Dv;
      const maskHead = b * maskStrideB + h * maskStrideH;

      for (let i = 0; i < Lq; i++) {
        const outRow = outHead + i * Dv;
        // Causal keys beyond the diagonal are never visited (a loop bound, not masking work).
        const keyEnd = causal ? Math.min(Lk, i + causalShift + 1) : Lk;
        if (keyEnd <= 0) {
          out.fill(0, outRow, outRow + Dv); // sees no key at all
          continue;
        }

        // Fold the scale into q once per row: s_ij = (scale·q_i)·k_j.
        const qStart = qHead + i * D;
        for (let d = 0; d < D; d++) qRow[d] = scale * q[qStart + d];
        const maskRow = maskHead + i * maskStrideQ;

        let rowMax = -Infinity; // m: max of the scores seen so far
        let rowSum = 0; // l: Σ exp(s - m) over the keys seen so far
        acc.fill(0); // Σ exp(s - m) · v over the keys seen so far

        for (let blockStart = 0; blockStart < keyEnd; blockStart += KEY_BLOCK) {
          const blockEnd = Math.min(blockStart + KEY_BLOCK, keyEnd);

          // scores = s_ij for this block; blockMax = its maximum.
          let blockMax = -Infinity;
          for (let j = blockStart; j < blockEnd; j++) {
            const kRow = kHead + j * D;
            let s = 0;
            for (let d = 0; d < D; d++) s += qRow[d] * k[kRow + d];
            if (mask !== null) s += mask[maskRow + j];
            scores[j - blockStart] = s;
            if (s > blockMax || s !== s) blockMax = s; // a NaN score sticks, so NaN input gives NaN output
          }
          // Every key of the block masked with -Infinity: it adds nothing.
          if (blockMax === -Infinity) continue;

          if (blockMax > rowMax) {
            // New maximum: rescale l and acc from exp(s - m_old) to exp(s - m_new).
            if (rowSum > 0) {
              const correction = Math.exp(rowMax - blockMax);
              rowSum *= correction;
              for (let d = 0; d < Dv; d++) acc[d] *= correction;
            }
            rowMax = blockMax;
          }

          // l += Σ p_j; acc += Σ p_j · v_j with p_j = exp(s_j - m).
          for (let j = blockStart; j < blockEnd; j++) {
            const p = Math.exp(scores[j - blockStart] - rowMax);
            if (p === 0) continue; // masked key (-Infinity) or underflow: no contribution
            rowSum += p;
            const vRow = vHead + j * Dv;
            for (let d = 0; d < Dv; d++) acc[d] += p * v[vRow + d];
          }
        }

        // out = acc / l. l is 0 only when every visible key was masked: zeros, not NaN.
        if (rowSum === 0) {
          out.fill(0, outRow, outRow + Dv);
        } else {
          const inverse = 1 / rowSum;
          for (let d = 0; d < Dv; d++) out[outRow + d] = acc[d] * inverse;
        }
      }
    }
  }
}
