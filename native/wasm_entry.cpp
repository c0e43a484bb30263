// The C ABI of dist/fused_attention.wasm (lib/wasm.ts is its only caller).
// One thread, no exceptions: attention runs the steps of attention_driver.h
// with the work items in order on the calling thread.
//
// A call: the host copies its inputs into blocks from fa_alloc, writes one
// double per field into fa_args() (the Arg order below; pointers are offsets
// into this module's memory, lengths count elements, an absent buffer has
// pointer 0), calls fa_attention(), copies the outputs out and frees the blocks.
// fa_attention_plan() reads the same fields (buffer pointers only say present
// or absent) and writes the plan into fa_plan().
// Return codes: 0 done; 1 an argument failed a guard (fa_error() says which:
// the host validated everything before, so this is a bug); 2 out of memory.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>

#include "attention.h"
#include "attention_driver.h"
#include "isa_kernels.h"
#include "portable.h"
#include "scratch.h"

namespace fa::isa_wasm {
extern const IsaKernel kKernel;
}

namespace {

// Field order of fa_args(); lib/wasm.ts lists the same names in the same order.
#define FA_ARGS(X)                                                                                      \
  X(B) X(H) X(Hkv) X(Lq) X(Lk) X(D) X(Dv) X(kvType)                                                     \
  X(q) X(qLength) X(qStrideB) X(qStrideH) X(qStrideL)                                                   \
  X(k) X(kLength) X(kStrideB) X(kStrideH) X(kStrideL)                                                   \
  X(v) X(vLength) X(vStrideB) X(vStrideH) X(vStrideL)                                                   \
  X(out) X(outLength) X(oStrideB) X(oStrideH) X(oStrideL)                                               \
  X(mask) X(maskLength) X(maskStrideB) X(maskStrideH) X(maskStrideQ) X(maskStrideK)                     \
  X(boolMask) X(boolMaskLength) X(boolMaskStrideB) X(boolMaskStrideH) X(boolMaskStrideQ) X(boolMaskStrideK) \
  X(keyPadding) X(keyPaddingLength) X(keyLengths) X(keyLengthsLength) X(rowOffsets) X(rowOffsetsLength) \
  X(alibiSlopes) X(alibiSlopesLength) X(lse) X(lseLength) X(weights) X(weightsLength)                   \
  X(scale) X(alignOffset) X(windowLeft) X(windowRight) X(softcap)

enum Arg : int {
#define FA_ENUM(name) a_##name,
  FA_ARGS(FA_ENUM)
#undef FA_ENUM
  kArgCount
};

const char* const kArgNames[kArgCount] = {
#define FA_NAME(name) #name,
    FA_ARGS(FA_NAME)
#undef FA_NAME
};

constexpr int64_t kMaxDim = int64_t(1) << 40;

double gArgs[kArgCount];
double gPlan[6];  // path (0 tiled, 1 decode-split-k), blockQ, blockK, threads, workItems, scratchBytes
char gError[160];

// Kept between calls, like the native runtime's thread-local buffers.
fa::ThreadScratch gItemScratch, gPackedK, gPartials;

// Stands in for lse / weights when a plan only needs to know they are wanted.
float gPlanOnlyOutput = 0.0f;

// Sets fa_error() to "fused-attention (wasm): <what> <name>" (no printf: it would double the module).
bool fail(const char* what, const char* name) {
  size_t n = 0;
  for (const char* part : {"fused-attention (wasm): ", what, " ", name})
    for (; *part && n + 1 < sizeof gError; ++part) gError[n++] = *part;
  gError[n] = '\0';
  return false;
}

// gArgs[a] as an integer in [lo, hi], or false.
bool get_int(Arg a, int64_t lo, int64_t hi, int64_t* out) {
  const double x = gArgs[a];
  if (!(x >= double(lo) && x <= double(hi)) || x != std::floor(x))
    return fail("expected an integer in range for", kArgNames[a]);
  *out = int64_t(x);
  return true;
}

// The buffer at gArgs[a] (length at a + 1), or null when absent. With
// withBuffers false (plans), a present buffer is a placeholder that is never read.
// `need` elements of `elementBytes` must fit in its length and in memory.
bool get_buffer(Arg a, int64_t need, size_t elementBytes, bool withBuffers, void** out) {
  *out = nullptr;
  if (gArgs[a] == 0) return true;
  if (!withBuffers) {
    *out = &gPlanOnlyOutput;
    return true;
  }
  int64_t ptr = 0, length = 0;
  if (!get_int(a, 1, int64_t(UINT32_MAX), &ptr) || !get_int(Arg(a + 1), 0, kMaxDim, &length)) return false;
  if (need > length) return fail("expected more elements in", kArgNames[a]);
  if (ptr % int64_t(elementBytes) != 0) return fail("expected an aligned pointer for", kArgNames[a]);
  if (ptr + length * int64_t(elementBytes) > int64_t(__builtin_wasm_memory_size(0)) * 65536)
    return fail("expected memory of this module for", kArgNames[a]);
  *out = reinterpret_cast<void*>(uintptr_t(ptr));
  return true;
}

// 1 + sum (dims_i - 1) * strides_i over four (dim, stride) pairs, overflow-checked.
bool extent(const int64_t (&dims)[4], const int64_t (&strides)[4], const char* name, int64_t* out) {
  int64_t last = 0, t = 0;
  for (int i = 0; i < 4; ++i)
    if (fa::mul_overflows(dims[i] - 1, strides[i], &t) || fa::add_overflows(last, t, &last))
      return fail("extent overflows for", name);
  *out = last + 1;
  return true;
}

// A [.., L, last] operand: its three strides, then its buffer checked against their extent.
bool strided(Arg a, int64_t B, int64_t H, int64_t L, int64_t last, bool hasStrideK, size_t elementBytes,
             bool withBuffers, int64_t* sB, int64_t* sH, int64_t* sL, int64_t* sK, void** out) {
  int64_t strideK = 1;
  if (!get_int(Arg(a + 2), 0, kMaxDim, sB) || !get_int(Arg(a + 3), 0, kMaxDim, sH) ||
      !get_int(Arg(a + 4), 0, kMaxDim, sL) || (hasStrideK && !get_int(Arg(a + 5), 0, 1, &strideK)))
    return false;
  if (sK) *sK = strideK;
  int64_t need = 0;
  const int64_t dims[4] = {B, H, L, last}, strides[4] = {*sB, *sH, *sL, strideK};
  return extent(dims, strides, kArgNames[a], &need) && get_buffer(a, need, elementBytes, withBuffers, out);
}

// fa_args() as AttentionParams, every guard of the native binding's parse_args
// that protects memory; false (gError set) when one fails.
bool parse_args(fa::AttentionParams& p, bool withBuffers) {
  int64_t kv = 0;
  if (!get_int(a_B, 1, kMaxDim, &p.B) || !get_int(a_H, 1, kMaxDim, &p.H) || !get_int(a_Hkv, 1, kMaxDim, &p.Hkv) ||
      !get_int(a_Lq, 1, kMaxDim, &p.Lq) || !get_int(a_Lk, 1, kMaxDim, &p.Lk) || !get_int(a_D, 1, kMaxDim, &p.D) ||
      !get_int(a_Dv, 1, kMaxDim, &p.Dv) || !get_int(a_kvType, 0, 1, &kv))
    return false;
  if (p.H % p.Hkv != 0) return fail("expected H to be a multiple of", "Hkv");
  p.kvType = kv == 1 ? fa::KvType::BF16 : fa::KvType::F32;
  const size_t kvBytes = kv == 1 ? 2 : 4;
  void* ptr = nullptr;
  if (!strided(a_q, p.B, p.H, p.Lq, p.D, false, 4, withBuffers, &p.qStrideB, &p.qStrideH, &p.qStrideL, nullptr, &ptr))
    return false;
  p.q = static_cast<const float*>(ptr);
  if (!strided(a_k, p.B, p.Hkv, p.Lk, p.D, false, kvBytes, withBuffers, &p.kStrideB, &p.kStrideH, &p.kStrideL,
               nullptr, &ptr))
    return false;
  p.k = ptr;
  if (!strided(a_v, p.B, p.Hkv, p.Lk, p.Dv, false, kvBytes, withBuffers, &p.vStrideB, &p.vStrideH, &p.vStrideL,
               nullptr, &ptr))
    return false;
  p.v = ptr;
  // A plan never writes out: like the native binding, it neither checks nor points to it.
  if (withBuffers) {
    if (!strided(a_out, p.B, p.H, p.Lq, p.Dv, false, 4, true, &p.oStrideB, &p.oStrideH, &p.oStrideL, nullptr, &ptr))
      return false;
    p.out = static_cast<float*>(ptr);
    if (!p.out) return fail("expected a buffer for", "out");
  }
  if (gArgs[a_mask] != 0) {
    if (!strided(a_mask, p.B, p.H, p.Lq, p.Lk, true, 4, withBuffers, &p.maskStrideB, &p.maskStrideH, &p.maskStrideQ,
                 &p.maskStrideK, &ptr))
      return false;
    p.mask = static_cast<const float*>(ptr);
  }
  if (gArgs[a_boolMask] != 0) {
    if (!strided(a_boolMask, p.B, p.H, p.Lq, p.Lk, true, 1, withBuffers, &p.boolMaskStrideB, &p.boolMaskStrideH,
                 &p.boolMaskStrideQ, &p.boolMaskStrideK, &ptr))
      return false;
    p.boolMask = static_cast<const uint8_t*>(ptr);
  }
  int64_t padding = 0;
  if (fa::mul_overflows(p.B, p.Lk, &padding)) return fail("extent overflows for", "keyPadding");
  if (!get_buffer(a_keyPadding, padding, 1, withBuffers, &ptr)) return false;
  p.keyPadding = static_cast<const uint8_t*>(ptr);
  if (!get_buffer(a_keyLengths, p.B, 4, withBuffers, &ptr)) return false;
  p.keyLengths = static_cast<const int32_t*>(ptr);
  // Values are read by the kernel as loop bounds (a plan reads only the placeholder, 0).
  if (p.keyLengths && withBuffers)
    for (int64_t b = 0; b < p.B; ++b)
      if (p.keyLengths[b] < 0 || p.keyLengths[b] > p.Lk) return fail("expected values in [0, Lk] in", "keyLengths");
  if (p.keyLengths && !withBuffers) p.keyLengths = nullptr;  // the plan does not depend on them
  if (!get_buffer(a_rowOffsets, p.B, 4, withBuffers, &ptr)) return false;
  p.rowOffsets = static_cast<const int32_t*>(ptr);
  if (!get_buffer(a_alibiSlopes, p.H, 4, withBuffers, &ptr)) return false;
  p.alibiSlopes = static_cast<const float*>(ptr);
  int64_t rows = 0, weights = 0;
  if (fa::mul_overflows(p.B * p.H, p.Lq, &rows) || fa::mul_overflows(rows, p.Lk, &weights))
    return fail("extent overflows for", "weights");
  if (!get_buffer(a_lse, rows, 4, withBuffers, &ptr)) return false;
  p.lse = static_cast<float*>(ptr);
  if (!get_buffer(a_weights, weights, 4, withBuffers, &ptr)) return false;
  p.weights = static_cast<float*>(ptr);

  if (!get_int(a_alignOffset, -kMaxDim, kMaxDim, &p.alignOffset) ||
      !get_int(a_windowLeft, -1, kMaxDim, &p.windowLeft) || !get_int(a_windowRight, -1, kMaxDim, &p.windowRight))
    return false;
  const double scale = gArgs[a_scale], softcap = gArgs[a_softcap];
  if (!(std::isfinite(scale) && scale > 0)) return fail("expected a finite number > 0 for", "scale");
  if (!(std::isfinite(softcap) && softcap >= 0)) return fail("expected a finite number >= 0 for", "softcap");
  p.scale = float(scale);
  p.softcap = float(softcap);
  return true;
}

// The work items of one call, in order on this thread; scratch and buffers kept between calls.
struct SerialRunner {
  float* packed_k(size_t floats) { return gPackedK.try_get(floats); }
  float* partials(size_t floats) { return gPartials.try_get(floats); }
  template <typename Fn>
  bool for_items(int64_t numItems, int /*threads*/, size_t scratchFloats, const fa::CancelFlag* cancel, const Fn& fn) {
    float* scratch = nullptr;
    if (scratchFloats > 0 && !(scratch = gItemScratch.try_get(scratchFloats))) return false;
    for (int64_t item = 0; item < numItems; ++item) {
      if (cancel && cancel->requested()) break;
      fn(item, scratch);
    }
    return true;
  }
};

}  // namespace

