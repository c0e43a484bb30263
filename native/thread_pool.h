// One persistent pool for the whole process. The calling thread is worker 0;
// the pool adds (size - 1) threads that spin briefly after a job, then sleep.
// Jobs are serialised: concurrent callers (the JS thread, libuv workers, other
// worker_threads) take turns, so two cores never run more compute threads
// than the pool size.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "cancel.h"
#include "work_split.h"

namespace fa {

class ThreadPool {
 public:
  using JobFn = void (*)(void* ctx, int worker);

  static ThreadPool& instance();

  // Requested number of threads (caller included); applied at the next job.
  void set_size(int n);
  int size() const { return requested_.load(std::memory_order_relaxed); }

  // Runs fn(ctx, w) for w in [0, participants) — w = 0 on the calling thread —
  // and returns when every call has returned. participants is clamped to size().
  void run(int participants, JobFn fn, void* ctx);

 private:
  ThreadPool();
  void resize_locked(int n);
  void worker_loop(int index, uint64_t seen);

  std::mutex jobMutex_;  // one job at a time
  std::atomic<int> requested_{1};
  int running_ = 1;  // threads alive, caller included (guarded by jobMutex_)

  std::mutex wakeMutex_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  JobFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int participants_ = 0;
};

namespace detail {
// One parallel_for call, shared by its threads.
struct ParallelFor {
  int64_t numItems;
  size_t scratchFloats;
  const CancelFlag* cancel;
  void (*call)(const void* fn, int64_t item, float* scratch);
  const void* fn;
  std::atomic<int64_t> next{0};
};
void run_parallel_for(void* ctx, int worker);
}  // namespace detail

// Runs fn(item, scratch) for every item in [0, numItems) on `threads` pool
// threads (the caller included), each claiming items from one atomic counter.
// scratch: this thread's own scratchFloats floats (64-byte aligned, reused
// across calls; null when scratchFloats is 0). Threads stop claiming once
// `cancel` (may be null) is requested. A thread that cannot get its scratch
// takes no items; when no thread could, throws std::bad_alloc.
template <typename Fn>
void parallel_for(int64_t numItems, int threads, size_t scratchFloats, const CancelFlag* cancel, const Fn& fn) {
  detail::ParallelFor job{numItems, scratchFloats, cancel,
                          [](const void* f, int64_t item, float* scratch) { (*static_cast<const Fn*>(f))(item, scratch); },
                          &fn};
  ThreadPool::instance().run(threads < 1 ? 1 : threads, &detail::run_parallel_for, &job);
  if (job.next.load() < numItems && !(cancel && cancel->requested())) throw std::bad_alloc();
}

}  // namespace fa
