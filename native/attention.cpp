// attention_forward: plans one call, hands its work items to the thread pool,
// and gives each participating thread its own scratch.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <cstdlib>
#include <new>

#include "attention.h"
#include "scratch.h"
#include "dispatch.h"
#include "thread_pool.h"

namespace fa {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Keys per packed K block: the transposed block is D x blockK floats = 64 KiB
// (256 keys at D = 64), never below one 64-key strip. 128 keys (32 KiB, the L1d)
// measured 5-10 % faster than 64; 256 a further ~2 % at self-512 (the
// micro-kernels read each 16 KiB strip from L2 well enough, and every block
// costs a softmax update, an acc rescale and their reductions per row); 512
// measured the same as 256.
int64_t choose_block_k(const AttentionParams& p) {
  int64_t blockK = (64 * 1024 / 4) / (p.D > 0 ? p.D : 1);
  blockK = blockK / 64 * 64;
  if (blockK < 64) blockK = 64;
  if (blockK > 512) blockK = 512;
  const int64_t keys = round_up(p.Lk, 64);
  return blockK < keys ? blockK : keys;
}

// Each participating thread's kernel scratch (KernelPlan::scratchFloats).
thread_local ThreadScratch tlsScratch;
// The calling thread's buffer for pre-packed K (see KernelPlan::prepackK);
// kept between calls so large calls do not page-fault a fresh buffer each time.
thread_local ThreadScratch tlsPackedK;

struct PackJob {
  const AttentionParams* params;
  const KernelPlan* plan;
  const IsaKernel* kernel;
  float* packed;
  int64_t numItems;
  int64_t blocks;      // key blocks per (b, hk)
  int64_t usedBlocks;  // blocks below the longest row's key length (a KV cache's maxLength is mostly empty)
  std::atomic<int64_t> next{0};
};

void run_pack_worker(void* ctx, int /*worker*/) {
  PackJob& job = *static_cast<PackJob*>(ctx);
  for (;;) {
    const int64_t item = job.next.fetch_add(1, std::memory_order_relaxed);
    if (item >= job.numItems) break;
    if (item % job.blocks >= job.usedBlocks) continue;  // keys no row can see: never read
    job.kernel->pack_item(*job.params, *job.plan, item, job.packed);
  }
}

struct Job {
  const AttentionParams* params;
  const KernelPlan* plan;
  const IsaKernel* kernel;
  float* partials;  // decode path: B * H * numSplits x (2 + Dv) floats
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
};

void run_worker(void* ctx, int /*worker*/) {
  Job& job = *static_cast<Job*>(ctx);
  float* scratch = nullptr;
  try {
    scratch = tlsScratch.get(job.plan->scratchFloats);
  } catch (const std::bad_alloc&) {
    // This thread takes no items; the others finish the job. If every thread
    // fails, attention_forward reports it.
    job.failed.store(true);
    return;
  }
  const bool decode = job.plan->path == KernelPath::DecodeSplitK;
  for (;;) {
    if (is_cancelled(*job.params)) break;
    const int64_t item = job.next.fetch_add(1, std::memory_order_relaxed);
    if (item >= job.plan->numItems) break;
    if (decode)
      job.kernel->run_split(*job.params, *job.plan, item, scratch, job.partials);
    else
      job.kernel->run_item(*job.params, *job.plan, item, scratch);
  }
}

// Log-sum-exp merge of the decode splits of every (b, h):
//   M = max m_s,  l = sum 2^(m_s - M) l_s,  out = sum 2^(m_s - M) acc_s / l.
// Splits that saw no key (l_s = 0) are skipped, so -inf - -inf never happens.
void merge_splits(const AttentionParams& p, const KernelPlan& plan, const float* partials) {
  const int64_t stride = 2 + p.Dv;
  for (int64_t bh = 0; bh < p.B * p.H; ++bh) {
    const int64_t b = bh / p.H, h = bh % p.H;
    const float* first = partials + bh * plan.numSplits * stride;
    float m = -__builtin_inff();
    for (int64_t s = 0; s < plan.numSplits; ++s)
      if (first[s * stride + 1] > 0.0f && first[s * stride] > m) m = first[s * stride];
    float* out = p.out + b * p.oStrideB + h * p.oStrideH;
    for (int64_t c = 0; c < p.Dv; ++c) out[c] = 0.0f;
    float l = 0.0f;
    for (int64_t s = 0; s < plan.numSplits; ++s) {
      const float* part = first + s * stride;
      if (!(part[1] > 0.0f)) continue;
      const float w = std::exp2(part[0] - m);
      l += w * part[1];
      for (int64_t c = 0; c < p.Dv; ++c) out[c] += w * part[2 + c];
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int64_t c = 0; c < p.Dv; ++c) out[c] *= inv;
    if (p.lse) p.lse[bh] = l > 0.0f ? (m + std::log2(l)) * 0.6931471805599453f : -__builtin_inff();
  }
}

// No NaN or Inf among x[0..n): an all-ones exponent field marks both. Integer
// ORs have no loop-carried latency, so this vectorises even at baseline SSE2
// (the float-sum version ran at one add latency per element).
bool all_finite(const float* x, int64_t n) {
  uint32_t nonFinite = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    nonFinite |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  return nonFinite == 0;
}

// The same for bfloat16 bit patterns (exponent field 0x7f80).
bool all_finite(const uint16_t* x, int64_t n) {
  uint32_t nonFinite = 0;
  for (int64_t i = 0; i < n; ++i) nonFinite |= uint32_t((x[i] & 0x7f80u) == 0x7f80u);
  return nonFinite == 0;
}

template <typename T>
bool all_values_finite(const AttentionParams& p) {
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t hk = 0; hk < p.Hkv; ++hk) {
      const T* v = static_cast<const T*>(p.v) + b * p.vStrideB + hk * p.vStrideH;
      for (int64_t j = 0; j < p.Lk; ++j)
        if (!all_finite(v + j * p.vStrideL, p.Dv)) return false;
    }
  return true;
}

