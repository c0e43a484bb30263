// The fused attention kernel, written once against the SIMD vocabulary
// (simd::vec, simd::W, load/store/fma/max/exp2_nonpos ...). Each ISA translation
// unit (kernel_<isa>.cpp) includes its simd_<isa>.h and then this file inside
// its own namespace, so every function here has internal linkage and is
// compiled with that unit's target flags only (no shared inline code between
// ISAs: the linker would keep one copy of an inline function, perhaps the AVX-512 one).
//
// Work item = (b, h, block of blockQ query rows). Per item:
//   Qs  = Q_block * scale * log2(e)                  (so softmax can use exp2)
//   for each key block (blockK keys) inside the union of the rows' visible ranges:
//     Kt = K_blockᵀ packed [D][blockK], zero-padded to whole strips
//     for each micro-panel of kRows query rows:
//       S = Qs_panel · Kt                             (register-blocked GEMM)
//       S = softcap(S) + mask*log2(e) - ALiBi; S = -inf where a key is hidden
//         (window/causal, key length, key padding, boolean mask)
//       m' = max(m, rowmax S); P = 2^(S - m'); alpha = 2^(m - m')
//       l = alpha*l + rowsum P;  O = alpha*O + P · V_block
//   out = O / l   (0 where l == 0: the row saw no key)
// Scores exist only as a kRows x blockK panel: no Lq x Lk matrix.
//
// K and V are fp32 or bfloat16 (p.kvType): every function that reads them is a
// template on the element type T (float or uint16_t bit patterns), and the entry
// points at the end pick the instantiation. Bf16 is widened exactly on load
// (load_kv: bits << 16); packed K panels, scores and accumulators stay fp32.

