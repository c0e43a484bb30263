// Criss-cross attention (CCNet), written once against the SIMD vocabulary like
// flash_kernel.inl and included right after it by each kernel_<isa>.cpp (same
// namespace, same target flags). See criss_cross.h for the definition.
//
// Work item = (b, block of R = kCrissCrossRows image rows i). The W pixels of a
// row sit side by side, one per SIMD lane, so every load runs along x
// (contiguous in channels-first). For each row i of the block:
//   qs[c][x]        = q[b,c,i,x] * scale * log2(e)
//   scores[y][x]    = qs[:,x]·k[b,:,y,x]        column keys y = 0..H-1 (centre included)
//   scores[H+x'][x] = qs[:,x]·k[b,:,i,x']       row keys x' = 0..W-1, -inf at x' = x (counted once above)
//   P = 2^(scores - max), l = Σ P               one joint softmax over all H + W rows
//   out[b,e,i,x]    = (Σ_y P[y][x] v[b,e,y,x] + Σ_x' P[H+x'][x] v[b,e,i,x']) / l[x]
// The R rows share each load of k[b,:,y,x] and v[b,e,y,x] in the column parts.
// A row's score panel is (H + W) x W floats: the call costs
// O(B·H·W·(H + W)·(Cqk + Cv)) time and never holds an (H·W)² matrix.
// A last block with fewer than R rows repeats its last row and stores it once.
// Requires x contiguous (every strideX == 1): criss_cross_forward repacks other layouts.

