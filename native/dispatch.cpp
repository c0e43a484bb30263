// CPU detection and the ISA table. Compiled for baseline x86-64 (or any other
// architecture): only kernel_avx2.cpp / kernel_avx512.cpp use wider instructions,
// and they are called only after the CPU said it has them. On AArch64, NEON is
// baseline: kernel_neon.cpp always runs there.
#include "dispatch.h"

#include "cpu_features.h"

#include <atomic>
#include <cstdlib>

namespace fa {
namespace isa_scalar { extern const IsaKernel kKernel; }
#if defined(FA_X86_KERNELS)
namespace isa_avx2 { extern const IsaKernel kKernel; }
namespace isa_avx512 { extern const IsaKernel kKernel; }
#endif
#if defined(FA_ARM_KERNELS)
namespace isa_neon { extern const IsaKernel kKernel; }
#endif

namespace {

struct IsaEntry {
  const char* name;
  const IsaKernel* kernel;
};

std::vector<IsaEntry> detect() {
  std::vector<IsaEntry> found;
#if defined(FA_X86_KERNELS)
  const CpuFeatures& cpu = cpu_features();  // CPUID + XCR0: the CPU has it and the OS saves its registers
  if (cpu.avx512) found.push_back({"avx512", &isa_avx512::kKernel});
  if (cpu.avx2) found.push_back({"avx2", &isa_avx2::kKernel});
#endif
#if defined(FA_ARM_KERNELS)
  found.push_back({"neon", &isa_neon::kKernel});  // Advanced SIMD is mandatory in AArch64
#endif
  found.push_back({"scalar", &isa_scalar::kKernel});
  return found;
}

const std::vector<IsaEntry>& table() {
  static const std::vector<IsaEntry> entries = detect();
  return entries;
}

const IsaKernel* initial_kernel() {
  const char* forced = std::getenv("FUSED_ATTENTION_ISA");
  if (forced && *forced) {
    for (const IsaEntry& e : table())
      if (std::string(forced) == e.name) return e.kernel;
    // An unsupported or unknown name falls back to the best ISA (the kernel
    // must still run); backend().isa shows which one is in use.
  }
  return table().front().kernel;
}

std::atomic<const IsaKernel*>& selected() {
  static std::atomic<const IsaKernel*> kernel{initial_kernel()};
  return kernel;
}

}  // namespace

const std::vector<std::string>& supported_isas() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const IsaEntry& e : table()) n.push_back(e.name);
    return n;
  }();
  return names;
}

const IsaKernel& current_kernel() { return *selected().load(std::memory_order_acquire); }

bool set_isa(const std::string& name) {
  for (const IsaEntry& e : table()) {
    if (name == e.name) {
      selected().store(e.kernel, std::memory_order_release);
      return true;
    }
  }
  return false;
}

}  // namespace fa
