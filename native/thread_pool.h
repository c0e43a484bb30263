// One persistent pool for the whole process. The calling thread is worker 0;
// the pool adds (size - 1) threads that spin briefly after a job, then sleep.
// Jobs are serialised: concurrent callers (the JS thread, libuv workers, other
// worker_threads) take turns, so two cores never run more compute threads
// than the pool size.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

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

}  // namespace fa
