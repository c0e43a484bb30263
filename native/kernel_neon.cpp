// The fused kernel compiled for AArch64 NEON (baseline on every AArch64 CPU, so
// no extra flags). Built only when binding.gyp targets arm64; everything it
// defines lives in fa::isa_neon.
#include <math.h>
#include "attention.h"
#include "criss_cross.h"
#include "gemm.h"
#include "isa_kernels.h"
#include "simd_neon.h"

#define SIMD_MAX_ROWS 4  // simd::kRows: micro-panels never have more rows
namespace fa {
namespace isa_neon {
#include "flash_kernel.inl"
#include "criss_cross.inl"
#include "gemm_kernel.inl"
#include "isa_kernel.inl"
}  // namespace isa_neon
}  // namespace fa
