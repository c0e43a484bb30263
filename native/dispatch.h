// Run-time choice of the kernel's instruction set.
#pragma once
#include <string>
#include <vector>
#include "isa_kernels.h"

namespace fa {

// ISAs this CPU (and this build) can run, best first: "avx512", "avx2", "scalar"
// on x86-64; "neon", "scalar" on AArch64.
const std::vector<std::string>& supported_isas();

// The kernel in use: the best supported one, or FUSED_ATTENTION_ISA when set to
// a supported lower one (read once, at first use).
const IsaKernel& current_kernel();

// Forces an ISA; returns false (and changes nothing) when it is not supported.
bool set_isa(const std::string& name);

}  // namespace fa
