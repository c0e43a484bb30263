// attention_forward on the native runtime: the steps of attention_driver.h
// with the thread pool (parallel_for, which gives each thread its own
// scratch) and this thread's buffer for pre-packed K.
#include <cstdint>
#include <memory>

#include "attention.h"
#include "attention_driver.h"
#include "dispatch.h"
#include "isa_kernels.h"
#include "scratch.h"
#include "thread_pool.h"

namespace fa {
namespace {

// The calling thread's buffer for pre-packed K (see KernelPlan::prepackK);
// kept between calls so large calls do not page-fault a fresh buffer each time.
thread_local ThreadScratch tlsPackedK;

// Buffers and work items of one call on the native runtime; out of memory throws std::bad_alloc.
struct PoolRunner {
  std::unique_ptr<float[]> partialsBuffer;
  float* packed_k(size_t floats) { return tlsPackedK.get(floats); }
  float* partials(size_t floats) {
    partialsBuffer.reset(new float[floats]);
    return partialsBuffer.get();
  }
  template <typename Fn>
  bool for_items(int64_t numItems, int threads, size_t scratchFloats, const CancelFlag* cancel, const Fn& fn) {
    parallel_for(numItems, threads, scratchFloats, cancel, fn);
    return true;
  }
};

}  // namespace

void attention_forward(const AttentionParams& params) {
  PoolRunner run;
  attention_forward_with(params, current_kernel(), ThreadPool::instance().size(), run);
}

}  // namespace fa
