#include "thread_pool.h"

#include "cpu_budget.h"
#include "scratch.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
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

// Spinning threads call yield() every this many pauses: when the scheduler has
// put a worker on the caller's CPU (it does, e.g. when the other CPU was busy
// the moment the worker started), two spinners on one CPU would otherwise each
// burn a whole time slice per hand-off (measured: a 40 us two-thread call took
// 183 us, more than on one thread). Alone on a CPU, yield() returns at once.
constexpr int kSpinsPerYield = 256;

// The CPU the caller of the current job ran on (-1: unknown). A worker that
// finds itself on the same CPU sleeps after the job instead of spinning, so
// the next job's wake-up lets the scheduler place it on an idle CPU.
std::atomic<int> callerCpu{-1};

int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

int default_threads() {
  const char* env = std::getenv("FUSED_ATTENTION_THREADS");
  if (env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end && *end == '\0' && n >= 1 && n <= 256) return int(n);
  }
  const int cpus = available_cpus();  // affinity mask and cgroup CPU quota
  return cpus > 256 ? 256 : cpus;
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
    callerCpu.store(current_cpu(), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(ctx, 0);
  for (int spins = 1; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    cpu_relax();
    if (spins % kSpinsPerYield == 0) std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int index, uint64_t seen) {
  bool sharedCpu = false;  // the last job's caller ran on this worker's CPU
  for (;;) {
    // Spin a little for the next job (not when sharing the caller's CPU), then sleep until woken.
    const auto spinUntil = std::chrono::steady_clock::now() + (sharedCpu ? std::chrono::microseconds(0) : kSpin);
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_acquire)) {
      cpu_relax();
      if (++spins % kSpinsPerYield != 0) continue;
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() > spinUntil) {
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
      const int cpu = current_cpu();
      sharedCpu = cpu >= 0 && cpu == callerCpu.load(std::memory_order_relaxed);
      fn(ctx, index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

namespace detail {

// Each pool thread's scratch for parallel_for, kept between calls.
thread_local ThreadScratch tlsScratch;

void run_parallel_for(void* ctx, int /*worker*/) {
  ParallelFor& job = *static_cast<ParallelFor*>(ctx);
  float* scratch = nullptr;
  if (job.scratchFloats > 0) {
    try {
      scratch = tlsScratch.get(job.scratchFloats);
    } catch (const std::bad_alloc&) {
      return;  // the other threads take the items; parallel_for throws if none could
    }
  }
  for (;;) {
    if (job.cancel && job.cancel->requested()) break;
    const int64_t item = job.next.fetch_add(1, std::memory_order_relaxed);
    if (item >= job.numItems) break;
    job.call(job.fn, item, scratch);
  }
}

}  // namespace detail

}  // namespace fa
