// How many threads a call is worth, from its FLOPs alone: shared by the
// planners (attention_plan.cpp, gemm.cpp, criss_cross.cpp) and kept apart from
// thread_pool.h so the thread-free wasm build can plan with it too.
#pragma once

namespace fa {

// Below this many FLOPs per thread a call stays on the calling thread: waking
// a sleeping worker costs ~5-8 µs, about 1 MFLOP of one core's work.
constexpr double kMinFlopsPerThread = 2.0e6;

// Threads worth waking for `work` FLOPs (at least 1, at most maxThreads).
inline int threads_for_work(double work, int maxThreads) {
  int threads = maxThreads < 1 ? 1 : maxThreads;
  const double byWork = work / kMinFlopsPerThread;
  if (byWork < threads) threads = byWork < 1.0 ? 1 : int(byWork);
  return threads;
}

}  // namespace fa
