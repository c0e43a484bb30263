// CPUID/XGETBV probe (Intel SDM vol. 2A "CPUID", vol. 1 §13.3 "Enabling the XSAVE
// feature set"): an instruction set is usable only when the CPU reports it *and* the
// OS has enabled saving its registers in XCR0, which a hypervisor or OS may withhold.
#include "cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define FA_CPU_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace fa {
namespace {

#if defined(FA_CPU_X86)
struct Regs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf) {
  Regs r;
#if defined(_MSC_VER) && !defined(__clang__)
  int v[4];
  __cpuidex(v, int(leaf), int(subleaf));
  r.eax = unsigned(v[0]), r.ebx = unsigned(v[1]), r.ecx = unsigned(v[2]), r.edx = unsigned(v[3]);
#else
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
#endif
  return r;
}

// XCR0: which register states the OS saves on a context switch. Only valid when
// CPUID.1:ECX.OSXSAVE[bit 27] is set.
unsigned long long xcr0() {
#if defined(_MSC_VER) && !defined(__clang__)
  return _xgetbv(0);
#else
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}

constexpr bool bit(unsigned value, int n) { return (value >> n) & 1u; }

CpuFeatures probe() {
  CpuFeatures f;
  const unsigned maxLeaf = cpuid(0, 0).eax;
  if (maxLeaf < 1) return f;
  const Regs l1 = cpuid(1, 0);
  const bool osxsave = bit(l1.ecx, 27), avx = bit(l1.ecx, 28), fma = bit(l1.ecx, 12);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr = xcr0();
  const bool ymmState = (xcr & 0x6) == 0x6;    // SSE (bit 1) and AVX (bit 2) state
  const bool zmmState = (xcr & 0xE6) == 0xE6;  // plus opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7)
  if (!ymmState || maxLeaf < 7) return f;
  const Regs l7 = cpuid(7, 0);
  f.avx2 = bit(l7.ebx, 5) && fma;
  const bool avx512f = bit(l7.ebx, 16), avx512dq = bit(l7.ebx, 17);
  const bool avx512bw = bit(l7.ebx, 30), avx512vl = bit(l7.ebx, 31);
  f.avx512 = f.avx2 && zmmState && avx512f && avx512dq && avx512bw && avx512vl;
  // Leaf 7 sub-leaf 1 exists when leaf 7 sub-leaf 0 reports EAX >= 1; EAX bit 5 is AVX512_BF16.
  if (f.avx512 && l7.eax >= 1) f.avx512bf16 = bit(cpuid(7, 1).eax, 5);
  return f;
}
#else
CpuFeatures probe() { return CpuFeatures{}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = probe();
  return features;
}

}  // namespace fa
