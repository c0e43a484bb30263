// Per-thread scratch memory: the kernels never allocate inside their loops.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#include "portable.h"

namespace fa {

// A 64-byte aligned float buffer, grown on demand and reused by every later
// call on the same thread (declare it thread_local); never shrinks.
struct ThreadScratch {
  float* data = nullptr;
  size_t floats = 0;
  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() { aligned_free(data); }
  // At least `need` floats, or null when memory is exhausted (the old buffer is then freed too).
  float* try_get(size_t need) {
    if (need > floats) {
      aligned_free(data);
      data = nullptr;
      floats = 0;
      const size_t bytes = (need * sizeof(float) + 63) / 64 * 64;
      data = static_cast<float*>(aligned_malloc(64, bytes));
      if (!data) return nullptr;
      floats = need;
    }
    return data;
  }
#if defined(__cpp_exceptions) || defined(_CPPUNWIND)
  // As try_get, but throws std::bad_alloc instead of returning null (the wasm build has no exceptions).
  float* get(size_t need) {
    float* p = try_get(need);
    if (need > 0 && !p) throw std::bad_alloc();
    return p;
  }
#endif
};

}  // namespace fa
