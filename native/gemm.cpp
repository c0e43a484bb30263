// linear_forward: plans one nn.Linear call, packs the weights when the call
// brought them unpacked, and hands the work items to the thread pool.
// pack_weights: the ISA-independent packed layout of gemm.h. Baseline code: no
// ISA flags; the micro-kernels are in gemm_kernel.inl.
#include "gemm.h"

#include <cstring>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "bf16_convert.h"
#include "dispatch.h"
#include "isa_kernels.h"
#include "thread_pool.h"

namespace fa {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

// Depth of one pass over a tile when several row strips share the weights: the
// weight slice (blockK x blockN floats, 512 KiB) stays in the 1 MiB L2 while
// every strip of the block passes over it. Measured on Zen4 (1 and 2 threads,
// 4096x512x512 and 2048x1024x1024): 512 x 256 was best by 1-4 % among
// {128, 256, 512}^2.
constexpr int64_t kBlockK = 512;
constexpr int64_t kBlockN = 256;
// Row strips per block (blockM = strips x the ISA's tile rows).
constexpr int64_t kStripsPerBlock = 16;
// Work items per thread to aim for, so threads that finish early find work.
constexpr int64_t kItemsPerThread = 4;
// Below this many weight floats packing stays on the calling thread.
constexpr int64_t kMinPackFloatsPerThread = int64_t(1) << 18;

inline float packed_value(float x, float*) { return x; }
inline uint16_t packed_value(float x, uint16_t*) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bfloat16_of_bits(bits);
}

// Group g of the packed layout: dst[k][c] = W[64g + c][k] (as T), zero past N.
template <typename T>
void pack_group(const float* weight, int64_t N, int64_t K, int64_t g, int64_t width, T* dst) {
  constexpr int64_t kChunk = 64;  // depth per pass: a 64 x width block of dst (16 KiB) stays in L1
  for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
    const int64_t k1 = k0 + kChunk < K ? k0 + kChunk : K;
    for (int64_t c = 0; c < width; ++c) {
      const int64_t col = g * kGemmGroupCols + c;
      if (col < N) {
        const float* src = weight + col * K;
        for (int64_t k = k0; k < k1; ++k) dst[k * width + c] = packed_value(src[k], dst);
      } else {
        for (int64_t k = k0; k < k1; ++k) dst[k * width + c] = T(0);
      }
    }
  }
}

// Storage of packed weights. Large packings are long-lived and streamed
// whole by every few-row call: from 2 MiB up they are 2 MiB aligned and asked
// to use transparent huge pages (THP "madvise" mode), so packing takes ~500x
// fewer page faults and streaming far fewer TLB misses. Null when out of memory.
float* allocate_packed(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr size_t kHugePage = size_t(2) << 20;
  if (bytes >= kHugePage) {
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    if (void* p = aligned_malloc(kHugePage, rounded)) {
      madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
      return static_cast<float*>(p);
    }
  }
#endif
  return static_cast<float*>(aligned_malloc(64, (bytes + 63) / 64 * 64));
}

int64_t element_bytes(WeightType type) { return type == WeightType::BF16 ? 2 : 4; }

}  // namespace

size_t PackedWeights::bytes() const {
  const int64_t nPad = round_up(N, kGemmPanelCols);
  return size_t(K * nPad * element_bytes(type) + nPad * int64_t(sizeof(float)));
}

std::unique_ptr<PackedWeights> pack_weights(const float* weight, const float* bias, int64_t N, int64_t K, WeightType type) {
  auto packed = std::make_unique<PackedWeights>();
  packed->N = N;
  packed->K = K;
  packed->hasBias = bias != nullptr;
  packed->type = type;
  const int64_t nPad = round_up(N, kGemmPanelCols);
  // Panels (K * nPad elements: a multiple of 32 bytes, rounded up to 64), then nPad bias floats.
  int64_t elements = 0, panelBytes = 0, bytes = 0;
  if (mul_overflows(K, nPad, &elements) || mul_overflows(elements, element_bytes(type), &panelBytes) ||
      add_overflows(round_up(panelBytes, 64), nPad * int64_t(sizeof(float)), &bytes))
    throw std::bad_alloc();
  float* storage = allocate_packed(size_t(bytes));
  if (!storage) throw std::bad_alloc();
  packed->storage.reset(storage);
  packed->panels = storage;
  float* biasDst = storage + round_up(panelBytes, 64) / int64_t(sizeof(float));
  packed->bias = biasDst;
  for (int64_t j = 0; j < nPad; ++j) biasDst[j] = bias && j < N ? bias[j] : 0.0f;

  const int64_t numGroups = ceil_div(N, kGemmGroupCols);
  int64_t threads = (N * K) / kMinPackFloatsPerThread;
  if (threads > ThreadPool::instance().size()) threads = ThreadPool::instance().size();
  if (threads > numGroups) threads = numGroups;
  const PackedWeights& w = *packed;
  parallel_for(numGroups, int(threads), 0, nullptr, [&](int64_t g, float*) {
    if (type == WeightType::BF16)
      pack_group(weight, N, K, g, w.group_width(g), reinterpret_cast<uint16_t*>(storage) + g * kGemmGroupCols * K);
    else
      pack_group(weight, N, K, g, w.group_width(g), storage + g * kGemmGroupCols * K);
  });
  return packed;
}

