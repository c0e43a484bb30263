// The float64 oracle of nn.Linear, shared like test/oracle/attention.mjs.

/**
 * y = x·wᵀ + b in float64: x [rows, inFeatures], w [outFeatures, inFeatures], b [outFeatures] or none.
 * @param {ArrayLike<number>} x @param {number} rows @param {number} inFeatures
 * @param {ArrayLike<number>} w @param {number} outFeatures @param {ArrayLike<number> | null} [b]
 * @returns {Float64Array} [rows, outFeatures]
 */
export function referenceLinear(x, rows, inFeatures, w, outFeatures, b) {
  const y = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outFeatures; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inFeatures; i++) s += x[r * inFeatures + i] * w[o * inFeatures + i];
      y[r * outFeatures + o] = s;
    }
  return y;
}
