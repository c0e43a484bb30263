// The package's own asynchronous executor: one dispatcher thread takes queued
// tasks in order and runs them (each on the kernel thread pool, the dispatcher
// being worker 0). attentionAsync never occupies libuv's threadpool, which Node
// needs for fs, dns and crypto.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace fa {

class JobQueue {
 public:
  using Task = std::function<void()>;

  // Tasks queued or running at once, process-wide; push() refuses more.
  static constexpr size_t kMaxPending = 10000;

  static JobQueue& instance();

  // Queues a task; false (and nothing queued) when kMaxPending are pending.
  bool push(Task task);

 private:
  JobQueue() = default;
  void run();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Task> tasks_;
  size_t pending_ = 0;  // queued + running
  bool started_ = false;
  std::thread dispatcher_;
};

}  // namespace fa
