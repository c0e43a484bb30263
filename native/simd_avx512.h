// SIMD vocabulary for AVX-512F (16 fp32 lanes). Same names as simd_avx2.h and
// simd_scalar.h so the kernel (flash_kernel.inl) is written once.
// Only included by kernel_avx512.cpp, which is compiled with AVX-512 flags.
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace simd {

using vec = __m512;
constexpr int W = 16;           // fp32 lanes per vector
constexpr int kRows = 6;        // query rows per micro-panel (6 x 4 = 24 zmm accumulators)
constexpr int kKeyVecs = 4;     // vectors of keys per Q·Kᵀ strip (64 keys)
constexpr int kOutVecs = 4;     // vectors of Dv per P·V chunk
constexpr const char* kName = "avx512";

static inline vec zero() { return _mm512_setzero_ps(); }
static inline vec set1(float x) { return _mm512_set1_ps(x); }
static inline vec load(const float* p) { return _mm512_load_ps(p); }     // 64-byte aligned
static inline vec loadu(const float* p) { return _mm512_loadu_ps(p); }
static inline void store(float* p, vec v) { _mm512_store_ps(p, v); }
static inline void storeu(float* p, vec v) { _mm512_storeu_ps(p, v); }
static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1u); }
// Loads n < W floats, zero in the other lanes; never touches memory past p[n-1].
static inline vec load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
static inline void store_partial(float* p, vec v, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
// W bfloat16 values (bit patterns) widened exactly to fp32: bits << 16.
static inline vec load_bf16(const uint16_t* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
// n < W bfloat16 values, zero in the other lanes; never touches memory past p[n-1].
static inline vec load_partial_bf16(const uint16_t* p, int n) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(tail_mask(n), p)), 16));
}
// In-place transpose of a 16 x 16 tile held as 16 row vectors (64 shuffles).
#define SIMD_HAS_TRANSPOSE 1
static inline void transpose(vec* r) {
  vec t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // t[2i], t[2i+1]: rows 2i, 2i+1 interleaved by 32-bit pairs (per 128-bit lane)
  for (int i = 0; i < 4; ++i) {
    const vec a = t[4 * i], b = t[4 * i + 1], c = t[4 * i + 2], d = t[4 * i + 3];
    r[4 * i] = _mm512_shuffle_ps(a, c, 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(a, c, 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(b, d, 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(b, d, 0xEE);
  }
  // r[4i + m]: column m (+4 per 128-bit lane) of rows 4i..4i+3, per 128-bit lane
  for (int m = 0; m < 4; ++m) {
    t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xDD);
    t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xDD);
  }
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xDD);
    r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);
    r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xDD);
  }
}

// 2W bfloat16 values split by parity, each half widened exactly: even = p[0],
// p[2], ..., odd = p[1], p[3], ... (a shift and a mask, no lane crossing).
static inline void load_bf16_pairs(const uint16_t* p, vec& even, vec& odd) {
  const __m512i x = _mm512_loadu_si512(p);
  even = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
  odd = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(int(0xffff0000u))));
}
static inline void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
static inline vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
static inline vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
static inline vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }  // a*b + c
static inline vec max(vec a, vec b) { return _mm512_max_ps(a, b); }
static inline float reduce_sum(vec v) { return _mm512_reduce_add_ps(v); }
static inline float reduce_max(vec v) { return _mm512_reduce_max_ps(v); }

// Lane t = the horizontal sum of a[t] for 16 vectors, in 45 shuffles and adds
// (16 reduce_sum calls take ~130). Halves are summed level by level: 256-bit,
// 128-bit, then pairs and single lanes; the inputs are taken in the order
// (4*(n%4) + n/4) that makes the result come out in lane order.
#define SIMD_HAS_TRANSPOSE_SUM 1
static inline vec transpose_sum(const vec* a) {
  auto at = [a](int n) { return a[4 * (n % 4) + n / 4]; };
  vec b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i)
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(at(2 * i), at(2 * i + 1), 0x44),
                         _mm512_shuffle_f32x4(at(2 * i), at(2 * i + 1), 0xEE));
  for (int i = 0; i < 4; ++i)
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xDD));
  for (int i = 0; i < 2; ++i)
    d[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0x44), _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], 0x88), _mm512_shuffle_ps(d[0], d[1], 0xDD));
}

// 2^x for x <= 0: x = n + f, f in [-0.5, 0.5], 2^f by a degree-5 polynomial
// with constant term exactly 1 (so 2^0 = 1 and a lone key's log-sum-exp is
// exact; relative error <= 1.9e-7 evaluated in fp32; degree 7 cost two more
// FMAs per 16 scores on the pipes the micro-kernels need), 2^n built in the
// exponent field. Below -126 (and for -inf) the result is exactly 0: no
// denormals in P.
static inline vec exp2_nonpos(vec x) {
  x = _mm512_max_ps(_mm512_set1_ps(-127.0f), x);  // -inf -> -127; NaN stays NaN (max returns its 2nd operand)
  const vec n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const vec f = _mm512_sub_ps(x, n);
  vec p = _mm512_set1_ps(1.326472731307149e-03f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.671512991189957e-03f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550733581185341e-02f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022242426872253e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470036506653e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  // n in [-127, 0]: biased exponent n + 127 in [0, 127]; 0 gives +0.0.
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const vec scale = _mm512_castsi512_ps(bits);
  return _mm512_mul_ps(p, scale);
}

}  // namespace simd
