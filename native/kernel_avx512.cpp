// The fused kernel compiled for avx512. binding.gyp gives this file its own
// target flags; everything it defines lives in fa::isa_avx512.
#include <math.h>
#include "attention.h"
#include "criss_cross.h"
#include "gemm.h"
#include "isa_kernels.h"
#include "simd_avx512.h"

#define SIMD_MAX_ROWS 6
namespace fa {
namespace isa_avx512 {
#include "flash_kernel.inl"
#include "criss_cross.inl"
#include "gemm_kernel.inl"
#include "isa_kernel.inl"
}  // namespace isa_avx512
}  // namespace fa