namespace {

constexpr int kCcRows = int(fa::kCrissCrossRows);

// Pixels [x, x + lanes) of a contiguous row of n pixels, zero past n; never reads row[n] or beyond.
inline vec load_pixels(const float* row, int64_t x, int64_t n) {
  return x + kLanes <= n ? simd::loadu(row + x) : simd::load_partial(row + x, int(n - x));
}

void criss_cross_item(const fa::CrissCrossParams& p, int64_t item, float* scratch) {
  const int64_t blocks = (p.H + kCcRows - 1) / kCcRows;
  const int64_t b = item / blocks, firstRow = (item % blocks) * kCcRows;
  const int64_t H = p.H, W = p.W, Cqk = p.Cqk, keys = H + W;
  const int64_t wp = fa::criss_cross_row_padded(p);  // row stride of every panel below
  const int64_t wv = round_up(W, kLanes);            // pixels the vector loops cover
  float* qs = scratch;                         // [R][Cqk][wp]
  float* scores = qs + kCcRows * Cqk * wp;     // [R][H + W][wp]
  float* rowInv = scores + kCcRows * keys * wp;  // [R][wp]  1 / l
  float* kRowT = rowInv + kCcRows * wp;        // [W][Cqk]  k row i transposed
  int64_t rows[kCcRows];                       // image row of each slot (the last one repeated)
  for (int r = 0; r < kCcRows; ++r) rows[r] = min_i(firstRow + r, H - 1);

  // qs = q rows pre-scaled by scale*log2(e), zero-padded to wv pixels.
  const float qScale = p.scale * kLog2e;
  for (int r = 0; r < kCcRows; ++r) {
    const float* qRow = p.q + b * p.qStrideB + rows[r] * p.qStrideY;
    for (int64_t c = 0; c < Cqk; ++c) {
      float* dst = qs + (r * Cqk + c) * wp;
      const float* src = qRow + c * p.qStrideC;
      for (int64_t x = 0; x < W; ++x) dst[x] = src[x] * qScale;
      for (int64_t x = W; x < wv; ++x) dst[x] = 0.0f;
    }
  }

  // Column keys: scores[r][y][x] = qs[r][:,x]·k[b,:,y,x], one k load for the R rows.
  const float* kImage = p.k + b * p.kStrideB;
  for (int64_t y = 0; y < H; ++y) {
    const float* kr = kImage + y * p.kStrideY;
    for (int64_t x = 0; x < wv; x += kLanes) {
      vec a[kCcRows];
      for (int r = 0; r < kCcRows; ++r) a[r] = simd::zero();
      for (int64_t c = 0; c < Cqk; ++c) {
        const vec kv = load_pixels(kr + c * p.kStrideC, x, W);
        for (int r = 0; r < kCcRows; ++r) a[r] = simd::fma(simd::load(qs + (r * Cqk + c) * wp + x), kv, a[r]);
      }
      for (int r = 0; r < kCcRows; ++r) simd::store(scores + (r * keys + y) * wp + x, a[r]);
    }
  }

  for (int r = 0; r < kCcRows; ++r) {
    // Row keys: scores[r][H+x'][x] = qs[r][:,x]·k[b,:,i,x'], from k row i transposed to [x'][c].
    const float* kI = kImage + rows[r] * p.kStrideY;
    const float* q = qs + r * Cqk * wp;
    float* s = scores + r * keys * wp;
    for (int64_t x2 = 0; x2 < W; ++x2)
      for (int64_t c = 0; c < Cqk; ++c) kRowT[x2 * Cqk + c] = kI[c * p.kStrideC + x2];
    for (int64_t x2 = 0; x2 < W; ++x2) {
      float* dst = s + (H + x2) * wp;
      const float* kc = kRowT + x2 * Cqk;
      for (int64_t x = 0; x < wv; x += kLanes) {
        vec a0 = simd::zero(), a1 = simd::zero();
        int64_t c = 0;
        for (; c + 2 <= Cqk; c += 2) {
          a0 = simd::fma(simd::set1(kc[c]), simd::load(q + c * wp + x), a0);
          a1 = simd::fma(simd::set1(kc[c + 1]), simd::load(q + (c + 1) * wp + x), a1);
        }
        for (; c < Cqk; ++c) a0 = simd::fma(simd::set1(kc[c]), simd::load(q + c * wp + x), a0);
        simd::store(dst + x, simd::add(a0, a1));
      }
      dst[x2] = kNegInf;  // the centre is already a column key
    }

    // Joint softmax per pixel over the H + W score rows: P = 2^(s - max), rowInv = 1 / Σ P.
    float* inv = rowInv + r * wp;
    for (int64_t x = 0; x < wv; x += kLanes) {
      vec m = simd::set1(kNegInf);
      for (int64_t k = 0; k < keys; ++k) m = simd::max(m, simd::load(s + k * wp + x));
      vec l = simd::zero();
      for (int64_t k = 0; k < keys; ++k) {
        const vec e = simd::exp2_nonpos(simd::sub(simd::load(s + k * wp + x), m));
        simd::store(s + k * wp + x, e);
        l = simd::add(l, e);
      }
      simd::store(inv + x, l);
    }
    for (int64_t x = 0; x < wv; ++x) inv[x] = inv[x] > 0.0f ? 1.0f / inv[x] : 0.0f;
  }

  // out[b,e,i,x] = (Σ_y P[y][x] v[b,e,y,x] + Σ_x' P[H+x'][x] v[b,e,i,x']) / l[x].
  const float* vImage = p.v + b * p.vStrideB;
  const int stored = int(min_i(kCcRows, H - firstRow));  // rows of this block that exist
  for (int64_t e = 0; e < p.Cv; ++e) {
    const float* vChannel = vImage + e * p.vStrideC;
    for (int64_t x = 0; x < wv; x += kLanes) {
      vec a[kCcRows];
      for (int r = 0; r < kCcRows; ++r) a[r] = simd::zero();
      for (int64_t y = 0; y < H; ++y) {
        const vec vv = load_pixels(vChannel + y * p.vStrideY, x, W);
        for (int r = 0; r < kCcRows; ++r) a[r] = simd::fma(simd::load(scores + (r * keys + y) * wp + x), vv, a[r]);
      }
      for (int r = 0; r < stored; ++r) {
        const float* vI = vChannel + rows[r] * p.vStrideY;
        const float* pRow = scores + (r * keys + H) * wp + x;
        vec a1 = simd::zero();
        int64_t x2 = 0;
        for (; x2 + 2 <= W; x2 += 2) {
          a[r] = simd::fma(simd::set1(vI[x2]), simd::load(pRow + x2 * wp), a[r]);
          a1 = simd::fma(simd::set1(vI[x2 + 1]), simd::load(pRow + (x2 + 1) * wp), a1);
        }
        for (; x2 < W; ++x2) a[r] = simd::fma(simd::set1(vI[x2]), simd::load(pRow + x2 * wp), a[r]);
        const vec result = simd::mul(simd::add(a[r], a1), simd::load(rowInv + r * wp + x));
        float* o = p.out + b * p.oStrideB + rows[r] * p.oStrideY + e * p.oStrideC + x;
        if (x + kLanes <= W) simd::storeu(o, result);
        else simd::store_partial(o, result, int(W - x));
      }
    }
  }
}

}  // namespace
