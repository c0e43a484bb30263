// Accumulators in "pair order", for loops that read bfloat16 rows two vectors
// at a time: simd::load_bf16_pairs splits 2W consecutive values into the W
// even-indexed and the W odd-indexed ones (one load and two bit operations,
// where widening each vector in column order takes a lane-crossing
// zero-extension per vector). A row of V accumulator vectors (V even) in pair
// order holds, in vector 2u, columns 2uW, 2uW + 2, ..., and in vector 2u + 1
// columns 2uW + 1, 2uW + 3, .... reorder_pairs moves such a row from column
// order into pair order (toPairs) or back, once per tile or block instead of
// once per row read. Included by flash_kernel.inl and gemm_kernel.inl inside
// the ISA's anonymous namespace (once per translation unit).
#pragma once

template <int V, bool toPairs>
void reorder_pairs(simd::vec* a) {
  static_assert(V % 2 == 0, "pairs of vectors");
  constexpr int kW = simd::W;
  alignas(64) float from[V * kW], to[V * kW];
  for (int v = 0; v < V; ++v) simd::store(from + v * kW, a[v]);
  for (int u = 0; u < V / 2; ++u)
    for (int l = 0; l < kW; ++l)
      for (int parity = 0; parity < 2; ++parity) {
        const int column = 2 * u * kW + 2 * l + parity, paired = (2 * u + parity) * kW + l;
        if (toPairs)
          to[paired] = from[column];
        else
          to[column] = from[paired];
      }
  for (int v = 0; v < V; ++v) a[v] = simd::load(to + v * kW);
}
