// readProbe: the read-bandwidth ceiling that decode is measured against. Each
// participating pool thread reads one contiguous part of a buffer once (SSE2
// integer sums, baseline x86-64, far faster than DRAM), like a decode step
// streams K and V once.
#include "read_probe.h"

#include <atomic>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  size_t i = 0;
  uint64_t total = 0;
#if defined(__SSE2__)
  // Four independent 16-byte sums: ~2 loads per cycle, several times DRAM speed.
  __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 64 <= bytes; i += 64) {
    a0 = _mm_add_epi64(a0, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    a1 = _mm_add_epi64(a1, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 16)));
    a2 = _mm_add_epi64(a2, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 32)));
    a3 = _mm_add_epi64(a3, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 48)));
  }
  alignas(16) uint64_t lanes[2];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3)));
  total = lanes[0] + lanes[1];
#else
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (; i + 32 <= bytes; i += 32) {
    uint64_t w0, w1, w2, w3;
    std::memcpy(&w0, p + i, 8);
    std::memcpy(&w1, p + i + 8, 8);
    std::memcpy(&w2, p + i + 16, 8);
    std::memcpy(&w3, p + i + 24, 8);
    a0 += w0;
    a1 += w1;
    a2 += w2;
    a3 += w3;
  }
  total = a0 + a1 + a2 + a3;
#endif
  for (; i < bytes; ++i) total += p[i];
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
