// The fused kernel compiled for WebAssembly SIMD128. scripts/build-wasm.js
// compiles this file (with wasm_entry.cpp and attention_plan.cpp) into
// dist/fused_attention.wasm; the native build never sees it. Everything it
// defines lives in fa::isa_wasm, like kernel_<isa>.cpp.
#include <math.h>
#include <cstring>
#include <limits>
#include "attention.h"
#include "criss_cross.h"
#include "gemm.h"
#include "isa_kernels.h"
#include "simd_wasm.h"

#define SIMD_MAX_ROWS 4
namespace fa {
namespace isa_wasm {
#include "flash_kernel.inl"
#include "criss_cross.inl"
#include "gemm_kernel.inl"
#include "isa_kernel.inl"
}  // namespace isa_wasm
}  // namespace fa
