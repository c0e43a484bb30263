// Scalar "SIMD" vocabulary (1 lane): the portable reference path, and the one
// CPUs without AVX2+FMA or NEON run (and FUSED_ATTENTION_ISA=scalar). Same names as simd_avx512.h.
#pragma once
#include <math.h>
#include <cstdint>
#include <cstring>

#include "portable.h"

namespace simd {

using vec = float;
constexpr int W = 1;
constexpr int kRows = 4;
constexpr int kKeyVecs = 8;     // 8 keys per strip, unrolled for the compiler
constexpr int kOutVecs = 8;
constexpr const char* kName = "scalar";

static inline vec zero() { return 0.0f; }
static inline vec set1(float x) { return x; }
static inline vec load(const float* p) { return *p; }
static inline vec loadu(const float* p) { return *p; }
static inline void store(float* p, vec v) { *p = v; }
static inline void storeu(float* p, vec v) { *p = v; }
static inline vec load_partial(const float* p, int n) { return n > 0 ? *p : 0.0f; }
static inline void store_partial(float* p, vec v, int n) { if (n > 0) *p = v; }
// A bfloat16 value (bit pattern) widened exactly to fp32: bits << 16.
static inline vec load_bf16(const uint16_t* p) {
  const uint32_t bits = uint32_t(*p) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
static inline vec load_partial_bf16(const uint16_t* p, int n) { return n > 0 ? load_bf16(p) : 0.0f; }
// 2W = 2 bfloat16 values split by parity (see simd_avx512.h).
static inline void load_bf16_pairs(const uint16_t* p, vec& even, vec& odd) {
  even = load_bf16(p);
  odd = load_bf16(p + 1);
}
static inline void prefetch_l2(const void* p) { fa::prefetch_read_l2(p); }
static inline vec add(vec a, vec b) { return a + b; }
static inline vec sub(vec a, vec b) { return a - b; }
static inline vec mul(vec a, vec b) { return a * b; }
static inline vec fma(vec a, vec b, vec c) { return a * b + c; }
static inline vec max(vec a, vec b) { return a > b ? a : b; }
static inline float reduce_sum(vec v) { return v; }
static inline float reduce_max(vec v) { return v; }
#define SIMD_HAS_TRANSPOSE_SUM 1
static inline vec transpose_sum(const vec* a) { return a[0]; }  // lane t = sum of a[t]: one lane
// 2^x for x <= 0, exactly 0 below -126 (and for -inf), like the vector paths.
static inline vec exp2_nonpos(vec x) { return x < -126.0f ? 0.0f : exp2f(x); }

}  // namespace simd