// Whether some V row in reach holds NaN/Inf while keys are hidden row by row
// inside the key loops (boolean mask, key padding, or window/causal edges with
// several query rows): then P·V must skip zero weights (see pv_row_guarded).
// Scanning V costs one read of V, far below the call's own work when Lq > 1.
bool needs_value_guard(const AttentionParams& p) {
  const bool rowWise = p.boolMask || p.keyPadding || (p.Lq > 1 && (p.windowLeft >= 0 || p.windowRight >= 0));
  if (!rowWise) return false;
  return p.kvType == KvType::BF16 ? !all_values_finite<uint16_t>(p) : !all_values_finite<float>(p);
}

}  // namespace

void set_contiguous_strides(AttentionParams& p) {
  p.qStrideL = p.D;  p.qStrideH = p.Lq * p.D;  p.qStrideB = p.H * p.Lq * p.D;
  p.kStrideL = p.D;  p.kStrideH = p.Lk * p.D;  p.kStrideB = p.Hkv * p.Lk * p.D;
  p.vStrideL = p.Dv; p.vStrideH = p.Lk * p.Dv; p.vStrideB = p.Hkv * p.Lk * p.Dv;
  p.oStrideL = p.Dv; p.oStrideH = p.Lq * p.Dv; p.oStrideB = p.H * p.Lq * p.Dv;
}

