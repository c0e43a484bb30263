// fp32 -> bfloat16 conversion (toBfloat16): round to nearest even on the bit
// pattern, the way vcvtneps2bf16 rounds, but keeping denormals (the instruction
// flushes them to zero). Inf stays Inf, NaN stays NaN with its quiet bit set.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fa {

// dst[i] = bfloat16(src[i]) for i < n. Uses AVX512_BF16 when `hardware` is set
// and the CPU has it, else the portable integer path; both give the same bits.
void to_bfloat16(const float* src, uint16_t* dst, size_t n, bool hardware);

// Whether this CPU (and build) has the AVX512_BF16 conversion.
bool bf16_hardware_supported();

// One value by the integer path: the definition both paths follow.
inline uint16_t bfloat16_of_bits(uint32_t x) {
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x0040u);  // NaN: keep it, make it quiet
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);  // ties to even; overflow carries into Inf
}

}  // namespace fa
