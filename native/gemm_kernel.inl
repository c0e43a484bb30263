// The GEMM micro-kernels of linear_forward (gemm.h), written once against the
// SIMD vocabulary like flash_kernel.inl and included by each kernel_<isa>.cpp
// inside its ISA namespace (internal linkage, that unit's target flags only).
//
// Packed path, one work item = (block of blockM rows, block of blockN columns):
//   for each depth slice [k0, k0 + blockK):
//     for each strip of up to kGemmRows rows:            x rows read in place
//       for each tile of 1-4 panels (16-64 columns) of one weight group:
//         acc[r][c] = k0 == 0 ? bias[c] : out[r][c]      (register tile)
//         acc[r][c] += x[r][k] * Wp[k][c]   for k in the slice, in order
//         out[r][c] = acc[r][c]
// The slice of packed weights (blockK x blockN) stays in L2 while every strip
// of the block passes over it; the strip's x rows stay in L1.
// Each output element sees the same operations in the same order whatever the
// blocking or thread count: 1 and 2 threads give identical bits.
// Bfloat16 packed weights: the same tiles, the weights widened exactly on load
// (bits << 16; two vectors per load, in pair order, where a tile has an even
// number of vectors), so a result equals the float32 path's on the rounded weights.

namespace {
#include "pair_order.inl"
namespace gemm {

using simd::vec;
constexpr int kW = simd::W;
constexpr int kVecsPerPanel = int(fa::kGemmPanelCols) / kW;
// Register tile: kRows x (1..4 panels), at most kMaxAcc accumulator vectors, so
// the tile, the panel row and a broadcast fit in the register file (32 zmm or
// NEON q registers: 6 x 4 zmm = 24; 16 ymm on AVX2: 6 x 2 = 12). The scalar
// build: 4 rows x 16 floats, left to the compiler (8.1 GFLOP/s at
// 512x512x512 on Zen4, 7.4 with 2 rows).
constexpr int kRows = kW == 1 ? 4 : 6;
constexpr int kMaxAcc = kW == 16 ? 24 : kW == 8 ? 12 : kW == 4 ? 24 : 32;
constexpr int kMaxPanels = int(fa::kGemmGroupCols / fa::kGemmPanelCols);

constexpr int max_panels(int rows) {
  const int p = kMaxAcc / (rows * kVecsPerPanel);
  return p < 1 ? 1 : (p > kMaxPanels ? kMaxPanels : p);
}

inline int64_t min_i(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes of vector v (of a tile `cols` wide) that hold real columns: 0..kW.
inline int lanes_of(int v, int cols) {
  const int n = cols - v * kW;
  return n <= 0 ? 0 : (n >= kW ? kW : n);
}

// A vector of packed weights: float32 as is (rows 64-byte aligned), bfloat16 widened
// (tiles with an odd number of vectors).
inline vec load_weights(const float* p) { return simd::load(p); }
inline vec load_weights(const uint16_t* p) { return simd::load_bf16(p); }

// Bfloat16 tiles read the weights in pairs of vectors, their accumulators in pair order (pair_order.inl).
// out[R rows][cols] (= or +=) x[R rows][kc] · b[kc][P panels], see the file comment.
// a: row 0 of x at the slice start, rows lda apart; b: row 0 of the panels at
// the slice start, rows ldb apart (64-byte aligned); init: packed bias at the
// tile's first column, or null to continue from out.
template <typename T, int R, int P>
void tile(const float* a, int64_t lda, const T* b, int64_t ldb, int64_t kc, const float* init, float* c,
          int64_t ldc, int cols) {
  constexpr int V = P * kVecsPerPanel;
  vec acc[R][V];
  for (int v = 0; v < V; ++v) {
    const int n = lanes_of(v, cols);
    for (int r = 0; r < R; ++r) {
      if (init)
        acc[r][v] = simd::load(init + v * kW);
      else if (n == kW)
        acc[r][v] = simd::loadu(c + r * ldc + v * kW);
      else if (n > 0)
        acc[r][v] = simd::load_partial(c + r * ldc + v * kW, n);
      else
        acc[r][v] = simd::zero();
    }
  }
  constexpr bool kPairs = sizeof(T) == 2 && V % 2 == 0;
  if constexpr (kPairs)
    for (int r = 0; r < R; ++r) reorder_pairs<V, true>(acc[r]);
  const float* ar[R];
  for (int r = 0; r < R; ++r) ar[r] = a + r * lda;
  for (int64_t k = 0; k < kc; ++k) {
    vec bv[V];
    if constexpr (kPairs) {
      for (int u = 0; u < V / 2; ++u) simd::load_bf16_pairs(b + 2 * u * kW, bv[2 * u], bv[2 * u + 1]);
    } else {
      for (int v = 0; v < V; ++v) bv[v] = load_weights(b + v * kW);
    }
    b += ldb;
    for (int r = 0; r < R; ++r) {
      const vec av = simd::set1(ar[r][k]);
      for (int v = 0; v < V; ++v) acc[r][v] = simd::fma(av, bv[v], acc[r][v]);
    }
  }
  if constexpr (kPairs)
    for (int r = 0; r < R; ++r) reorder_pairs<V, false>(acc[r]);
  for (int v = 0; v < V; ++v) {
    const int n = lanes_of(v, cols);
    for (int r = 0; r < R; ++r) {
      if (n == kW)
        simd::storeu(c + r * ldc + v * kW, acc[r][v]);
      else if (n > 0)
        simd::store_partial(c + r * ldc + v * kW, acc[r][v], n);
    }
  }
}

template <typename T>
using TileFn = void (*)(const float*, int64_t, const T*, int64_t, int64_t, const float*, float*, int64_t, int);

// tile<T, R, P> for P = panels, instantiated only where the tile fits the registers.
template <typename T, int R, int P = 1>
TileFn<T> tile_for(int panels) {
  if constexpr (P > max_panels(R)) {
    return nullptr;
  } else {
    return panels == P ? &tile<T, R, P> : tile_for<T, R, P + 1>(panels);
  }
}

template <typename T, int R = 1>
TileFn<T> tile_for_rows(int rows, int panels) {
  if constexpr (R > kRows) {
    return nullptr;
  } else {
    return rows == R ? tile_for<T, R>(panels) : tile_for_rows<T, R + 1>(rows, panels);
  }
}

template <typename T>
struct TileTable {
  TileFn<T> fn[kRows + 1][kMaxPanels + 1] = {};
  int maxPanels[kRows + 1] = {};
  TileTable() {
    for (int r = 1; r <= kRows; ++r) {
      maxPanels[r] = max_panels(r);
      for (int p = 1; p <= maxPanels[r]; ++p) fn[r][p] = tile_for_rows<T>(r, p);
    }
  }
};

template <typename T>
const TileTable<T>& tiles() {
  static const TileTable<T> table;
  return table;
}

// Work item `item` of a Packed-path plan over weights of element type T (see the file comment).
template <typename T>
void linear_item_as(const fa::LinearParams& p, const fa::LinearPlan& plan, int64_t item) {
  const fa::PackedWeights& w = *p.packed;
  const TileTable<T>& table = tiles<T>();
  const int64_t mBlock = item % plan.numMBlocks, nBlock = item / plan.numMBlocks;
  const int64_t m0 = mBlock * plan.blockM, m1 = min_i(p.M, m0 + plan.blockM);
  const int64_t n0 = nBlock * plan.blockN, n1 = min_i(p.N, n0 + plan.blockN);
  for (int64_t k0 = 0; k0 < p.K; k0 += plan.blockK) {
    const int64_t kc = min_i(plan.blockK, p.K - k0);
    for (int64_t i0 = m0; i0 < m1; i0 += kRows) {
      const int rows = int(min_i(kRows, m1 - i0));
      const float* a = p.x + i0 * p.K + k0;
      for (int64_t j0 = n0; j0 < n1;) {
        const int64_t g = j0 / fa::kGemmGroupCols;
        const int64_t inGroup = j0 - g * fa::kGemmGroupCols;
        const int64_t width = w.group_width(g);
        const int panelsLeft = int((width - inGroup) / fa::kGemmPanelCols);
        const int panels = panelsLeft < table.maxPanels[rows] ? panelsLeft : table.maxPanels[rows];
        const int cols = int(min_i(int64_t(panels) * fa::kGemmPanelCols, n1 - j0));
        const T* b = w.group<T>(g) + k0 * width + inGroup;
        table.fn[rows][panels](a, p.K, b, width, kc, k0 == 0 ? w.bias + j0 : nullptr, p.out + i0 * p.outStride + j0,
                               p.outStride, cols);
        j0 += int64_t(panels) * fa::kGemmPanelCols;
      }
    }
  }
}

void linear_item(const fa::LinearParams& p, const fa::LinearPlan& plan, int64_t item) {
  if (p.packed->type == fa::WeightType::BF16)
    linear_item_as<uint16_t>(p, plan, item);
  else
    linear_item_as<float>(p, plan, item);
}

// RowsDot path: columns [j0, j1) of up to kDotGroupRows rows, with unpacked
// weights. C weight rows at a time, each dotted with every x row along
// K (vectors across k, one horizontal sum per output at the end).
constexpr int dot_cols(int rows) {
  const int c = (kMaxAcc - 4) / rows;
  return c < 1 ? 1 : (c > 4 ? 4 : c);
}

template <int R, int C>
void dot_block(const fa::LinearParams& p, int64_t j) {
  const int64_t K = p.K;
  const int64_t kFull = K / kW * kW;
  const int kTail = int(K - kFull);
  vec acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = simd::zero();
  const float* wr[C];
  for (int c = 0; c < C; ++c) wr[c] = p.weight + (j + c) * K;
  for (int64_t k = 0; k < kFull; k += kW) {
    vec wv[C];
    for (int c = 0; c < C; ++c) wv[c] = simd::loadu(wr[c] + k);
    for (int r = 0; r < R; ++r) {
      const vec xv = simd::loadu(p.x + r * K + k);
      for (int c = 0; c < C; ++c) acc[r][c] = simd::fma(xv, wv[c], acc[r][c]);
    }
  }
  if (kTail > 0) {
    vec wv[C];
    for (int c = 0; c < C; ++c) wv[c] = simd::load_partial(wr[c] + kFull, kTail);
    for (int r = 0; r < R; ++r) {
      const vec xv = simd::load_partial(p.x + r * K + kFull, kTail);
      for (int c = 0; c < C; ++c) acc[r][c] = simd::fma(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      p.out[r * p.outStride + j + c] = simd::reduce_sum(acc[r][c]) + (p.bias ? p.bias[j + c] : 0.0f);
}

template <int R>
void rows_dot(const fa::LinearParams& p, int64_t j0, int64_t j1) {
  constexpr int C = dot_cols(R);
  int64_t j = j0;
  for (; j + C <= j1; j += C) dot_block<R, C>(p, j);
  for (; j < j1; ++j) dot_block<R, 1>(p, j);
}

// All rows over columns [j0, j1), up to 4 rows at a time: the columns' weights
// stay in L1/L2 while the row groups pass over them.
void linear_rows_dot(const fa::LinearParams& p, int64_t j0, int64_t j1) {
  static_assert(fa::kDotGroupRows == 4, "rows_dot is instantiated for 1-4 rows");
  for (int64_t i0 = 0; i0 < p.M; i0 += fa::kDotGroupRows) {
    fa::LinearParams rows = p;
    rows.x = p.x + i0 * p.K;
    rows.out = p.out + i0 * p.outStride;
    switch (min_i(fa::kDotGroupRows, p.M - i0)) {
      case 1: rows_dot<1>(rows, j0, j1); break;
      case 2: rows_dot<2>(rows, j0, j1); break;
      case 3: rows_dot<3>(rows, j0, j1); break;
      default: rows_dot<4>(rows, j0, j1); break;
    }
  }
}

}  // namespace gemm
}  // namespace
