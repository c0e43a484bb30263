// SIMD vocabulary for WebAssembly SIMD128 (4 fp32 lanes in a v128). Same names
// and semantics as simd_avx512.h / simd_neon.h. Only included by kernel_wasm.cpp,
// which scripts/build-wasm.js compiles twice for --target=wasm32-wasi:
//   -msimd128                  plain SIMD128 (every engine with SIMD): no fused
//                              multiply-add, so fma() is a multiply then an add
//                              (two roundings), which the 1e-5 accuracy grids absorb;
//   -msimd128 -mrelaxed-simd   fma() is relaxed_madd: one FMA instruction where
//                              the CPU has one (one rounding, measured ~30 % faster
//                              at self-512), a multiply and an add elsewhere.
// lib/backend.ts loads the relaxed build only where the engine validates it.
#pragma once
#include <wasm_simd128.h>
#include <cstdint>

namespace simd {

using vec = v128_t;
constexpr int W = 4;
// Engines give wasm code 16 vector registers on x86-64 (V8 keeps one as
// scratch): 4 x 2 accumulators + 2 K vectors + a broadcast + the product of an
// unfused fma fit without spills. Measured in V8 (Node 20, Zen4) at self-512:
// 4 x 2 25 GFLOP/s; 3 x 4 22; 4 x 4 21; 4 x 2 with 4 output vectors 18; 5 or 6 x 2 16-17.
constexpr int kRows = 4;
constexpr int kKeyVecs = 2;     // 8 keys per Q·Kᵀ strip (divides the 64-key block granule)
constexpr int kOutVecs = 2;
#if defined(__wasm_relaxed_simd__)
constexpr const char* kName = "relaxed-simd";
#else
constexpr const char* kName = "simd128";
#endif

static inline vec zero() { return wasm_f32x4_splat(0.0f); }
static inline vec set1(float x) { return wasm_f32x4_splat(x); }
static inline vec load(const float* p) { return wasm_v128_load(p); }  // wasm has no aligned-only load
static inline vec loadu(const float* p) { return wasm_v128_load(p); }
static inline void store(float* p, vec v) { wasm_v128_store(p, v); }
static inline void storeu(float* p, vec v) { wasm_v128_store(p, v); }
// Loads n < W floats, zero in the other lanes; never touches memory past p[n-1].
static inline vec load_partial(const float* p, int n) {
  switch (n) {
    case 1: return wasm_v128_load32_zero(p);
    case 2: return wasm_v128_load64_zero(p);
    case 3: return wasm_v128_load32_lane(p + 2, wasm_v128_load64_zero(p), 2);
    default: return zero();
  }
}
static inline void store_partial(float* p, vec v, int n) {
  switch (n) {
    case 1: wasm_v128_store32_lane(p, v, 0); break;
    case 2: wasm_v128_store64_lane(p, v, 0); break;
    case 3: wasm_v128_store64_lane(p, v, 0); wasm_v128_store32_lane(p + 2, v, 2); break;
    default: break;
  }
}
// W bfloat16 values (bit patterns) widened exactly to fp32: bits << 16.
static inline vec load_bf16(const uint16_t* p) { return wasm_i32x4_shl(wasm_u32x4_load16x4(p), 16); }
// n < W bfloat16 values, zero in the other lanes; never touches memory past p[n-1].
static inline vec load_partial_bf16(const uint16_t* p, int n) {
  v128_t h = wasm_i16x8_splat(0);
  switch (n) {
    case 3: h = wasm_v128_load16_lane(p + 2, h, 2); [[fallthrough]];
    case 2: h = wasm_v128_load16_lane(p + 1, h, 1); [[fallthrough]];
    case 1: h = wasm_v128_load16_lane(p, h, 0); break;
    default: break;
  }
  return wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16);
}
// In-place transpose of a 4 x 4 tile held as 4 row vectors (8 shuffles).
#define SIMD_HAS_TRANSPOSE 1
static inline void transpose(vec* r) {
  const vec t0 = wasm_i32x4_shuffle(r[0], r[1], 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r[0], r[1], 2, 6, 3, 7);
  const vec t2 = wasm_i32x4_shuffle(r[2], r[3], 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r[2], r[3], 2, 6, 3, 7);
  r[0] = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
  r[1] = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
  r[2] = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
  r[3] = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}
