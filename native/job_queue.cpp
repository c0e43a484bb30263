#include "job_queue.h"

namespace fa {

JobQueue& JobQueue::instance() {
  // Never destroyed: the dispatcher may be waiting when the process exits.
  static JobQueue* queue = new JobQueue();
  return *queue;
}

bool JobQueue::push(Task task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_ >= kMaxPending) return false;
    ++pending_;
    tasks_.push_back(std::move(task));
    if (!started_) {
      started_ = true;
      dispatcher_ = std::thread(&JobQueue::run, this);
      dispatcher_.detach();
    }
  }
  ready_.notify_one();
  return true;
}

void JobQueue::run() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [&] { return !tasks_.empty(); });
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
    std::lock_guard<std::mutex> lock(mutex_);
    --pending_;
  }
}

}  // namespace fa
