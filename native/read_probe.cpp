// readProbe: the read-bandwidth ceiling that decode is measured against. Each
// participating pool thread reads one contiguous part of a buffer once (8
// independent integer sums, vectorised even at baseline SSE2, far faster than
// DRAM), like a decode step streams K and V once.
#include "read_probe.h"

#include <atomic>
#include <cstring>

#include "thread_pool.h"

namespace fa {
namespace {

struct ProbeJob {
  const uint8_t* data;
  size_t bytes;
  int parts;
  std::atomic<uint64_t> checksum{0};
};

uint64_t sum_words(const uint8_t* p, size_t bytes) {
  uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 64 <= bytes; i += 64) {
    uint64_t w[8];
    std::memcpy(w, p + i, sizeof w);
    for (int k = 0; k < 8; ++k) acc[k] += w[k];
  }
  uint64_t total = 0;
  for (; i < bytes; ++i) total += p[i];
  for (int k = 0; k < 8; ++k) total += acc[k];
  return total;
}

void run_probe(void* ctx, int worker) {
  ProbeJob& job = *static_cast<ProbeJob*>(ctx);
  // Parts start on cache lines so no line is read by two threads.
  const size_t part = (job.bytes / size_t(job.parts) + 63) / 64 * 64;
  const size_t begin = part * size_t(worker);
  if (begin >= job.bytes) return;
  const size_t end = begin + part < job.bytes ? begin + part : job.bytes;
  job.checksum.fetch_add(sum_words(job.data + begin, end - begin), std::memory_order_relaxed);
}

}  // namespace

uint64_t read_probe(const uint8_t* data, size_t bytes) {
  ThreadPool& pool = ThreadPool::instance();
  ProbeJob job;
  job.data = data;
  job.bytes = bytes;
  job.parts = pool.size();
  pool.run(job.parts, &run_probe, &job);
  return job.checksum.load();
}

}  // namespace fa