// 2W bfloat16 values split by parity, each half widened exactly: even = p[0],
// p[2], ..., odd = p[1], p[3], ... (a shift and a mask, no shuffles).
static inline void load_bf16_pairs(const uint16_t* p, vec& even, vec& odd) {
  const v128_t x = wasm_v128_load(p);
  even = wasm_i32x4_shl(x, 16);
  odd = wasm_v128_and(x, wasm_i32x4_splat(int32_t(0xffff0000u)));
}
static inline void prefetch_l2(const void*) {}  // wasm has no prefetch
static inline vec add(vec a, vec b) { return wasm_f32x4_add(a, b); }
static inline vec sub(vec a, vec b) { return wasm_f32x4_sub(a, b); }
static inline vec mul(vec a, vec b) { return wasm_f32x4_mul(a, b); }
#if defined(__wasm_relaxed_simd__)
static inline vec fma(vec a, vec b, vec c) { return wasm_f32x4_relaxed_madd(a, b, c); }  // a*b + c, fused where the CPU can
#else
static inline vec fma(vec a, vec b, vec c) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), c); }  // a*b + c, two roundings
#endif
// a > b ? a : b per lane, as x86 maxps: when either is NaN the result is b.
// pmax(x, y) is x < y ? y : x (one maxps in engines on x86).
static inline vec max(vec a, vec b) { return wasm_f32x4_pmax(b, a); }
static inline float reduce_sum(vec v) {
  const vec s = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  return wasm_f32x4_extract_lane(wasm_f32x4_add(s, wasm_i32x4_shuffle(s, s, 1, 0, 3, 2)), 0);
}
static inline float reduce_max(vec v) {
  const vec s = max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  return wasm_f32x4_extract_lane(max(s, wasm_i32x4_shuffle(s, s, 1, 0, 3, 2)), 0);
}
// Lane t = the horizontal sum of a[t] for 4 vectors (4 shuffles, 3 adds).
#define SIMD_HAS_TRANSPOSE_SUM 1
static inline vec transpose_sum(const vec* a) {
  const vec s01 = wasm_f32x4_add(wasm_i32x4_shuffle(a[0], a[1], 0, 4, 1, 5), wasm_i32x4_shuffle(a[0], a[1], 2, 6, 3, 7));
  const vec s23 = wasm_f32x4_add(wasm_i32x4_shuffle(a[2], a[3], 0, 4, 1, 5), wasm_i32x4_shuffle(a[2], a[3], 2, 6, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 1, 4, 5), wasm_i32x4_shuffle(s01, s23, 2, 3, 6, 7));
}
// 2^x for x <= 0: x = n + f, f in [-0.5, 0.5], 2^f by the degree-5 polynomial
// of simd_avx512.h, 2^n built in the exponent field. Below -126 (and for -inf)
// the result is exactly 0: no denormals in P. NaN stays NaN.
static inline vec exp2_nonpos(vec x) {
  x = max(set1(-127.0f), x);  // -inf -> -127; NaN stays NaN (max returns its 2nd operand)
  const vec n = wasm_f32x4_nearest(x);  // ties to even, like _MM_FROUND_TO_NEAREST_INT
  const vec f = wasm_f32x4_sub(x, n);
  vec p = set1(1.326472731307149e-03f);
  p = fma(p, f, set1(9.671512991189957e-03f));
  p = fma(p, f, set1(5.550733581185341e-02f));
  p = fma(p, f, set1(2.4022242426872253e-01f));
  p = fma(p, f, set1(6.931470036506653e-01f));
  p = fma(p, f, set1(1.0f));
  // n in [-127, 0]: biased exponent n + 127 in [0, 127]; 0 gives +0.0. (NaN converts to 0: p keeps the NaN.)
  const v128_t bits = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  const vec result = wasm_f32x4_mul(p, bits);
  // x in [-126.5, -126) rounds to n = -126 and would give a denormal: clear every x < -126 (false for NaN).
  return wasm_v128_andnot(result, wasm_f32x4_lt(x, set1(-126.0f)));
}

}  // namespace simd