LinearPlan plan_linear(const LinearParams& p, const IsaKernel& kernel, int maxThreads) {
  LinearPlan plan;
  const double flops = 2.0 * double(p.M) * double(p.N) * double(p.K);
  // A one-row call streams the weights at ~1 byte per FLOP-time of a
  // compute-bound call (Zen4: ~100 GB/s from L3 vs ~100 GFLOP/s), so their
  // bytes count as work when they exceed the FLOPs (M = 1).
  const double weightBytes =
      double(element_bytes(p.packed ? p.packed->type : WeightType::F32)) * double(p.N) * double(p.K);
  const double work = weightBytes > flops ? weightBytes : flops;
  int threads = threads_for_work(work, maxThreads);
  const int64_t wantItems = threads > 1 ? kItemsPerThread * threads : 1;

  if (!p.packed && p.M < kOneShotPackMinRows) {
    // Raw weights and not too many rows: dot products along K on the weights
    // as they are; packing would add a slow pass over W. Columns are split
    // across threads; with more than one row group, a block's weights
    // (<= 256 KiB) stay in L2 while the row groups pass over them.
    plan.path = LinearPath::RowsDot;
    plan.blockM = p.M;
    plan.numMBlocks = 1;
    if (p.M <= kDotGroupRows) {
      // Streaming: twice the usual items, as streaming rates vary.
      plan.blockN = round_up(ceil_div(p.N, 2 * wantItems), kGemmPanelCols);
    } else {
      // Every item reads all of x again: as few items as the threads need,
      // each no wider than fits L2.
      const int64_t fit = (int64_t(1) << 16) / p.K / kGemmPanelCols * kGemmPanelCols;
      plan.blockN = round_up(ceil_div(p.N, wantItems), kGemmPanelCols);
      if (plan.blockN > fit) plan.blockN = fit < kGemmPanelCols ? kGemmPanelCols : fit;
    }
    plan.blockK = p.K;
  } else {
    plan.path = LinearPath::Packed;
    plan.packFirst = p.packed == nullptr;
    const int64_t rows = kernel.gemmRows;
    if (p.M <= rows) {
      // One row strip: every weight is used once, so the call streams the
      // packed weights at memory speed; no depth blocking, columns split
      // across threads (twice the usual items: streaming rates vary).
      plan.blockM = p.M;
      plan.blockK = p.K;
      plan.blockN = round_up(p.N, kGemmGroupCols);
      if (wantItems > 1)
        plan.blockN = round_up(ceil_div(p.N, 2 * wantItems), kGemmGroupCols);
    } else {
      plan.blockM = rows * kStripsPerBlock;
      plan.blockK = kBlockK;
      plan.blockN = kBlockN;
      // Smaller blocks until every thread gets a few items.
      auto items = [&] { return ceil_div(p.M, plan.blockM) * ceil_div(p.N, plan.blockN); };
      while (items() < wantItems && plan.blockN > kGemmGroupCols) plan.blockN /= 2;
      while (items() < wantItems && plan.blockM > rows) plan.blockM = round_up(plan.blockM / 2, rows);
      if (plan.blockM > round_up(p.M, rows)) plan.blockM = round_up(p.M, rows);
    }
    if (plan.blockK > p.K) plan.blockK = p.K;
    plan.numMBlocks = ceil_div(p.M, plan.blockM);
  }
  plan.numNBlocks = ceil_div(p.N, plan.blockN);
  plan.numItems = plan.numMBlocks * plan.numNBlocks;
  if (plan.numItems < threads) threads = int(plan.numItems);
  plan.threads = threads < 1 ? 1 : threads;
  return plan;
}

void linear_forward(const LinearParams& params) {
  if (params.M == 0 || params.N == 0) return;
  const IsaKernel& kernel = current_kernel();
  const LinearPlan plan = plan_linear(params, kernel, ThreadPool::instance().size());
  LinearParams p = params;
  std::unique_ptr<PackedWeights> temporary;
  if (plan.packFirst) {
    temporary = pack_weights(p.weight, p.bias, p.N, p.K);
    p.packed = temporary.get();
  }
  parallel_for(plan.numItems, plan.threads, 0, p.cancel, [&](int64_t item, float*) {
    if (plan.path == LinearPath::RowsDot) {
      const int64_t j0 = item * plan.blockN;
      kernel.linear_rows_dot(p, j0, j0 + plan.blockN < p.N ? j0 + plan.blockN : p.N);
    } else {
      kernel.linear_item(p, plan, item);
    }
  });
}

}  // namespace fa
