// SIMD vocabulary for AArch64 Advanced SIMD (NEON, 4 fp32 lanes). Same names
// and semantics as simd_avx512.h. NEON is part of the AArch64 baseline: no
// extra compiler flags and no run-time check. Only included by kernel_neon.cpp.
#pragma once
#include <arm_neon.h>
#include <cstdint>

#include "portable.h"

namespace simd {

using vec = float32x4_t;
constexpr int W = 4;
// Each broadcast q (or P) value stays in a register of its own (fmla by element),
// so a panel needs kRows*kKeyVecs + kKeyVecs + kRows of the 32 registers: 4 x 4
// takes 24 and GCC keeps the loop spill-free (6 rows spilled 3 accumulators).
// 16 accumulators also cover 4 FMA pipes x 4 cycles of latency.
constexpr int kRows = 4;
constexpr int kKeyVecs = 4;     // 16 keys per Q·Kᵀ strip (divides the 64-key block granule)
constexpr int kOutVecs = 4;
constexpr const char* kName = "neon";

static inline vec zero() { return vdupq_n_f32(0.0f); }
static inline vec set1(float x) { return vdupq_n_f32(x); }
static inline vec load(const float* p) { return vld1q_f32(p); }  // NEON has no aligned-only load
static inline vec loadu(const float* p) { return vld1q_f32(p); }
static inline void store(float* p, vec v) { vst1q_f32(p, v); }
static inline void storeu(float* p, vec v) { vst1q_f32(p, v); }
// Loads n < W floats, zero in the other lanes; never touches memory past p[n-1].
static inline vec load_partial(const float* p, int n) {
  switch (n) {
    case 1: return vld1q_lane_f32(p, zero(), 0);
    case 2: return vcombine_f32(vld1_f32(p), vdup_n_f32(0.0f));
    case 3: return vld1q_lane_f32(p + 2, vcombine_f32(vld1_f32(p), vdup_n_f32(0.0f)), 2);
    default: return zero();
  }
}
static inline void store_partial(float* p, vec v, int n) {
  switch (n) {
    case 1: vst1q_lane_f32(p, v, 0); break;
    case 2: vst1_f32(p, vget_low_f32(v)); break;
    case 3: vst1_f32(p, vget_low_f32(v)); vst1q_lane_f32(p + 2, v, 2); break;
    default: break;
  }
}
// bf16 -> fp32 is exact: the 16 bits become the high half of the float.
static inline vec load_bf16(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
// 2W bfloat16 values split by parity, each half widened exactly: even = p[0],
// p[2], ..., odd = p[1], p[3], ... (a shift and a mask per half, no zip).
static inline void load_bf16_pairs(const uint16_t* p, vec& even, vec& odd) {
  const uint32x4_t x = vreinterpretq_u32_u16(vld1q_u16(p));
  even = vreinterpretq_f32_u32(vshlq_n_u32(x, 16));
  odd = vreinterpretq_f32_u32(vandq_u32(x, vdupq_n_u32(0xffff0000u)));
}
// n < W bf16 values, zero in the other lanes; never touches memory past p[n-1].
static inline vec load_partial_bf16(const uint16_t* p, int n) {
  uint16x4_t h = vdup_n_u16(0);
  switch (n) {
    case 3: h = vld1_lane_u16(p + 2, h, 2); [[fallthrough]];
    case 2: h = vld1_lane_u16(p + 1, h, 1); [[fallthrough]];
    case 1: h = vld1_lane_u16(p, h, 0); break;
    default: break;
  }
  return vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(h), 16));
}
static inline void prefetch_l2(const void* p) { fa::prefetch_read_l2(p); }  // prfm pldl2keep
static inline vec add(vec a, vec b) { return vaddq_f32(a, b); }
static inline vec sub(vec a, vec b) { return vsubq_f32(a, b); }
static inline vec mul(vec a, vec b) { return vmulq_f32(a, b); }
static inline vec fma(vec a, vec b, vec c) { return vfmaq_f32(c, a, b); }  // a*b + c, one rounding
// a > b ? a : b per lane, as x86 maxps and the scalar path: when either is NaN
// the result is b (vmaxq_f32 would return NaN instead, vmaxnmq_f32 the number).
static inline vec max(vec a, vec b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
static inline float reduce_sum(vec v) { return vaddvq_f32(v); }
static inline float reduce_max(vec v) {
  const vec half = max(v, vextq_f32(v, v, 2));  // lanes {0,2} and {1,3}, like simd_avx2.h's halves
  const float a = vgetq_lane_f32(half, 0), b = vgetq_lane_f32(half, 1);
  return a > b ? a : b;
}

// 2^x for x <= 0: x = n + f, f in [-0.5, 0.5], 2^f by a degree-7 polynomial
// (the x86 files use degree 5), 2^n built in the exponent field. Below -126 (and for -inf)
// the result is exactly 0: no denormals in P. NaN stays NaN.
static inline vec exp2_nonpos(vec x) {
  x = max(set1(-127.0f), x);  // -inf -> -127; NaN stays NaN (max returns its 2nd operand)
  const vec n = vrndnq_f32(x);  // nearest, ties to even, like _MM_FROUND_TO_NEAREST_INT
  const vec f = vsubq_f32(x, n);
  vec p = set1(1.5252733804059841e-05f);
  p = vfmaq_f32(set1(1.5403530393381609e-04f), p, f);
  p = vfmaq_f32(set1(1.3333558146428443e-03f), p, f);
  p = vfmaq_f32(set1(9.6181291076284772e-03f), p, f);
  p = vfmaq_f32(set1(5.5504108664821580e-02f), p, f);
  p = vfmaq_f32(set1(2.4022650695910071e-01f), p, f);
  p = vfmaq_f32(set1(6.9314718055994531e-01f), p, f);
  p = vfmaq_f32(set1(1.0f), p, f);
  // n in [-127, 0]: biased exponent n + 127 in [0, 127]; 0 gives +0.0. (NaN converts to 0: p keeps the NaN.)
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const vec result = vmulq_f32(p, vreinterpretq_f32_s32(bits));
  // x in [-126.5, -126) rounds to n = -126 and would give a denormal: clear every x < -126 (false for NaN).
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(result), vcltq_f32(x, set1(-126.0f))));
}

}  // namespace simd
