// SIMD vocabulary for AVX2 + FMA (8 fp32 lanes). Same names as simd_avx512.h.
// Only included by kernel_avx2.cpp, which is compiled with -mavx2 -mfma.
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace simd {

using vec = __m256;
constexpr int W = 8;
constexpr int kRows = 6;        // 6 x 2 = 12 ymm accumulators of 16
constexpr int kKeyVecs = 2;     // 16 keys per Q·Kᵀ strip
constexpr int kOutVecs = 2;
constexpr const char* kName = "avx2";

static inline vec zero() { return _mm256_setzero_ps(); }
static inline vec set1(float x) { return _mm256_set1_ps(x); }
static inline vec load(const float* p) { return _mm256_load_ps(p); }
static inline vec loadu(const float* p) { return _mm256_loadu_ps(p); }
static inline void store(float* p, vec v) { _mm256_store_ps(p, v); }
static inline void storeu(float* p, vec v) { _mm256_storeu_ps(p, v); }
static inline __m256i tail_mask(int n) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane);
}
static inline vec load_partial(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
static inline void store_partial(float* p, vec v, int n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
// W bfloat16 values (bit patterns) widened exactly to fp32: bits << 16.
static inline vec load_bf16(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
// n < W bfloat16 values, zero in the other lanes (AVX2 has no 16-bit masked load:
// the tail goes through a small buffer); never touches memory past p[n-1].
static inline vec load_partial_bf16(const uint16_t* p, int n) {
  alignas(16) uint16_t tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) tail[i] = p[i];
  return load_bf16(tail);
}
// In-place transpose of an 8 x 8 tile held as 8 row vectors (24 shuffles).
#define SIMD_HAS_TRANSPOSE 1
static inline void transpose(vec* r) {
  vec t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x20);
    r[4 + m] = _mm256_permute2f128_ps(u[m], u[4 + m], 0x31);
  }
}

// 2W bfloat16 values split by parity, each half widened exactly (see simd_avx512.h).
static inline void load_bf16_pairs(const uint16_t* p, vec& even, vec& odd) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  even = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
  odd = _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(int(0xffff0000u))));
}
static inline void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }
static inline vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
static inline vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
static inline vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec max(vec a, vec b) { return _mm256_max_ps(a, b); }
static inline float reduce_sum(vec v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float reduce_max(vec v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane t = the horizontal sum of a[t] for 8 vectors (see simd_avx512.h).
#define SIMD_HAS_TRANSPOSE_SUM 1
static inline vec transpose_sum(const vec* a) {
  const vec t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const vec t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const vec u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);  // [a0..a3 low | a0..a3 high], same for a4..a7
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// 2^x for x <= 0, exactly 0 below -126 (see simd_avx512.h).
static inline vec exp2_nonpos(vec x) {
  x = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);  // NaN stays NaN
  const vec n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const vec f = _mm256_sub_ps(x, n);
  vec p = _mm256_set1_ps(1.326472731307149e-03f);  // degree 5, as simd_avx512.h
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.671512991189957e-03f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550733581185341e-02f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022242426872253e-01f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931470036506653e-01f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

}  // namespace simd