extern "C" {

// A block of at least `bytes` bytes, 64-byte aligned; 0 when memory cannot grow.
__attribute__((export_name("fa_alloc"))) void* fa_alloc(size_t bytes) { return fa::aligned_malloc(64, bytes); }

__attribute__((export_name("fa_free"))) void fa_free(void* p) { fa::aligned_free(p); }

__attribute__((export_name("fa_args"))) double* fa_args() { return gArgs; }

__attribute__((export_name("fa_arg_count"))) int fa_arg_count() { return kArgCount; }

__attribute__((export_name("fa_plan"))) double* fa_plan() { return gPlan; }

__attribute__((export_name("fa_error"))) const char* fa_error() { return gError; }

// "simd128" or "relaxed-simd": which build of kernel_wasm.cpp this module holds.
__attribute__((export_name("fa_isa"))) const char* fa_isa() { return fa::isa_wasm::kKernel.name; }

__attribute__((export_name("fa_attention"))) int fa_attention() {
  fa::AttentionParams p;
  if (!parse_args(p, true)) return 1;
  SerialRunner run;
  return fa::attention_forward_with(p, fa::isa_wasm::kKernel, 1, run) ? 0 : 2;
}

__attribute__((export_name("fa_attention_plan"))) int fa_attention_plan() {
  fa::AttentionParams p;
  if (!parse_args(p, false)) return 1;
  const fa::IsaKernel& kernel = fa::isa_wasm::kKernel;
  const fa::KernelPlan plan = fa::plan_attention(p, kernel, 1);
  gPlan[0] = plan.path == fa::KernelPath::DecodeSplitK ? 1 : 0;
  gPlan[1] = double(plan.blockQ);
  gPlan[2] = double(plan.blockK);
  gPlan[3] = plan.threads;
  gPlan[4] = double(plan.numItems);
  gPlan[5] = double(plan.scratchFloats * sizeof(float) * size_t(plan.threads));
  return 0;
}

}  // extern "C"
