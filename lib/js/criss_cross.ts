/**
 * The pure-TypeScript criss-cross attention kernel (CCNet), and the readable
 * specification of native/criss_cross.inl (same argument object):
 *
 *   out[b,:,i,j] = Σ_{(y,x)} p_yx · v[b,:,y,x] / Σ_{(y,x)} p_yx
 *   p_yx = exp(s_yx - max s),  s_yx = scale · q[b,:,i,j]·k[b,:,y,x]
 *
 * over the H + W - 1 pixels of column j (every row y, centre included) and
 * row i (every column x ≠ j). Scores and sums run in float64.
 */
import type { NativeCrissCrossArgs } from '../native';

export function criss_cross_forward(p: NativeCrissCrossArgs): void {
  const { q, k, v, out, B, Cqk, Cv, H, W, scale } = p;
  const scores = new Float64Array(H + W); // [0, H): column keys y; [H, H+W): row keys x (x = j skipped)
  const qPixel = new Float64Array(Cqk);
  const acc = new Float64Array(Cv);
  for (let b = 0; b < B; b++) {
    const qImage = b * p.qStrideB, kImage = b * p.kStrideB, vImage = b * p.vStrideB, oImage = b * p.oStrideB;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const qAt = qImage + i * p.qStrideY + j * p.qStrideX;
        for (let c = 0; c < Cqk; c++) qPixel[c] = scale * q[qAt + c * p.qStrideC];
        const score = (y: number, x: number): number => {
          const kAt = kImage + y * p.kStrideY + x * p.kStrideX;
          let s = 0;
          for (let c = 0; c < Cqk; c++) s += qPixel[c] * k[kAt + c * p.kStrideC];
          return s;
        };
        let max = -Infinity;
        for (let y = 0; y < H; y++) max = Math.max(max, (scores[y] = score(y, j)));
        for (let x = 0; x < W; x++) if (x !== j) max = Math.max(max, (scores[H + x] = score(i, x)));

        acc.fill(0);
        let sum = 0;
        const addValue = (weight: number, y: number, x: number): void => {
          const vAt = vImage + y * p.vStrideY + x * p.vStrideX;
          sum += weight;
          for (let e = 0; e < Cv; e++) acc[e] += weight * v[vAt + e * p.vStrideC];
        };
        for (let y = 0; y < H; y++) addValue(Math.exp(scores[y] - max), y, j);
        for (let x = 0; x < W; x++) if (x !== j) addValue(Math.exp(scores[H + x] - max), i, x);

        const oAt = oImage + i * p.oStrideY + j * p.oStrideX;
        for (let e = 0; e < Cv; e++) out[oAt + e * p.oStrideC] = acc[e] / sum;
      }
    }
  }
}
