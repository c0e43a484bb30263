// The fused attention kernel, written once against the SIMD vocabulary
// (simd::vec, simd::W, load/store/fma/max/exp2_nonpos ...). Each ISA translation
// unit (kernel_<isa>.cpp) includes its simd_<isa>.h and then this file inside
// its own namespace, so every function here has internal linkage and is
// compiled with that unit's target flags only (no shared inline code between
// ISAs; see KERNEL-NOTES section 7).
//
// Work item = (b, h, block of blockQ query rows). Per item:
//   Qs  = Q_block * scale * log2(e)                  (so softmax can use exp2)
//   for each key block (blockK keys, causal: only up to the diagonal):
//     Kt = K_blockᵀ packed [D][blockK], zero-padded to whole strips
//     for each micro-panel of kRows query rows:
//       S = Qs_panel · Kt                             (register-blocked GEMM)
//       S += mask * log2(e); S = -inf where causal / padding hides a key
//       m' = max(m, rowmax S); P = 2^(S - m'); alpha = 2^(m - m')
//       l = alpha*l + rowsum P;  O = alpha*O + P · V_block
//   out = O / l   (0 where l == 0: the row saw no key)
// Scores exist only as a kRows x blockK panel: no Lq x Lk matrix.

namespace {

using simd::vec;
constexpr int64_t kLanes = simd::W;
constexpr int kRows = simd::kRows;
constexpr int64_t kStrip = int64_t(simd::kKeyVecs) * simd::W;  // keys per Q·Kᵀ strip
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegInf = -__builtin_inff();
constexpr int64_t kAlignFloats = 16;  // 64 bytes

inline int64_t min_i(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max_i(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Named slices of one thread's scratch, each 64-byte aligned.
struct Scratch {
  float* qs;      // [blockQ][D]      query rows pre-scaled by scale*log2(e)
  float* acc;     // [blockQ][dvPad]  unnormalised output accumulator
  float* rowMax;  // [blockQ]         running max (log2 domain)
  float* rowSum;  // [blockQ]         running sum of 2^(s - rowMax)
  float* kt;      // [D][blockK]      packed K block, transposed
  float* scores;  // [kRows][blockK]  score / probability panel
  float* alpha;   // [kRows]          rescale factors of the current panel
};

inline int64_t dv_padded(const fa::AttentionParams& p) { return round_up(p.Dv, kLanes); }

size_t scratch_layout(const fa::AttentionParams& p, const fa::KernelPlan& plan, float* base, Scratch* s) {
  const int64_t sizes[7] = {
      plan.blockQ * p.D, plan.blockQ * dv_padded(p), plan.blockQ, plan.blockQ,
      p.D * plan.blockK, int64_t(kRows) * plan.blockK, int64_t(kRows)};
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

// kt[d][j] = K[j][d] for j < nk; zero for nk <= j < nkPad.
void pack_k_transposed(const float* k, int64_t kStrideL, int64_t nk, int64_t nkPad, int64_t D,
                       int64_t ldKt, float* kt) {
  for (int64_t j = 0; j < nk; ++j) {
    const float* row = k + j * kStrideL;
    for (int64_t d = 0; d < D; ++d) kt[d * ldKt + j] = row[d];
  }
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = nk; j < nkPad; ++j) kt[d * ldKt + j] = 0.0f;
}

// scores[r][0..nkPad) = qs[r] · kt for MR rows: MR x kKeyVecs accumulators per strip.
template <int MR>
void score_panel(const float* qs, int64_t D, const float* kt, int64_t ldKt, int64_t nkPad,
                 float* scores, int64_t ldS) {
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
  }
}

void score_panel_rows(int mr, const float* qs, int64_t D, const float* kt, int64_t ldKt, int64_t nkPad,
                      float* scores, int64_t ldS) {
  switch (mr) {
    case 1: score_panel<1>(qs, D, kt, ldKt, nkPad, scores, ldS); break;
    case 2: score_panel<2>(qs, D, kt, ldKt, nkPad, scores, ldS); break;
    case 3: score_panel<3>(qs, D, kt, ldKt, nkPad, scores, ldS); break;
    case 4: score_panel<4>(qs, D, kt, ldKt, nkPad, scores, ldS); break;
#if 5 <= SIMD_MAX_ROWS
    case 5: score_panel<5>(qs, D, kt, ldKt, nkPad, scores, ldS); break;
    case 6: score_panel<6>(qs, D, kt, ldKt, nkPad, scores, ldS); break;
#endif
    default: break;
  }
}

// acc[r][c..c+NV*W) = alpha[r] * acc[r][..] + sum_j P[r][j] * V[j][c..]; the last
// vector reads only `tail` floats of V when tail > 0 (Dv not a multiple of W).
template <int MR, int NV>
void pv_chunk(const float* P, int64_t ldP, const float* V, int64_t vStrideL, int64_t nk,
              float* acc, int64_t ldA, const float* alpha, int64_t c, int tail) {
  vec a[MR][NV];
  for (int r = 0; r < MR; ++r) {
    const vec al = simd::set1(alpha[r]);
    for (int v = 0; v < NV; ++v) a[r][v] = simd::mul(simd::load(acc + r * ldA + c + v * kLanes), al);
  }
  for (int64_t j = 0; j < nk; ++j) {
    const float* vrow = V + j * vStrideL + c;
    vec vv[NV];
    for (int v = 0; v < NV; ++v)
      vv[v] = (tail > 0 && v == NV - 1) ? simd::load_partial(vrow + v * kLanes, tail)
                                        : simd::loadu(vrow + v * kLanes);
    for (int r = 0; r < MR; ++r) {
      const vec pb = simd::set1(P[r * ldP + j]);
      for (int v = 0; v < NV; ++v) a[r][v] = simd::fma(pb, vv[v], a[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) simd::store(acc + r * ldA + c + v * kLanes, a[r][v]);
}

template <int MR>
void pv_panel(const float* P, int64_t ldP, const float* V, int64_t vStrideL, int64_t nk,
              float* acc, int64_t ldA, int64_t Dv, const float* alpha) {
  constexpr int NV = simd::kOutVecs;
  int64_t c = 0;
  for (; c + NV * kLanes <= Dv; c += NV * kLanes) pv_chunk<MR, NV>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, 0);
  for (; c + kLanes <= Dv; c += kLanes) pv_chunk<MR, 1>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, 0);
  if (c < Dv) pv_chunk<MR, 1>(P, ldP, V, vStrideL, nk, acc, ldA, alpha, c, int(Dv - c));
}

void pv_panel_rows(int mr, const float* P, int64_t ldP, const float* V, int64_t vStrideL, int64_t nk,
                   float* acc, int64_t ldA, int64_t Dv, const float* alpha) {
  switch (mr) {
    case 1: pv_panel<1>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 2: pv_panel<2>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 3: pv_panel<3>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 4: pv_panel<4>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
#if 5 <= SIMD_MAX_ROWS
    case 5: pv_panel<5>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
    case 6: pv_panel<6>(P, ldP, V, vStrideL, nk, acc, ldA, Dv, alpha); break;
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
  for (int64_t j = 0; j < n; j += kLanes) m = simd::max(simd::load(s + j), m);
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

size_t scratch_floats(const fa::AttentionParams& p, const fa::KernelPlan& plan) {
  return scratch_layout(p, plan, nullptr, nullptr);
}

void run_item(const fa::AttentionParams& p, const fa::KernelPlan& plan, int64_t item, float* base) {
  Scratch s;
  scratch_layout(p, plan, base, &s);
  const int64_t dvPad = dv_padded(p);
  const int64_t ldKt = plan.blockK;

  // Late query blocks first: under causal they are the expensive ones, so the
  // atomic hand-out stays balanced.
  const int64_t BH = p.B * p.H;
  const int64_t bh = item % BH;
  const int64_t qb = plan.numQBlocks - 1 - item / BH;
  const int64_t b = bh / p.H, h = bh % p.H, hk = h / (p.H / p.Hkv);
  const int64_t i0 = qb * plan.blockQ;
  const int64_t rows = min_i(plan.blockQ, p.Lq - i0);
  const int64_t diag = p.Lk - p.Lq;  // row i sees keys j <= i + diag

  const float* qBase = p.q + b * p.qStrideB + h * p.qStrideH;
  const float* kBase = p.k + b * p.kStrideB + hk * p.kStrideH;
  const float* vBase = p.v + b * p.vStrideB + hk * p.vStrideH;
  float* oBase = p.out + b * p.oStrideB + h * p.oStrideH;
  const float* maskBase = p.mask ? p.mask + b * p.maskStrideB + h * p.maskStrideH : nullptr;

  const float qScale = p.scale * kLog2e;
  for (int64_t r = 0; r < rows; ++r) {
    const float* qrow = qBase + (i0 + r) * p.qStrideL;
    for (int64_t d = 0; d < p.D; ++d) s.qs[r * p.D + d] = qrow[d] * qScale;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < dvPad; ++c) s.acc[r * dvPad + c] = 0.0f;
    s.rowMax[r] = kNegInf;
    s.rowSum[r] = 0.0f;
  }

  // Keys any row of this block can see; under causal the rest is never touched.
  const int64_t keyEnd = p.causal ? max_i(0, min_i(p.Lk, i0 + rows + diag)) : p.Lk;
  for (int64_t kb = 0; kb < keyEnd; kb += plan.blockK) {
    const int64_t nk = min_i(plan.blockK, keyEnd - kb);
    const int64_t nkPad = round_up(nk, kStrip);
    pack_k_transposed(kBase + kb * p.kStrideL, p.kStrideL, nk, nkPad, p.D, ldKt, s.kt);
    const float* vBlock = vBase + kb * p.vStrideL;

    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      const int mr = int(min_i(kRows, rows - r0));
      // Causal: a panel whose last row sees no key of this block is skipped.
      if (p.causal && i0 + r0 + mr - 1 + diag < kb) continue;
      score_panel_rows(mr, s.qs + r0 * p.D, p.D, s.kt, ldKt, nkPad, s.scores, ldKt);
      for (int r = 0; r < mr; ++r) {
        const int64_t i = i0 + r0 + r;
        float* srow = s.scores + r * ldKt;
        // Keys [0, visible) of this block are visible to row i.
        const int64_t visible = p.causal ? max_i(0, min_i(nk, i + diag - kb + 1)) : nk;
        if (maskBase) add_scaled_mask(srow, maskBase + i * p.maskStrideQ + kb, visible);
        for (int64_t j = visible; j < nkPad; ++j) srow[j] = kNegInf;
        const float oldMax = s.rowMax[i - i0];
        const float blockMax = row_max(srow, nkPad);
        const float newMax = blockMax > oldMax ? blockMax : oldMax;
        // A row that has seen only -inf so far keeps P = 0 instead of NaN.
        const float ref = newMax == kNegInf ? 0.0f : newMax;
        const float rowSum = exp2_rowsum(srow, nkPad, ref);
        const float alpha = exp2_scalar(oldMax - ref);
        s.alpha[r] = alpha;
        s.rowSum[i - i0] = s.rowSum[i - i0] * alpha + rowSum;
        s.rowMax[i - i0] = newMax;
      }
      pv_panel_rows(mr, s.scores, ldKt, vBlock, p.vStrideL, nk, s.acc + r0 * dvPad, dvPad, p.Dv, s.alpha);
    }
  }

  // out = acc / rowSum; a row that saw no key (rowSum == 0) is written as zeros.
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = s.rowSum[r] > 0.0f ? 1.0f / s.rowSum[r] : 0.0f;
    const vec iv = simd::set1(inv);
    const float* arow = s.acc + r * dvPad;
    float* orow = oBase + (i0 + r) * p.oStrideL;
    int64_t c = 0;
    for (; c + kLanes <= p.Dv; c += kLanes) simd::storeu(orow + c, simd::mul(simd::load(arow + c), iv));
    if (c < p.Dv) simd::store_partial(orow + c, simd::mul(simd::load(arow + c), iv), int(p.Dv - c));
  }
}

}  // namespace

extern const fa::IsaKernel kKernel;
const fa::IsaKernel kKernel = {simd::kName, simd::W, kRows, &scratch_floats, &run_item};
