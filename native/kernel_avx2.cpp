// The fused kernel compiled for avx2. binding.gyp gives this file its own
// target flags; everything it defines lives in fa::isa_avx2.
#include <math.h>
#include "attention.h"
#include "criss_cross.h"
#include "gemm.h"
#include "isa_kernels.h"
#include "simd_avx2.h"

#define SIMD_MAX_ROWS 6
namespace fa {
namespace isa_avx2 {
#include "flash_kernel.inl"
#include "criss_cross.inl"
#include "gemm_kernel.inl"
#include "isa_kernel.inl"
}  // namespace isa_avx2
}  // namespace fa