namespace {
#include "pair_order.inl"

using simd::vec;
constexpr int64_t kLanes = simd::W;
constexpr int kRows = simd::kRows;
constexpr int64_t kStrip = int64_t(simd::kKeyVecs) * simd::W;  // keys per Q·Kᵀ strip
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kAlignFloats = 16;  // 64 bytes

inline int64_t min_i(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max_i(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// K/V element access for either storage type: fp32 as is, bf16 widened exactly.
inline vec load_kv(const float* p) { return simd::loadu(p); }
inline vec load_kv(const uint16_t* p) { return simd::load_bf16(p); }
inline vec load_kv_partial(const float* p, int n) { return simd::load_partial(p, n); }
inline vec load_kv_partial(const uint16_t* p, int n) { return simd::load_partial_bf16(p, n); }
inline float kv_to_float(float x) { return x; }
inline float kv_to_float(uint16_t x) {
  const uint32_t bits = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Start of kv head (b, hk) of K / V in their storage type.
template <typename T>
const T* k_head(const fa::AttentionParams& p, int64_t b, int64_t hk) {
  return static_cast<const T*>(p.k) + b * p.kStrideB + hk * p.kStrideH;
}
template <typename T>
const T* v_head(const fa::AttentionParams& p, int64_t b, int64_t hk) {
  return static_cast<const T*>(p.v) + b * p.vStrideB + hk * p.vStrideH;
}

// Key position of query row i of batch row b: i + rowOffsets[b], else i + alignOffset.
inline int64_t query_position(const fa::AttentionParams& p, int64_t b, int64_t i) {
  return i + (p.rowOffsets ? int64_t(p.rowOffsets[b]) : p.alignOffset);
}

// Named slices of one thread's scratch, each 64-byte aligned.
struct Scratch {
  float* qs;      // [blockQ][D]      query rows pre-scaled by scale*log2(e) (decode: rows padded to W)
  float* acc;     // [blockQ][dvPad]  unnormalised output accumulator
  float* rowMax;  // [blockQ]         running max (log2 domain)
  float* rowSum;  // [blockQ]         running sum of 2^(s - rowMax)
  float* kt;      // [D][blockK]      packed K block, transposed
  float* scores;  // [panelRows][blockK]  score / probability panel
  float* alpha;   // [panelRows]          rescale factors of the current panel
};

// Rows of the score panel: kRows on the tiled path, all query heads of a kv
// head (plan.groupRows) on the decode path.
inline int64_t panel_rows(const fa::KernelPlan& plan) { return max_i(kRows, plan.groupRows); }

inline int64_t dv_padded(const fa::AttentionParams& p) { return round_up(p.Dv, kLanes); }

size_t scratch_layout(const fa::AttentionParams& p, const fa::KernelPlan& plan, float* base, Scratch* s) {
  // Rows of one item: blockQ query rows (tiled) or groupRows query heads (decode).
  const int64_t rows = max_i(plan.blockQ, plan.groupRows);
  const int64_t sizes[7] = {
      rows * round_up(p.D, kLanes), rows * dv_padded(p), rows, rows,
      p.D * plan.blockK, panel_rows(plan) * plan.blockK, panel_rows(plan)};
  float** slots[7] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  if (s) {
    slots[0] = &s->qs; slots[1] = &s->acc; slots[2] = &s->rowMax; slots[3] = &s->rowSum;
    slots[4] = &s->kt; slots[5] = &s->scores; slots[6] = &s->alpha;
  }
  int64_t offset = 0;
  for (int i = 0; i < 7; ++i) {
    if (s) *slots[i] = base + offset;
    offset += round_up(sizes[i], kAlignFloats);
  }
  return size_t(offset);
}

// kt[d][j] = K[j][d] for j < nk (widened to fp32); zero for nk <= j < nkPad.
template <typename T>
void pack_k_transposed(const T* k, int64_t kStrideL, int64_t nk, int64_t nkPad, int64_t D,
                       int64_t ldKt, float* kt) {
  int64_t j0 = 0;
#if defined(SIMD_HAS_TRANSPOSE)
  // W x W tiles through registers: one store per W values instead of one per
  // value (the scalar loop was store-bound, ~8 % of a short self-attention).
  const int64_t dTiles = D / kLanes * kLanes;
  for (; j0 + kLanes <= nk; j0 += kLanes) {
    vec tile[kLanes];
    for (int64_t d = 0; d < dTiles; d += kLanes) {
      for (int i = 0; i < kLanes; ++i) tile[i] = load_kv(k + (j0 + i) * kStrideL + d);
      simd::transpose(tile);
      for (int i = 0; i < kLanes; ++i) simd::store(kt + (d + i) * ldKt + j0, tile[i]);
    }
    for (int64_t j = j0; j < j0 + kLanes; ++j)
      for (int64_t d = dTiles; d < D; ++d) kt[d * ldKt + j] = kv_to_float(k[j * kStrideL + d]);
  }
#endif
  for (int64_t j = j0; j < nk; ++j) {
    const T* row = k + j * kStrideL;
    for (int64_t d = 0; d < D; ++d) kt[d * ldKt + j] = kv_to_float(row[d]);
  }
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = nk; j < nkPad; ++j) kt[d * ldKt + j] = 0.0f;
}

// The transposed K panel of keys [kb, kb + nk) of kv head (b, hk): from the
// call's pre-packed buffer when the planner made one (every query block of a
// head then shares one packing), else packed now into the thread's scratch.
template <typename T>
const float* k_panel(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t b, int64_t hk, int64_t kb,
                     int64_t nk, float* scratchKt) {
  if (plan.packedK) {
    const int64_t blocks = (p.Lk + plan.blockK - 1) / plan.blockK;
    return plan.packedK + ((b * p.Hkv + hk) * blocks + kb / plan.blockK) * p.D * plan.blockK;
  }
  pack_k_transposed(k_head<T>(p, b, hk) + kb * p.kStrideL, p.kStrideL, nk, round_up(nk, kStrip), p.D, plan.blockK,
                    scratchKt);
  return scratchKt;
}

// scores[r][0..nkPad) = qs[r] · kt for MR rows: MR x kKeyVecs accumulators per strip.
// With `mx`, also mx[r] = lane-wise max of mx[r] and the row's scores, taken in
// the same order as row_max (one vector per row, reduced later), while the
// accumulators are still in registers: the softmax then skips its max pass.
template <int MR>
void score_panel(const float* qs, int64_t D, const float* kt, int64_t ldKt, int64_t nkPad,
                 float* scores, int64_t ldS, vec* mx = nullptr) {
  constexpr int NV = simd::kKeyVecs;
  for (int64_t s = 0; s < nkPad; s += kStrip) {
    vec acc[MR][NV];
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = simd::zero();
    const float* ktStrip = kt + s;
    for (int64_t d = 0; d < D; ++d) {
      vec kv[NV];
      for (int v = 0; v < NV; ++v) kv[v] = simd::load(ktStrip + d * ldKt + v * kLanes);
      for (int r = 0; r < MR; ++r) {
        const vec qb = simd::set1(qs[r * D + d]);
        for (int v = 0; v < NV; ++v) acc[r][v] = simd::fma(qb, kv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) simd::store(scores + r * ldS + s + v * kLanes, acc[r][v]);
    if (mx) {
      for (int r = 0; r < MR; ++r) {
        vec m = mx[r];
        for (int v = 0; v < NV; ++v) m = simd::max(m, acc[r][v]);
        mx[r] = m;
      }
    }
  }
}

void score_panel_rows(int mr, const float* qs, int64_t D, const float* kt, int64_t ldKt, int64_t nkPad,
                      float* scores, int64_t ldS, vec* mx = nullptr) {
  switch (mr) {
    case 1: score_panel<1>(qs, D, kt, ldKt, nkPad, scores, ldS, mx); break;
    case 2: score_panel<2>(qs, D, kt, ldKt, nkPad, scores, ldS, mx); break;
    case 3: score_panel<3>(qs, D, kt, ldKt, nkPad, scores, ldS, mx); break;
    case 4: score_panel<4>(qs, D, kt, ldKt, nkPad, scores, ldS, mx); break;
#if 5 <= SIMD_MAX_ROWS
    case 5: score_panel<5>(qs, D, kt, ldKt, nkPad, scores, ldS, mx); break;
    case 6: score_panel<6>(qs, D, kt, ldKt, nkPad, scores, ldS, mx); break;
#endif
    default: break;
  }
}

// How decode prefetches the K or V rows it streams from memory (once, in row
// order). The hardware prefetcher follows such a stream but stops at each 4 KiB
// page, so software prefetches run a page ahead, spread over the rows (a burst
// per key block stalled the core). While at row j of a block, row j + ahead is
// prefetched when below `end` (block-relative; 0 = no prefetch), over `width`
// elements, one prefetch per `step` elements: 256 bytes when the loop keeps up
// with memory (the hardware fills in the other lines; every line cost more than
// it saved), 64 when it computes too long per byte for the hardware to run ahead.
struct RowStream {
  int64_t ahead = 0, end = 0, width = 0, step = 1;
};

constexpr int64_t kStreamAheadBytes = 4096;

template <typename T>
inline void prefetch_row(const T* row, const RowStream& rs) {
  for (int64_t e = 0; e < rs.width; e += rs.step) simd::prefetch_l2(row + e);
}

// acc[r][c..c+NV*W) = alpha[r] * acc[r][..] + sum_j P[r][j] * V[j][c..]; the last
// vector reads only `tail` floats of V when tail > 0 (Dv not a multiple of W).
// Streaming (decode): V rows are prefetched as `stream` says.
// Bf16 V with NV even reads each row in pairs of vectors (simd::load_bf16_pairs),
// the accumulators held in pair order meanwhile (pair_order.inl); callers pass a
// tail only with NV == 1 (pv_panel, pv_stream).
template <typename T, int MR, int NV>
void pv_chunk(const float* P, int64_t ldP, const T* V, int64_t vStrideL, int64_t nk,
              float* acc, int64_t ldA, const float* alpha, int64_t c, int tail, const RowStream& stream = RowStream()) {
  constexpr bool kPairs = sizeof(T) == 2 && NV % 2 == 0;
  vec a[MR][NV];
  for (int r = 0; r < MR; ++r) {
    const vec al = simd::set1(alpha[r]);
    for (int v = 0; v < NV; ++v) a[r][v] = simd::mul(simd::load(acc + r * ldA + c + v * kLanes), al);
    if constexpr (kPairs) reorder_pairs<NV, true>(a[r]);
  }
  for (int64_t j = 0; j < nk; ++j) {
    const T* vrow = V + j * vStrideL + c;
    if (j + stream.ahead < stream.end) prefetch_row(V + (j + stream.ahead) * vStrideL, stream);
    vec vv[NV];
    if constexpr (kPairs) {
      for (int u = 0; u < NV / 2; ++u) simd::load_bf16_pairs(vrow + 2 * u * kLanes, vv[2 * u], vv[2 * u + 1]);
    } else {
      for (int v = 0; v < NV; ++v)
        vv[v] = (tail > 0 && v == NV - 1) ? load_kv_partial(vrow + v * kLanes, tail) : load_kv(vrow + v * kLanes);
    }
    for (int r = 0; r < MR; ++r) {
      const vec pb = simd::set1(P[r * ldP + j]);
      for (int v = 0; v < NV; ++v) a[r][v] = simd::fma(pb, vv[v], a[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    if constexpr (kPairs) reorder_pairs<NV, false>(a[r]);
    for (int v = 0; v < NV; ++v) simd::store(acc + r * ldA + c + v * kLanes, a[r][v]);
  }
}

template <typename T, int MR>
void pv_panel(const float* P, int64_t ldP, const T* V, int64_t vStrideL, int64_t nk,
              float* acc, int64_t ldA, int64_t Dv, const float* alpha) {
  constexpr int NV = simd::kOutVecs;
  int64_t c = 0;
  for (; c + NV * kLanes <= Dv; c += NV * kLanes) pv_chunk<T, MR, NV>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, 0);
  for (; c + kLanes <= Dv; c += kLanes) pv_chunk<T, MR, 1>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, 0);
  if (c < Dv) pv_chunk<T, MR, 1>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, int(Dv - c));
}

template <typename T>
void pv_panel_rows(int mr, const float* P, int64_t ldP, const T* V, int64_t vStrideL, int64_t nk,
                   float* acc, int64_t ldA, int64_t Dv, const float* alpha) {
  switch (mr) {
    case 1: pv_panel<T, 1>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 2: pv_panel<T, 2>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 3: pv_panel<T, 3>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 4: pv_panel<T, 4>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
#if 5 <= SIMD_MAX_ROWS
    case 5: pv_panel<T, 5>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 6: pv_panel<T, 6>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
#endif
    default: break;
  }
}

// s[j] += mask[j] * log2(e) for j < n   (the mask is in natural-log units)
void add_scaled_mask(float* s, const float* mask, int64_t n) {
  const vec l2e = simd::set1(kLog2e);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    simd::storeu(s + j, simd::fma(simd::loadu(mask + j), l2e, simd::loadu(s + j)));
  for (; j < n; ++j) s[j] += mask[j] * kLog2e;
}

// max_j s[j] over n (a multiple of W)
float row_max(const float* s, int64_t n) {
  vec m = simd::set1(kNegInf);
  for (int64_t j = 0; j < n; j += kLanes) m = simd::max(m, simd::load(s + j));  // NaN propagates
  return simd::reduce_max(m);
}

// s[j] = 2^(s[j] - m) over n (a multiple of W); returns the sum of the new s.
float exp2_rowsum(float* s, int64_t n, float m) {
  const vec mv = simd::set1(m);
  vec sum = simd::zero();
  for (int64_t j = 0; j < n; j += kLanes) {
    const vec e = simd::exp2_nonpos(simd::sub(simd::load(s + j), mv));
    simd::store(s + j, e);
    sum = simd::add(sum, e);
  }
  return simd::reduce_sum(sum);
}

float exp2_scalar(float x) { return x < -126.0f ? 0.0f : exp2f(x); }

// Absolute key range [lo, hi) that the window / causal bounds and key length
// leave visible to query row i of batch b (empty when hi <= lo).
struct KeyRange {
  int64_t lo, hi;
};
KeyRange visible_keys(const fa::AttentionParams& p, int64_t b, int64_t i) {
  const int64_t pos = query_position(p, b, i);
  int64_t lo = p.windowLeft >= 0 ? pos - p.windowLeft : 0;
  int64_t hi = p.windowRight >= 0 ? pos + p.windowRight + 1 : p.Lk;
  const int64_t len = p.keyLengths ? int64_t(p.keyLengths[b]) : p.Lk;
  return {max_i(lo, 0), min_i(min_i(hi, p.Lk), len)};
}

// Turns the raw scores of row i for keys [kb, kb + nkPad) into final log2-domain
// logits: softcap, + mask, + ALiBi, and -inf for every hidden key (window,
// causal, key length, padding, boolean mask, padding of the strip).
void finish_row_scores(const fa::AttentionParams& p, int64_t b, int64_t h, int64_t i, int64_t kb, int64_t nk,
                       int64_t nkPad, float* srow) {
  const KeyRange r = visible_keys(p, b, i);
  const int64_t jlo = min_i(max_i(r.lo - kb, 0), nk);
  const int64_t jhi = max_i(min_i(r.hi - kb, nk), jlo);
  if (p.softcap > 0.0f) {
    // s (log2 units) = log2e * x  ->  log2e * c * tanh(x / c)
    const float c = p.softcap;
    for (int64_t j = jlo; j < jhi; ++j) srow[j] = kLog2e * c * tanhf(srow[j] / (kLog2e * c));
  }
  if (p.mask) {
    const float* maskRow = p.mask + b * p.maskStrideB + h * p.maskStrideH + i * p.maskStrideQ;
    if (p.maskStrideK != 0) {
      add_scaled_mask(srow + jlo, maskRow + kb + jlo, jhi - jlo);
    } else {
      // Broadcast over the keys: one value for the whole row.
      const float shift = maskRow[0] * kLog2e;
      for (int64_t j = jlo; j < jhi; ++j) srow[j] += shift;
    }
  }
  if (p.alibiSlopes) {
    const float slope = p.alibiSlopes[h] * kLog2e;
    const int64_t pos = query_position(p, b, i);
    for (int64_t j = jlo; j < jhi; ++j) {
      const int64_t dist = pos - (kb + j);
      srow[j] -= slope * float(dist < 0 ? -dist : dist);
    }
  }
  if (p.keyPadding) {
    const uint8_t* pad = p.keyPadding + b * p.Lk + kb;
    for (int64_t j = jlo; j < jhi; ++j)
      if (!pad[j]) srow[j] = kNegInf;
  }
  if (p.boolMask) {
    const uint8_t* allow = p.boolMask + b * p.boolMaskStrideB + h * p.boolMaskStrideH + i * p.boolMaskStrideQ;
    if (p.boolMaskStrideK != 0) {
      for (int64_t j = jlo; j < jhi; ++j)
        if (!allow[kb + j]) srow[j] = kNegInf;
    } else if (!allow[0]) {
      // Broadcast over the keys: the row sees all of them or none.
      for (int64_t j = jlo; j < jhi; ++j) srow[j] = kNegInf;
    }
  }
  for (int64_t j = 0; j < jlo; ++j) srow[j] = kNegInf;
  for (int64_t j = jhi; j < nkPad; ++j) srow[j] = kNegInf;
}

// Guarded P·V for one row: keys with weight exactly 0 are never read, so NaN/Inf
// stored at hidden keys cannot reach the output (0 * NaN would be NaN).
template <typename T>
void pv_row_guarded(const float* P, const T* V, int64_t vStrideL, int64_t nk, float* acc, int64_t Dv, float alpha) {
  const vec al = simd::set1(alpha);
  int64_t c = 0;
  for (; c + kLanes <= Dv; c += kLanes) simd::store(acc + c, simd::mul(simd::load(acc + c), al));
  if (c < Dv) simd::store(acc + c, simd::mul(simd::load(acc + c), al));
  for (int64_t j = 0; j < nk; ++j) {
    if (P[j] == 0.0f) continue;
    const vec pb = simd::set1(P[j]);
    const T* vrow = V + j * vStrideL;
    for (c = 0; c + kLanes <= Dv; c += kLanes)
      simd::store(acc + c, simd::fma(pb, load_kv(vrow + c), simd::load(acc + c)));
    if (c < Dv) simd::store(acc + c, simd::fma(pb, load_kv_partial(vrow + c, int(Dv - c)), simd::load(acc + c)));
  }
}

// Online-softmax update of one row from its finished logits srow[0..nkPad):
// srow becomes P = 2^(s - m'), and the row's max and sum move to the new block.
// Returns alpha = 2^(m - m'), the factor the row's accumulator must be scaled by.
float softmax_update(float* srow, int64_t nkPad, float* rowMax, float* rowSum) {
  const float oldMax = *rowMax;
  const float blockMax = row_max(srow, nkPad);
  const float newMax = blockMax > oldMax ? blockMax : oldMax;
  // A row that has seen only -inf so far keeps P = 0 instead of NaN.
  const float ref = newMax == kNegInf ? 0.0f : newMax;
  const float sum = exp2_rowsum(srow, nkPad, ref);
  // alpha through the vector exp2 (one per row and key block): a libm exp2f
  // call here was ~3 % of a short self-attention.
  alignas(64) float alphas[kLanes];
  simd::store(alphas, simd::exp2_nonpos(simd::set1(oldMax - ref)));
  const float alpha = alphas[0];
  *rowSum = *rowSum * alpha + sum;
  *rowMax = newMax;
  return alpha;
}

// Online-softmax update of the MR rows of a panel at once, given each row's
// lane-wise block max mx[r] (from score_panel or a max pass): the same
// arithmetic as softmax_update row by row, but the rows' reductions and exp
// chains are independent and interleaved, so their latencies overlap instead
// of running one row after another (softmax_update per row was latency-bound:
// ~10 % of a self-attention).
template <int MR>
void softmax_panel(float* scores, int64_t ldS, int64_t nkPad, const vec* mx, float* rowMax, float* rowSum,
                   float* alpha) {
  float ref[MR], oldMax[MR];
  vec refv[MR], sum[MR];
  for (int r = 0; r < MR; ++r) {
    const float blockMax = simd::reduce_max(mx[r]);
    oldMax[r] = rowMax[r];
    const float newMax = blockMax > oldMax[r] ? blockMax : oldMax[r];
    // A row that has seen only -inf so far keeps P = 0 instead of NaN.
    ref[r] = newMax == kNegInf ? 0.0f : newMax;
    rowMax[r] = newMax;
    refv[r] = simd::set1(ref[r]);
    sum[r] = simd::zero();
  }
  for (int64_t j = 0; j < nkPad; j += kLanes)
    for (int r = 0; r < MR; ++r) {
      float* sp = scores + r * ldS + j;
      const vec e = simd::exp2_nonpos(simd::sub(simd::load(sp), refv[r]));
      simd::store(sp, e);
      sum[r] = simd::add(sum[r], e);
    }
  for (int r = 0; r < MR; ++r) {
    alignas(64) float alphas[kLanes];
    simd::store(alphas, simd::exp2_nonpos(simd::set1(oldMax[r] - ref[r])));
    alpha[r] = alphas[0];
    rowSum[r] = rowSum[r] * alphas[0] + simd::reduce_sum(sum[r]);
  }
}

void softmax_panel_rows(int mr, float* scores, int64_t ldS, int64_t nkPad, const vec* mx, float* rowMax,
                        float* rowSum, float* alpha) {
  switch (mr) {
    case 1: softmax_panel<1>(scores, ldS, nkPad, mx, rowMax, rowSum, alpha); break;
    case 2: softmax_panel<2>(scores, ldS, nkPad, mx, rowMax, rowSum, alpha); break;
    case 3: softmax_panel<3>(scores, ldS, nkPad, mx, rowMax, rowSum, alpha); break;
    case 4: softmax_panel<4>(scores, ldS, nkPad, mx, rowMax, rowSum, alpha); break;
#if 5 <= SIMD_MAX_ROWS
    case 5: softmax_panel<5>(scores, ldS, nkPad, mx, rowMax, rowSum, alpha); break;
    case 6: softmax_panel<6>(scores, ldS, nkPad, mx, rowMax, rowSum, alpha); break;
#endif
    default: break;
  }
}

// Writes one finished row: out = acc / sum (zeros when the row saw no key), and
// its log-sum-exp when asked (natural log; -inf for no key).
void store_row(const fa::AttentionParams& p, int64_t b, int64_t h, int64_t i, const float* acc, float rowMax,
               float rowSum) {
  const float inv = rowSum > 0.0f ? 1.0f / rowSum : 0.0f;
  const vec iv = simd::set1(inv);
  float* orow = p.out + b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
  int64_t c = 0;
  for (; c + kLanes <= p.Dv; c += kLanes) simd::storeu(orow + c, simd::mul(simd::load(acc + c), iv));
  if (c < p.Dv) simd::store_partial(orow + c, simd::mul(simd::load(acc + c), iv), int(p.Dv - c));
  if (p.lse) p.lse[(b * p.H + h) * p.Lq + i] = rowSum > 0.0f ? (rowMax + log2f(rowSum)) * kLn2 : kNegInf;
}

size_t scratch_floats(const fa::AttentionParams& p, const fa::KernelPlan& plan) {
  return scratch_layout(p, plan, nullptr, nullptr);
}

struct Item {
  int64_t b, h, hk, i0, rows;
};

Item item_of(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item) {
  // Late query blocks first: under causal they are the expensive ones, so the
  // atomic hand-out stays balanced.
  const int64_t BH = p.B * p.H;
  const int64_t bh = item % BH;
  const int64_t qb = plan.numQBlocks - 1 - item / BH;
  Item it;
  it.b = bh / p.H;
  it.h = bh % p.H;
  it.hk = it.h / (p.H / p.Hkv);
  it.i0 = qb * plan.blockQ;
  it.rows = min_i(plan.blockQ, p.Lq - it.i0);
  return it;
}

// Keys any row of the item can see: the union of the rows' visible ranges.
KeyRange item_keys(const fa::AttentionParams& p, const Item& it) {
  const KeyRange first = visible_keys(p, it.b, it.i0);
  const KeyRange last = visible_keys(p, it.b, it.i0 + it.rows - 1);
  return {first.lo, max_i(first.hi, last.hi)};
}

// The weights pass (returnWeights, slow path): recomputes each score once more
// and writes 2^(s - m) / l, zeros for hidden keys.
template <typename T>
void write_weights(const fa::AttentionParams& p, const fa::KernelPlan& plan, const Item& it, const KeyRange& keys,
                   const Scratch& s) {
  const int64_t ldKt = plan.blockK;
  for (int64_t r = 0; r < it.rows; ++r) {
    float* wrow = p.weights + ((it.b * p.H + it.h) * p.Lq + it.i0 + r) * p.Lk;
    for (int64_t j = 0; j < p.Lk; ++j) wrow[j] = 0.0f;
  }
  for (int64_t kb = keys.lo / plan.blockK * plan.blockK; kb < keys.hi; kb += plan.blockK) {
    const int64_t nk = min_i(plan.blockK, p.Lk - kb);
    const int64_t nkPad = round_up(nk, kStrip);
    const float* kt = k_panel<T>(p, plan, it.b, it.hk, kb, nk, s.kt);
    for (int64_t r0 = 0; r0 < it.rows; r0 += kRows) {
      const int mr = int(min_i(kRows, it.rows - r0));
      score_panel_rows(mr, s.qs + r0 * p.D, p.D, kt, ldKt, nkPad, s.scores, ldKt);
      for (int r = 0; r < mr; ++r) {
        const int64_t row = r0 + r, i = it.i0 + row;
        if (!(s.rowSum[row] > 0.0f)) continue;
        float* srow = s.scores + r * ldKt;
        finish_row_scores(p, it.b, it.h, i, kb, nk, nkPad, srow);
        const float inv = 1.0f / s.rowSum[row];
        float* wrow = p.weights + ((it.b * p.H + it.h) * p.Lq + i) * p.Lk + kb;
        for (int64_t j = 0; j < nk; ++j) wrow[j] = exp2_scalar(srow[j] - s.rowMax[row]) * inv;
      }
    }
  }
}

template <typename T>
void run_item_as(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* base) {
  Scratch s;
  scratch_layout(p, plan, base, &s);
  const int64_t dvPad = dv_padded(p);
  const int64_t ldKt = plan.blockK;
  const Item it = item_of(p, plan, item);

  const float* qBase = p.q + it.b * p.qStrideB + it.h * p.qStrideH;
  const T* vBase = v_head<T>(p, it.b, it.hk);

  const float qScale = p.scale * kLog2e;
  for (int64_t r = 0; r < it.rows; ++r) {
    const float* qrow = qBase + (it.i0 + r) * p.qStrideL;
    for (int64_t d = 0; d < p.D; ++d) s.qs[r * p.D + d] = qrow[d] * qScale;
    for (int64_t c = 0; c < dvPad; ++c) s.acc[r * dvPad + c] = 0.0f;
    s.rowMax[r] = kNegInf;
    s.rowSum[r] = 0.0f;
  }

  // Only keys some row of the block can see are ever packed or multiplied.
  const KeyRange keys = item_keys(p, it);
  const bool plainScores = !(p.softcap > 0.0f) && !p.mask && !p.alibiSlopes && !p.keyPadding && !p.boolMask;
  // Blocks start at multiples of blockK (so pre-packed panels line up); keys
  // outside the range are hidden by finish_row_scores.
  for (int64_t kb = keys.lo / plan.blockK * plan.blockK; kb < keys.hi; kb += plan.blockK) {
    const int64_t nk = min_i(min_i(plan.blockK, p.Lk - kb), keys.hi - kb);
    const float* kt = k_panel<T>(p, plan, it.b, it.hk, kb, nk, s.kt);
    const T* vBlock = vBase + kb * p.vStrideL;

    for (int64_t r0 = 0; r0 < it.rows; r0 += kRows) {
      const int mr = int(min_i(kRows, it.rows - r0));
      // A panel whose rows all see none of this block's keys is skipped.
      const KeyRange firstRow = visible_keys(p, it.b, it.i0 + r0);
      const KeyRange lastRow = visible_keys(p, it.b, it.i0 + r0 + mr - 1);
      if (lastRow.hi <= kb || firstRow.lo >= kb + nk || max_i(firstRow.hi, lastRow.hi) <= firstRow.lo) continue;
      // Keys past the panel's last visible one (causal, window, key length)
      // are neither multiplied nor read: the panel's own width, not the block's.
      const int64_t nkP = min_i(nk, max_i(firstRow.hi, lastRow.hi) - kb);
      const int64_t nkPadP = round_up(nkP, kStrip);
      vec mx[kRows];
      for (int r = 0; r < mr; ++r) mx[r] = simd::set1(kNegInf);
      // Every row sees every key of the panel and nothing alters the scores:
      // the row max comes from the micro-kernel, finish_row_scores is a no-op.
      const bool plain = plainScores && nkP == nkPadP && lastRow.lo <= kb && firstRow.hi >= kb + nkP;
      score_panel_rows(mr, s.qs + r0 * p.D, p.D, kt, ldKt, nkPadP, s.scores, ldKt, plain ? mx : nullptr);
      if (!plain) {
        for (int r = 0; r < mr; ++r) {
          float* srow = s.scores + r * ldKt;
          finish_row_scores(p, it.b, it.h, it.i0 + r0 + r, kb, nkP, nkPadP, srow);
          vec m = mx[r];
          for (int64_t j = 0; j < nkPadP; j += kLanes) m = simd::max(m, simd::load(srow + j));  // as row_max
          mx[r] = m;
        }
      }
      softmax_panel_rows(mr, s.scores, ldKt, nkPadP, mx, s.rowMax + r0, s.rowSum + r0, s.alpha);
      // Keys before keys.lo (the block starts at a multiple of blockK) are
      // hidden for every row: P·V never reads their V rows.
      const int64_t skip = max_i(0, keys.lo - kb);
      const float* P = s.scores + skip;
      const T* V = vBlock + skip * p.vStrideL;
      if (p.guardHiddenValues) {
        for (int r = 0; r < mr; ++r)
          pv_row_guarded(P + r * ldKt, V, p.vStrideL, nkP - skip, s.acc + (r0 + r) * dvPad, p.Dv, s.alpha[r]);
      } else {
        pv_panel_rows(mr, P, ldKt, V, p.vStrideL, nkP - skip, s.acc + r0 * dvPad, dvPad, p.Dv, s.alpha);
      }
    }
  }

  for (int64_t r = 0; r < it.rows; ++r)
    store_row(p, it.b, it.h, it.i0 + r, s.acc + r * dvPad, s.rowMax[r], s.rowSum[r]);
  if (p.weights) write_weights<T>(p, plan, it, keys, s);
}

// Pre-packing phase: item = (b, hk, key block) -> its transposed panel.
template <typename T>
void pack_item_as(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* packed) {
  const int64_t blocks = (p.Lk + plan.blockK - 1) / plan.blockK;
  const int64_t bhk = item / blocks, kb = (item % blocks) * plan.blockK;
  const int64_t b = bhk / p.Hkv, hk = bhk % p.Hkv;
  const int64_t nk = min_i(plan.blockK, p.Lk - kb);
  pack_k_transposed(k_head<T>(p, b, hk) + kb * p.kStrideL, p.kStrideL, nk, round_up(nk, kStrip), p.D, plan.blockK,
                    packed + item * p.D * plan.blockK);
}


// lane t = the horizontal sum of acc[t], for t < W.
inline vec sum_each(const vec* acc) {
#if defined(SIMD_HAS_TRANSPOSE_SUM)
  return simd::transpose_sum(acc);
#else
  alignas(64) float sums[kLanes];
  for (int t = 0; t < kLanes; ++t) sums[t] = simd::reduce_sum(acc[t]);
  return simd::load(sums);
#endif
}

// Decode reads bf16 K two vectors at a time: simd::load_bf16_pairs splits 2W values into
// their even- and odd-indexed halves, widened by a shift and a mask instead of
// a lane-crossing zero-extension per vector (half the shuffle-port work, half
// the loads). The query row is stored in the same order (scale_query_row), so
// the dot product is the same sum.
constexpr int64_t kPair = 2 * kLanes;
inline int64_t paired_prefix(int64_t D) { return D / kPair * kPair; }


// qs[0..D) = scale * q[0..D); with `paired`, each 2W block of the paired prefix
// holds its even-indexed values, then its odd-indexed ones (see simd::load_bf16_pairs).
inline void scale_query_row(const float* q, int64_t D, float scale, bool paired, float* qs) {
  int64_t d = 0;
  if (paired) {
    for (; d < paired_prefix(D); d += kPair)
      for (int64_t i = 0; i < kLanes; ++i) {
        qs[d + i] = q[d + 2 * i] * scale;
        qs[d + kLanes + i] = q[d + 2 * i + 1] * scale;
      }
  }
  for (; d < D; ++d) qs[d] = q[d] * scale;
}

// q · K[j] (D terms) as a vector of partial sums, four accumulators so the FMA
// latency is not one long chain per key. Bf16: q is pair-split (scale_query_row).
template <typename T>
inline vec dot_partial(const float* q, const T* krow, int64_t D) {
  vec a0 = simd::zero(), a1 = simd::zero(), a2 = simd::zero(), a3 = simd::zero();
  int64_t d = 0;
  if constexpr (sizeof(T) == 2) {
    const int64_t P = paired_prefix(D);
    vec e, o;
    for (; d + 2 * kPair <= P; d += 2 * kPair) {
      simd::load_bf16_pairs(krow + d, e, o);
      a0 = simd::fma(simd::load(q + d), e, a0);
      a1 = simd::fma(simd::load(q + d + kLanes), o, a1);
      simd::load_bf16_pairs(krow + d + kPair, e, o);
      a2 = simd::fma(simd::load(q + d + kPair), e, a2);
      a3 = simd::fma(simd::load(q + d + kPair + kLanes), o, a3);
    }
    if (d < P) {
      simd::load_bf16_pairs(krow + d, e, o);
      a0 = simd::fma(simd::load(q + d), e, a0);
      a1 = simd::fma(simd::load(q + d + kLanes), o, a1);
      d = P;
    }
  } else {
    for (; d + 4 * kLanes <= D; d += 4 * kLanes) {
      a0 = simd::fma(simd::load(q + d), load_kv(krow + d), a0);
      a1 = simd::fma(simd::load(q + d + kLanes), load_kv(krow + d + kLanes), a1);
      a2 = simd::fma(simd::load(q + d + 2 * kLanes), load_kv(krow + d + 2 * kLanes), a2);
      a3 = simd::fma(simd::load(q + d + 3 * kLanes), load_kv(krow + d + 3 * kLanes), a3);
    }
  }
  for (; d + kLanes <= D; d += kLanes) a0 = simd::fma(simd::load(q + d), load_kv(krow + d), a0);
  if (d < D) a1 = simd::fma(simd::load(q + d), load_kv_partial(krow + d, int(D - d)), a1);
  return simd::add(simd::add(a0, a1), simd::add(a2, a3));
}

// Scores of one query row for W keys with the query held in NQ registers
// (D = NQ*W): one load per FMA (fp32) or per two FMAs (bf16) instead of two.
template <typename T, int NQ>
vec score_group_q_in_registers(const float* q, const T* k, int64_t kStrideL) {
  vec qv[NQ];
  for (int c = 0; c < NQ; ++c) qv[c] = simd::load(q + c * kLanes);
  vec acc[kLanes];
  for (int t = 0; t < kLanes; ++t) {
    const T* krow = k + t * kStrideL;
    vec a = simd::zero();
    if constexpr (sizeof(T) == 2) {
      static_assert(NQ % 2 == 0, "bf16 rows are read in pairs of vectors");
      for (int c = 0; c < NQ; c += 2) {
        vec e, o;
        simd::load_bf16_pairs(krow + c * kLanes, e, o);
        a = simd::fma(qv[c], e, a);
        a = simd::fma(qv[c + 1], o, a);
      }
    } else {
      for (int c = 0; c < NQ; ++c) a = simd::fma(qv[c], load_kv(krow + c * kLanes), a);
    }
    acc[t] = a;
  }
  return sum_each(acc);
}

// Whether score_group_q_in_registers<T, NQ> fits the registers: NQ query
// vectors beside W accumulators (AVX-512: 8 + 16 of 32 zmm).
constexpr int kMaxQueryRegisters = simd::W >= 16 ? 8 : (simd::W >= 8 ? 4 : 0);

// Scores of one query row for the W keys at k. Keeping the query in registers
// pays when the row shares its K group with other rows or reads bf16 pairs; a
// lone fp32 row streaming from memory measured ~5 % faster without.
template <typename T>
vec score_group(const float* q, const T* k, int64_t kStrideL, int64_t D, bool queryInRegisters) {
  constexpr int kBig = kMaxQueryRegisters >= 8 ? 8 : 2, kSmall = kMaxQueryRegisters >= 4 ? 4 : 2;
  if (queryInRegisters && kMaxQueryRegisters >= 8 && D == 8 * kLanes)
    return score_group_q_in_registers<T, kBig>(q, k, kStrideL);
  if (queryInRegisters && kMaxQueryRegisters >= 4 && D == 4 * kLanes)
    return score_group_q_in_registers<T, kSmall>(q, k, kStrideL);
  vec acc[kLanes];
  for (int t = 0; t < kLanes; ++t) acc[t] = dot_partial(q, k + t * kStrideL, D);
  return sum_each(acc);
}

// scores[g][j] = qs[g] · K[j] for `rows` query rows and n keys (decode: no
// packing). K rows are read whole and in order, which the hardware prefetcher
// follows; a group of W keys (<= 8 KiB) is read from memory by the first row
// and from L1 by the others, and shares one transposing reduction per row
// instead of a horizontal sum per score. K rows are prefetched as `stream` says.
template <typename T>
void score_rows_dot(int64_t rows, const float* qs, int64_t ldQ, int64_t D, const T* k, int64_t kStrideL, int64_t n,
                    float* scores, int64_t ldS, const RowStream& stream) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t a = j + stream.ahead; a < j + stream.ahead + kLanes && a < stream.end; ++a)
      prefetch_row(k + a * kStrideL, stream);
    for (int64_t g = 0; g < rows; ++g)
      simd::storeu(scores + g * ldS + j, score_group(qs + g * ldQ, k + j * kStrideL, kStrideL, D, rows > 1 || sizeof(T) == 2));
  }
  for (; j < n; ++j) {
    if (j + stream.ahead < stream.end) prefetch_row(k + (j + stream.ahead) * kStrideL, stream);
    for (int64_t g = 0; g < rows; ++g) scores[g * ldS + j] = simd::reduce_sum(dot_partial(qs + g * ldQ, k + j * kStrideL, D));
  }
}

// Decode P·V of MR rows over one key block: V rows stream from memory once,
// the first column chunk prefetching whole rows as `stream` says.
template <typename T, int MR, int NV>
void pv_stream(const float* P, int64_t ldP, const T* V, int64_t vStrideL, int64_t nk, float* acc, int64_t ldA,
               int64_t Dv, const float* alpha, RowStream stream) {
  int64_t c = 0;
  for (; c + NV * kLanes <= Dv; c += NV * kLanes, stream.end = 0)
    pv_chunk<T, MR, NV>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, 0, stream);
  for (; c + kLanes <= Dv; c += kLanes, stream.end = 0)
    pv_chunk<T, MR, 1>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, 0, stream);
  if (c < Dv) pv_chunk<T, MR, 1>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, int(Dv - c), stream);
}

