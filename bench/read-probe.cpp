// The read-bandwidth ceiling that bench/decode.js measures a decode step
// against: `threads` threads each read one contiguous part of a buffer once,
// like a decode step streams K and V once. Buffers rotate over >= 256 MiB so
// every read comes from DRAM. Not part of the addon: decode.js compiles it
// with the system compiler (baseline flags: SSE2 integer sums on x86-64, far
// faster than DRAM).
//
//   read-probe <bytes> <threads> <reps>   prints the median ms of one read
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace {

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
    uint64_t w[4];
    std::memcpy(w, p + i, sizeof w);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
  }
  total = a0 + a1 + a2 + a3;
#endif
  for (; i < bytes; ++i) total += p[i];
  return total;
}

// Part `worker` of `parts` of a buffer; parts start on cache lines so no line is read by two threads.
uint64_t read_part(const uint8_t* data, size_t bytes, int parts, int worker) {
  const size_t part = (bytes / size_t(parts) + 63) / 64 * 64;
  const size_t begin = part * size_t(worker);
  if (begin >= bytes) return 0;
  const size_t end = std::min(begin + part, bytes);
  return sum_words(data + begin, end - begin);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: read-probe <bytes> <threads> <reps>\n");
    return 2;
  }
  const size_t bytes = std::strtoull(argv[1], nullptr, 10);
  const int threads = std::max(1, std::atoi(argv[2]));
  const int reps = std::max(1, std::atoi(argv[3]));
  const size_t rotateBytes = size_t(256) << 20;
  const size_t count = std::max<size_t>(2, (rotateBytes + bytes - 1) / bytes);
  std::vector<std::vector<uint8_t>> buffers;
  for (size_t c = 0; c < count; ++c) buffers.emplace_back(bytes, uint8_t(c + 1));

  // Workers 1..threads-1 spin on `round` (as the addon's pool does between back-to-back calls).
  std::atomic<int> round{0}, done{0};
  std::atomic<uint64_t> checksum{0};
  std::atomic<bool> stop{false};
  const uint8_t* current = nullptr;
  std::vector<std::thread> workers;
  for (int w = 1; w < threads; ++w)
    workers.emplace_back([&, w] {
      for (int seen = 0;;) {
        while (round.load(std::memory_order_acquire) == seen && !stop.load(std::memory_order_acquire)) std::this_thread::yield();
        if (stop.load()) return;
        seen = round.load();
        checksum.fetch_add(read_part(current, bytes, threads, w), std::memory_order_relaxed);
        done.fetch_add(1, std::memory_order_acq_rel);
      }
    });

  auto read_once = [&](size_t i) {
    current = buffers[i % count].data();
    done.store(0);
    round.fetch_add(1, std::memory_order_release);
    checksum.fetch_add(read_part(current, bytes, threads, 0), std::memory_order_relaxed);
    while (done.load(std::memory_order_acquire) != threads - 1) std::this_thread::yield();
  };
  for (size_t i = 0; i < 4; ++i) read_once(i);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    read_once(size_t(i));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  stop.store(true);
  for (std::thread& t : workers) t.join();
  std::sort(ms.begin(), ms.end());
  // The checksum goes to stderr so the reads cannot be optimised away.
  std::fprintf(stderr, "checksum %llu\n", static_cast<unsigned long long>(checksum.load()));
  std::printf("%.4f\n", ms[ms.size() / 2]);
  return 0;
}
