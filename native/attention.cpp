// attention_forward: plans one call, hands its work items to the thread pool,
// and gives each participating thread its own scratch.
#include <atomic>
#include <cstdlib>
#include <new>

#include "attention.h"
#include "dispatch.h"
#include "thread_pool.h"

namespace fa {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Below this many FLOPs a call stays on the calling thread: waking a sleeping
// worker costs ~5-8 µs, about 1 MFLOP of one core's work (KERNEL-NOTES §6).
constexpr double kMinFlopsPerThread = 2.0e6;

// Keys per packed K block: the transposed block (D x blockK floats) should fit
// in half of L1d (32 KiB on Zen4), but never below one 64-key strip.
int64_t choose_block_k(const AttentionParams& p) {
  int64_t blockK = (16 * 1024 / 4) / (p.D > 0 ? p.D : 1);
  blockK = blockK / 64 * 64;
  if (blockK < 64) blockK = 64;
  if (blockK > 512) blockK = 512;
  const int64_t keys = round_up(p.Lk, 64);
  return blockK < keys ? blockK : keys;
}

// Per-thread scratch, grown on demand, reused by every later call of the thread.
struct ThreadScratch {
  float* data = nullptr;
  size_t floats = 0;
  ~ThreadScratch() { std::free(data); }
  float* get(size_t need) {
    if (need > floats) {
      std::free(data);
      data = nullptr;
      floats = 0;
      const size_t bytes = round_up(int64_t(need * sizeof(float)), 64);
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data) throw std::bad_alloc();
      floats = need;
    }
    return data;
  }
};
thread_local ThreadScratch tlsScratch;

struct Job {
  const AttentionParams* params;
  const KernelPlan* plan;
  const IsaKernel* kernel;
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
  for (;;) {
    const int64_t item = job.next.fetch_add(1, std::memory_order_relaxed);
    if (item >= job.plan->numItems) break;
    job.kernel->run_item(*job.params, *job.plan, item, scratch);
  }
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

  // Largest query block (a multiple of the micro-panel height) that still
  // gives every thread ~4 items; large blocks amortise packing K.
  const int64_t BH = p.B * p.H;
  const int64_t panel = kernel.rowsPerPanel;
  int64_t blockQ = panel * 32;
  while (blockQ > panel && BH * ((p.Lq + blockQ - 1) / blockQ) < 4 * int64_t(threads)) blockQ /= 2;
  blockQ = blockQ / panel * panel;
  if (blockQ < panel) blockQ = panel;
  if (blockQ > round_up(p.Lq, panel)) blockQ = round_up(p.Lq, panel);

  plan.blockQ = blockQ;
  plan.numQBlocks = (p.Lq + blockQ - 1) / blockQ;
  plan.numItems = BH * plan.numQBlocks;
  if (plan.numItems < threads) threads = int(plan.numItems);
  plan.threads = threads < 1 ? 1 : threads;
  plan.scratchFloats = kernel.scratch_floats(p, plan);
  return plan;
}

void attention_forward(const AttentionParams& p) {
  if (p.B == 0 || p.H == 0 || p.Lq == 0) return;
  const IsaKernel& kernel = current_kernel();
  ThreadPool& pool = ThreadPool::instance();
  const KernelPlan plan = plan_attention(p, kernel, pool.size());
  Job job;
  job.params = &p;
  job.plan = &plan;
  job.kernel = &kernel;
  pool.run(plan.threads, &run_worker, &job);
  if (job.next.load() < plan.numItems) throw std::bad_alloc();  // no thread could get scratch
}

}  // namespace fa
