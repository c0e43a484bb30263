// What the CPU (and the OS, for the wide register state) can run, read once with
// CPUID/XGETBV. Our own probe rather than __builtin_cpu_supports: that needs
// libgcc's __cpu_model, which zig/clang's compiler-rt and MSVC do not provide.
#pragma once

namespace fa {

struct CpuFeatures {
  bool avx2 = false;        // AVX2 and FMA, with the OS saving YMM state
  bool avx512 = false;      // AVX-512 F/BW/VL/DQ, with the OS saving ZMM and opmask state
  bool avx512bf16 = false;  // avx512 plus AVX512_BF16
};

// Zeros on non-x86 targets (their kernels need no probe).
const CpuFeatures& cpu_features();

}  // namespace fa
