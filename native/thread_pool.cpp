#include "thread_pool.h"

#include <chrono>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax() { asm volatile("yield"); }
#else
static inline void cpu_relax() {}
#endif

namespace fa {
namespace {
// After a job a worker spins this long before sleeping: long enough to catch
// back-to-back calls, short enough not to steal the core from Node for long.
constexpr auto kSpin = std::chrono::microseconds(100);

int default_threads() {
  const char* env = std::getenv("FUSED_ATTENTION_THREADS");
  if (env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end && *end == '\0' && n >= 1 && n <= 256) return int(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : int(hw > 256 ? 256 : hw);
}
}  // namespace

ThreadPool& ThreadPool::instance() {
  // Never destroyed: workers may still be sleeping when the process exits,
  // and joining them from a static destructor can deadlock.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() { requested_.store(default_threads()); }

void ThreadPool::set_size(int n) { requested_.store(n < 1 ? 1 : (n > 256 ? 256 : n)); }

void ThreadPool::resize_locked(int n) {
  if (n == running_) return;
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  stop_.store(false);
  // Workers start from the current generation: a job published before a new
  // thread gets to run must still count as new for it.
  const uint64_t current = generation_.load();
  for (int i = 1; i < n; ++i) workers_.emplace_back(&ThreadPool::worker_loop, this, i, current);
  running_ = n;
}

void ThreadPool::run(int participants, JobFn fn, void* ctx) {
  std::lock_guard<std::mutex> job(jobMutex_);
  if (participants <= 1) {
    fn(ctx, 0);
    return;
  }
  const int want = requested_.load();
  resize_locked(want);
  if (participants > running_) participants = running_;
  if (participants <= 1) {
    fn(ctx, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(wakeMutex_);
    fn_ = fn;
    ctx_ = ctx;
    participants_ = participants;
    pending_.store(participants - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(ctx, 0);
  while (pending_.load(std::memory_order_acquire) != 0) cpu_relax();
}

void ThreadPool::worker_loop(int index, uint64_t seen) {
  for (;;) {
    // Spin a little for the next job, then sleep until woken.
    const auto spinUntil = std::chrono::steady_clock::now() + kSpin;
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_acquire)) {
      cpu_relax();
      if ((++spins & 255) == 0 && std::chrono::steady_clock::now() > spinUntil) {
        std::unique_lock<std::mutex> lock(wakeMutex_);
        wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
        break;
      }
    }
    if (stop_.load(std::memory_order_acquire)) return;
    JobFn fn;
    void* ctx;
    int participants;
    {
      // generation_ and the job fields change together under this lock.
      std::lock_guard<std::mutex> lock(wakeMutex_);
      seen = generation_.load(std::memory_order_acquire);
      fn = fn_;
      ctx = ctx_;
      participants = participants_;
    }
    if (index < participants) {
      fn(ctx, index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

}  // namespace fa
