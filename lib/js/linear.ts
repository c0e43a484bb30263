/**
 * nn.Linear in TypeScript, the fallback of native/gemm.cpp (same function name):
 *   out[outOffset + i*outStride + j] = bias[j] + Σ_k x[i*K + k] · weight[j*K + k]
 * for rows i < M and output features j < N; weight is [N, K] row-major
 * (PyTorch's layout), so every output is a dot product of two contiguous rows.
 * A 2-row × 4-column block keeps 8 sums in locals (float64): each x and weight
 * value loaded feeds 4 or 2 multiply-adds.
 */

/** One resolved linear call (lib/linear.ts checks every field first). */
export interface LinearCall {
  x: Float32Array;
  /** Rows of x (the product of its leading dims). */
  M: number;
  /** inFeatures. */
  K: number;
  /** outFeatures. */
  N: number;
  weight: Float32Array;
  bias: Float32Array | null;
  out: Float32Array;
  outStride: number;
  outOffset: number;
}

export function linear_forward(call: LinearCall): void {
  const { x, M, K, N, weight, bias, out, outStride, outOffset } = call;
  const dot = (xi: number, wj: number): number => {
    let s = 0;
    for (let k = 0; k < K; k++) s += x[xi + k] * weight[wj + k];
    return s;
  };
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const x0 = i * K, x1 = x0 + K;
    const o0 = outOffset + i * outStride, o1 = o0 + outStride;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const w0 = j * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let k = 0; k < K; k++) {
        const a = x[x0 + k], e = x[x1 + k];
        const u0 = weight[w0 + k], u1 = weight[w1 + k], u2 = weight[w2 + k], u3 = weight[w3 + k];
        s00 += a * u0; s01 += a * u1; s02 += a * u2; s03 += a * u3;
        s10 += e * u0; s11 += e * u1; s12 += e * u2; s13 += e * u3;
      }
      const b0 = bias !== null ? bias[j] : 0, b1 = bias !== null ? bias[j + 1] : 0;
      const b2 = bias !== null ? bias[j + 2] : 0, b3 = bias !== null ? bias[j + 3] : 0;
      out[o0 + j] = s00 + b0; out[o0 + j + 1] = s01 + b1; out[o0 + j + 2] = s02 + b2; out[o0 + j + 3] = s03 + b3;
      out[o1 + j] = s10 + b0; out[o1 + j + 1] = s11 + b1; out[o1 + j + 2] = s12 + b2; out[o1 + j + 3] = s13 + b3;
    }
    for (; j < N; j++) {
      const b = bias !== null ? bias[j] : 0;
      out[o0 + j] = dot(x0, j * K) + b;
      out[o1 + j] = dot(x1, j * K) + b;
    }
  }
  for (; i < M; i++) {
    const xi = i * K, o = outOffset + i * outStride;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const w0 = j * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const a = x[xi + k];
        s0 += a * weight[w0 + k]; s1 += a * weight[w1 + k]; s2 += a * weight[w2 + k]; s3 += a * weight[w3 + k];
      }
      out[o + j] = s0 + (bias !== null ? bias[j] : 0);
      out[o + j + 1] = s1 + (bias !== null ? bias[j + 1] : 0);
      out[o + j + 2] = s2 + (bias !== null ? bias[j + 2] : 0);
      out[o + j + 3] = s3 + (bias !== null ? bias[j + 3] : 0);
    }
    for (; j < N; j++) out[o + j] = dot(xi, j * K) + (bias !== null ? bias[j] : 0);
  }
}
