// fp32 -> bfloat16 with vcvtneps2bf16 (AVX512_BF16). binding.gyp compiles this
// file alone with -mavx512bf16; bf16_convert.cpp calls it only when the CPU has
// the instruction. Same bits as bfloat16_of_bits (checked over all 2^32 inputs):
// the instruction rounds to nearest even and quiets NaNs the same way, but
// flushes denormal inputs to zero, so those lanes are redone by the integer rule.
#include <immintrin.h>
#include <cstddef>
#include <cstdint>

namespace fa {
namespace isa_avx512bf16 {
namespace {

// 16 conversions of the lanes in `live`; writes only those lanes of dst.
inline void convert16(const float* src, uint16_t* dst, __mmask16 live) {
  const __m512i bits = _mm512_maskz_loadu_epi32(live, src);
  __m256i out = (__m256i)_mm512_cvtneps_pbh(_mm512_castsi512_ps(bits));
  // Denormals (exponent 0, mantissa != 0): round the bit pattern as integers.
  const __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 tiny = _mm512_mask_cmplt_epi32_mask(
      _mm512_test_epi32_mask(magnitude, magnitude), magnitude, _mm512_set1_epi32(0x00800000));
  if (tiny) {
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    out = _mm256_mask_mov_epi16(out, tiny, _mm512_cvtepi32_epi16(rounded));
  }
  _mm256_mask_storeu_epi16(dst, live, out);
}

}  // namespace

void to_bfloat16(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) convert16(src + i, dst + i, 0xffff);
  if (i < n) convert16(src + i, dst + i, __mmask16((1u << (n - i)) - 1u));
}

}  // namespace isa_avx512bf16
}  // namespace fa
