// The fused kernel compiled for scalar. binding.gyp gives this file its own
// target flags; everything it defines lives in fa::isa_scalar.
#include <math.h>
#include "attention.h"
#include "criss_cross.h"
#include "gemm.h"
#include "isa_kernels.h"
#include "simd_scalar.h"

#define SIMD_MAX_ROWS 4
namespace fa {
namespace isa_scalar {
#include "flash_kernel.inl"
#include "criss_cross.inl"
#include "gemm_kernel.inl"
#include "isa_kernel.inl"
}  // namespace isa_scalar
}  // namespace fa