KernelPlan plan_attention(const AttentionParams& p, const IsaKernel& kernel, int maxThreads) {
  KernelPlan plan;
  plan.blockK = choose_block_k(p);
  const double flops = 2.0 * double(p.B) * double(p.H) * double(p.Lq) * double(p.Lk) * double(p.D + p.Dv);
  int threads = maxThreads < 1 ? 1 : maxThreads;
  const double byWork = flops / kMinFlopsPerThread;
  if (byWork < threads) threads = byWork < 1.0 ? 1 : int(byWork);
  const int64_t BH = p.B * p.H;

  if (p.Lq == 1 && !p.weights) {
    // Decode: one query row per head; the H / Hkv query heads of a kv head
    // share one item, so K/V are read once. Split the key range when there
    // are fewer kv heads than ~2 per thread, so every thread streams K/V.
    plan.path = KernelPath::DecodeSplitK;
    plan.blockQ = 1;
    plan.numQBlocks = 1;
    plan.groupRows = p.H / p.Hkv;
    const int64_t streams = p.B * p.Hkv;
    int64_t splits = 1;
    while (streams * splits < 2 * int64_t(threads) && p.Lk / (splits * 2) >= 256) splits *= 2;
    plan.numSplits = splits;
    plan.numItems = streams * splits;
  } else {
    // Largest query block (a multiple of the micro-panel height) that still
    // gives every thread ~4 items; large blocks amortise packing K.
    const int64_t panel = kernel.rowsPerPanel;
    int64_t blockQ = panel * 32;
    while (blockQ > panel && BH * ((p.Lq + blockQ - 1) / blockQ) < 4 * int64_t(threads)) blockQ /= 2;
    blockQ = blockQ / panel * panel;
    if (blockQ < panel) blockQ = panel;
    if (blockQ > round_up(p.Lq, panel)) blockQ = round_up(p.Lq, panel);
    plan.blockQ = blockQ;
    plan.numQBlocks = (p.Lq + blockQ - 1) / blockQ;
    plan.numItems = BH * plan.numQBlocks;
    // Several query blocks (or query heads, GQA) read each kv head's K: pack it once.
    plan.prepackK = plan.numQBlocks * (p.H / p.Hkv) >= 2;
  }
  if (plan.numItems < threads) threads = int(plan.numItems);
  plan.threads = threads < 1 ? 1 : threads;
  plan.scratchFloats = kernel.scratch_floats(p, plan);
  return plan;
}

void attention_forward(const AttentionParams& params) {
  if (params.B == 0 || params.H == 0 || params.Lq == 0) return;
  AttentionParams p = params;
  p.guardHiddenValues = needs_value_guard(p);
  const IsaKernel& kernel = current_kernel();
  ThreadPool& pool = ThreadPool::instance();
  const KernelPlan planned = plan_attention(p, kernel, pool.size());
  KernelPlan plan = planned;
  if (plan.prepackK) {
    const int64_t blocks = (p.Lk + plan.blockK - 1) / plan.blockK;
    PackJob pack;
    pack.params = &p;
    pack.plan = &plan;
    pack.kernel = &kernel;
    pack.numItems = p.B * p.Hkv * blocks;
    pack.blocks = blocks;
    int64_t usedKeys = p.Lk;
    if (p.keyLengths) {
      usedKeys = 0;
      for (int64_t b = 0; b < p.B; ++b) usedKeys = usedKeys > p.keyLengths[b] ? usedKeys : int64_t(p.keyLengths[b]);
    }
    pack.usedBlocks = (usedKeys + plan.blockK - 1) / plan.blockK;
    pack.packed = tlsPackedK.get(size_t(pack.numItems * p.D * plan.blockK));
    pool.run(plan.threads, &run_pack_worker, &pack);
    plan.packedK = pack.packed;
  }
  std::unique_ptr<float[]> partials;
  Job job;
  job.params = &p;
  job.plan = &plan;
  job.kernel = &kernel;
  job.partials = nullptr;
  if (plan.path == KernelPath::DecodeSplitK) {
    partials.reset(new float[size_t(p.B * p.H * plan.numSplits * (2 + p.Dv))]);
    job.partials = partials.get();
  }
  pool.run(plan.threads, &run_worker, &job);
  if (is_cancelled(p)) return;  // the caller reports it; out is partly written
  if (job.next.load() < plan.numItems) throw std::bad_alloc();  // no thread could get scratch
  if (plan.path == KernelPath::DecodeSplitK) merge_splits(p, plan, job.partials);
}

}  // namespace fa