// One query head: a single pass of 8 accumulator vectors (Dv = 128 on AVX-512)
// keeps 8 independent FMA chains and reads each V row once, in order.
template <typename T>
void pv_stream_rows(int mr, const float* P, int64_t ldP, const T* V, int64_t vStrideL, int64_t nk, float* acc,
                    int64_t ldA, int64_t Dv, const float* alpha, const RowStream& stream) {
  constexpr int NV = simd::kOutVecs;
  switch (mr) {
    case 1: pv_stream<T, 1, 8>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha, stream); break;
    case 2: pv_stream<T, 2, NV>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha, stream); break;
    case 3: pv_stream<T, 3, NV>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha, stream); break;
    case 4: pv_stream<T, 4, NV>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha, stream); break;
#if 5 <= SIMD_MAX_ROWS
    case 5: pv_stream<T, 5, NV>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha, stream); break;
    case 6: pv_stream<T, 6, NV>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha, stream); break;
#endif
    default: break;
  }
}

// Decode path (Lq == 1): item = (b, kv head hk, split) with the G = H / Hkv
// query heads of hk as the rows of one panel, so each K/V byte is read from
// memory once per call however many query heads share it. Scores come from
// dot products straight off the K rows (packing would cost as much as the
// whole step), and each (head, split) leaves an unnormalised partial
// {max, sum, acc[Dv]} at partials[((b*H + h)*numSplits + split) * (2 + Dv)].
template <typename T>
void run_split_as(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* base,
                  float* partials) {
  Scratch s;
  scratch_layout(p, plan, base, &s);
  const int64_t dvPad = dv_padded(p);
  const int64_t G = plan.groupRows;
  const int64_t split = item % plan.numSplits;
  const int64_t bhk = item / plan.numSplits;
  const int64_t b = bhk / p.Hkv, hk = bhk % p.Hkv, h0 = hk * G;
  // Every query head of the item has the same single row, so the same keys.
  const KeyRange all = visible_keys(p, b, 0);
  const int64_t chunk = all.hi > all.lo ? round_up((all.hi - all.lo + plan.numSplits - 1) / plan.numSplits, kStrip) : 0;
  const int64_t lo = all.lo + split * chunk;
  const int64_t hi = min_i(all.hi, lo + chunk);

  const T* kBase = k_head<T>(p, b, hk);
  const T* vBase = v_head<T>(p, b, hk);
  const int64_t ldQ = round_up(p.D, kLanes);
  const float qScale = p.scale * kLog2e;
  for (int64_t g = 0; g < G; ++g) {
    float* qs = s.qs + g * ldQ;
    scale_query_row(p.q + b * p.qStrideB + (h0 + g) * p.qStrideH, p.D, qScale, sizeof(T) == 2, qs);
    for (int64_t d = p.D; d < ldQ; ++d) qs[d] = 0.0f;
    for (int64_t c = 0; c < dvPad; ++c) s.acc[g * dvPad + c] = 0.0f;
    s.rowMax[g] = kNegInf;
    s.rowSum[g] = 0.0f;
  }

  const int64_t ldS = plan.blockK;
  // Up to ~2 query rows per byte of K/V (MHA, fp32 GQA) the loop keeps up
  // with memory; beyond (bf16 with G >= 4) prefetch every line.
  const int64_t step = (sizeof(T) == 2 || G >= 8 ? 64 : 256) / int64_t(sizeof(T));
  RowStream kStream, vStream;
  kStream.ahead = (kStreamAheadBytes + p.D * int64_t(sizeof(T)) - 1) / (p.D * int64_t(sizeof(T)));
  kStream.width = p.D;
  kStream.step = step;
  vStream.ahead = (kStreamAheadBytes + p.Dv * int64_t(sizeof(T)) - 1) / (p.Dv * int64_t(sizeof(T)));
  vStream.width = p.Dv;
  vStream.step = step;
  for (int64_t kb = lo; kb < hi; kb += plan.blockK) {
    const int64_t nk = min_i(plan.blockK, hi - kb);
    const int64_t nkPad = round_up(nk, kLanes);  // scores need whole vectors, not strips
    kStream.end = vStream.end = hi - kb;  // rows of this item from the block start
    score_rows_dot<T>(G, s.qs, ldQ, p.D, kBase + kb * p.kStrideL, p.kStrideL, nk, s.scores, ldS, kStream);
    for (int64_t g = 0; g < G; ++g) {
      float* srow = s.scores + g * ldS;
      finish_row_scores(p, b, h0 + g, 0, kb, nk, nkPad, srow);
      s.alpha[g] = softmax_update(srow, nkPad, &s.rowMax[g], &s.rowSum[g]);
    }
    const T* vBlock = vBase + kb * p.vStrideL;
    if (p.guardHiddenValues) {
      for (int64_t g = 0; g < G; ++g)
        pv_row_guarded<T>(s.scores + g * ldS, vBlock, p.vStrideL, nk, s.acc + g * dvPad, p.Dv, s.alpha[g]);
    } else {
      if (sizeof(T) == 4 && G > 1 && kLanes >= 16 && p.Dv == 8 * kLanes) {
        // fp32 with several rows: panels of 2 rows x 8 vectors read each V row
        // whole in one pass. Column-split passes (6 rows x 4 vectors) left the
        // second half of every row for a pass a block later, which the stream
        // prefetcher did not cover (H=32 Hkv=8: 2.5 -> 2.1 ms on 1 thread).
        int64_t g0 = 0;
        for (; g0 + 2 <= G; g0 += 2)
          pv_stream<T, 2, 8>(s.scores + g0 * ldS, ldS, vBlock, p.vStrideL, nk, s.acc + g0 * dvPad, dvPad, p.Dv,
                             s.alpha + g0, g0 == 0 ? vStream : RowStream());
        if (g0 < G)
          pv_stream<T, 1, 8>(s.scores + g0 * ldS, ldS, vBlock, p.vStrideL, nk, s.acc + g0 * dvPad, dvPad, p.Dv,
                             s.alpha + g0, RowStream());
      } else {
        for (int64_t g0 = 0; g0 < G; g0 += kRows)
          pv_stream_rows<T>(int(min_i(kRows, G - g0)), s.scores + g0 * ldS, ldS, vBlock, p.vStrideL, nk,
                            s.acc + g0 * dvPad, dvPad, p.Dv, s.alpha + g0, g0 == 0 ? vStream : RowStream());
      }
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    float* partial = partials + ((b * p.H + h0 + g) * plan.numSplits + split) * (2 + p.Dv);
    partial[0] = s.rowMax[g];
    partial[1] = s.rowSum[g];
    for (int64_t c = 0; c < p.Dv; ++c) partial[2 + c] = s.acc[g * dvPad + c];
  }
}

// Entry points of the ISA table: pick the instantiation for p.kvType.
void run_item(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* scratch) {
  if (p.kvType == fa::KvType::BF16) run_item_as<uint16_t>(p, plan, item, scratch);
  else run_item_as<float>(p, plan, item, scratch);
}

void pack_item(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* packed) {
  if (p.kvType == fa::KvType::BF16) pack_item_as<uint16_t>(p, plan, item, packed);
  else pack_item_as<float>(p, plan, item, packed);
}

void run_split(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* scratch,
               float* partials) {
  if (p.kvType == fa::KvType::BF16) run_split_as<uint16_t>(p, plan, item, scratch, partials);
  else run_split_as<float>(p, plan, item, scratch, partials);
}

}  // namespace
