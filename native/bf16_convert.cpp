// The portable fp32 -> bfloat16 path and the choice of the AVX512_BF16 one.
// Baseline code: the wide instructions live in bf16_convert_avx512bf16.cpp,
// called only after the CPU said it has them.
#include "bf16_convert.h"

#include <cstring>

#include "cpu_features.h"

namespace fa {
#if defined(FA_X86_KERNELS)
namespace isa_avx512bf16 {
void to_bfloat16(const float* src, uint16_t* dst, size_t n);
}
#endif

bool bf16_hardware_supported() {
#if defined(FA_X86_KERNELS)
  return cpu_features().avx512bf16;
#else
  return false;
#endif
}

void to_bfloat16(const float* src, uint16_t* dst, size_t n, bool hardware) {
#if defined(FA_X86_KERNELS)
  if (hardware && bf16_hardware_supported()) {
    isa_avx512bf16::to_bfloat16(src, dst, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, src + i, sizeof bits);
    dst[i] = bfloat16_of_bits(bits);
  }
}

}  // namespace fa
