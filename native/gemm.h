// nn.Linear on the CPU: y[i, :] = x[i, :] · Wᵀ + b, with W [N][K] row-major
// (PyTorch's weight [outFeatures, inFeatures]). Plain structs shared by the
// binding, the planner (gemm.cpp) and the per-ISA micro-kernels
// (gemm_kernel.inl). No Node.js or N-API types here.
//
// Packed weights (one layout for every ISA, so a PackedWeights made before
// setIsa stays valid after it): the N columns are cut into groups of
// kGemmGroupCols = 64; group g holds columns [64g, 64g + width) as K rows of
// `width` floats, width = 64 except in the last group (N - 64g rounded up to a
// multiple of kGemmPanelCols = 16, zero-padded). Group g starts at float
// 64·g·K; every row is 64-byte aligned. A micro-kernel tile reads 16, 32, 48
// or 64 columns of one group as 1-4 panels side by side.
// Weights packed as bfloat16 (packLinear's dtype 'bfloat16') use the same
// layout with 16-bit elements (rounded once, to nearest even, when packed; rows
// 32-byte aligned), widened exactly in the micro-kernel: a few-row call streams
// half the bytes. The bias stays float32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "cancel.h"
#include "portable.h"

namespace fa {

constexpr int64_t kGemmPanelCols = 16;  // columns of one panel: a multiple of every ISA's lanes
constexpr int64_t kGemmGroupCols = 64;  // columns of one group: up to 4 panels per tile row

// Element type of packed weights.
enum class WeightType : uint8_t { F32, BF16 };

// Weights and bias in the packed layout above. Owns its memory.
struct PackedWeights {
  int64_t N = 0;         // outFeatures
  int64_t K = 0;         // inFeatures
  bool hasBias = false;
  WeightType type = WeightType::F32;
  std::unique_ptr<float, AlignedDeleter> storage;  // panels then bias, 64-byte aligned
  const void* panels = nullptr;   // K * round_up(N, 16) elements of `type`
  const float* bias = nullptr;    // round_up(N, 16) floats, zeros without a bias

  // Bytes held (for the GC's external-memory accounting).
  size_t bytes() const;
  // Floats of the given group's rows and where the group starts.
  int64_t group_width(int64_t g) const {
    const int64_t left = N - g * kGemmGroupCols;
    const int64_t w = (left + kGemmPanelCols - 1) / kGemmPanelCols * kGemmPanelCols;
    return w < kGemmGroupCols ? w : kGemmGroupCols;
  }
  template <typename T>
  const T* group(int64_t g) const { return static_cast<const T*>(panels) + g * kGemmGroupCols * K; }
};

// One linear call: out[i*outStride + j] = bias[j] + Σ_k x[i*K + k] · W[j][k]
// for i < M, j < N. Either `packed` (PackedLinear.forward) or `weight`/`bias`
// (one-shot linear(), unpacked) is set.
struct LinearParams {
  const float* x = nullptr;  // [M][K], rows contiguous
  int64_t M = 0, K = 0, N = 0;
  const PackedWeights* packed = nullptr;
  const float* weight = nullptr;  // [N][K] when not packed
  const float* bias = nullptr;    // [N] or null, when not packed
  float* out = nullptr;
  int64_t outStride = 0;  // >= N

  // forwardAsync with an AbortSignal, or null: checked between work items.
  const CancelFlag* cancel = nullptr;
};

inline bool is_cancelled(const LinearParams& p) { return p.cancel && p.cancel->requested(); }

// How a call is cut into work items, chosen once per call (plan_linear).
enum class LinearPath {
  Packed,     // register-blocked tiles over packed weights
  RowsDot,    // one-shot call (unpacked weights), up to 512 rows: dot products along K, no packing pass
};

struct LinearPlan {
  LinearPath path = LinearPath::Packed;
  int64_t blockM = 0;      // rows per work item (a multiple of the ISA's tile rows)
  int64_t blockN = 0;      // columns per work item (a multiple of kGemmGroupCols)
  int64_t blockK = 0;      // reduction depth per pass over a tile
  int64_t numMBlocks = 0;
  int64_t numNBlocks = 0;
  int64_t numItems = 0;    // numMBlocks * numNBlocks; item = nBlock * numMBlocks + mBlock
  bool packFirst = false;  // one-shot call on the Packed path: pack the weights into a temporary first
  int threads = 1;
};

struct IsaKernel;  // isa_kernels.h

// Rows per pass of the RowsDot kernel over a block of weight rows.
constexpr int64_t kDotGroupRows = 4;
// One-shot calls (unpacked weights) with up to this many rows read the weights
// in place (RowsDot); above it packing them first pays for itself. Measured on
// Zen4, 2 threads: packing costs ~1.2 ns per weight, and the tiles gain
// ~0.002 ns per weight and row over RowsDot (M = 512: RowsDot 6.1 ms vs 6.5 ms
// for 512x1024x1024; M = 2048: 24.9 vs 22.2 ms).
constexpr int64_t kOneShotPackMinRows = 513;

LinearPlan plan_linear(const LinearParams& p, const IsaKernel& kernel, int maxThreads);

// Packs weight [N][K] (and bias [N], or null) on the thread pool, as `type`
// elements. Throws std::bad_alloc when the memory cannot be had.
std::unique_ptr<PackedWeights> pack_weights(const float* weight, const float* bias, int64_t N, int64_t K,
                                            WeightType type = WeightType::F32);

// Runs the whole call on the current ISA and the thread pool. The result of
// every output element depends on neither the thread count nor the blocking:
// out = bias, then one fused multiply-add per k in increasing k.
// Throws std::bad_alloc only (one-shot calls that pack first).
void linear_forward(const LinearParams& p);

}  // namespace fa
