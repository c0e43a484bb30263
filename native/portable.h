// The few things the C++17 standard library does not give every compiler we build
// with (GCC, clang/zig, MinGW, MSVC, clang-cl): aligned allocation (MSVC has no
// std::aligned_alloc), checked integer arithmetic, and a prefetch hint.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#if defined(_WIN32)
#include <malloc.h>
#endif
#if defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#endif

namespace fa {

// `alignment` is a power of two, at least sizeof(void*); null when out of memory.
// Free with aligned_free (not std::free: on Windows the two heaps differ).
inline void* aligned_malloc(size_t alignment, size_t bytes) {
  if (bytes == 0) bytes = alignment;
#if defined(_WIN32)
  return _aligned_malloc(bytes, alignment);
#else
  void* p = nullptr;
  return posix_memalign(&p, alignment, bytes) == 0 ? p : nullptr;
#endif
}

inline void aligned_free(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

struct AlignedDeleter {
  void operator()(void* p) const { aligned_free(p); }
};

// *out = a * b (or a + b); true on overflow, like GCC's __builtin_*_overflow.
inline bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_mul_overflow(a, b, out);
#else
  if (a != 0 && b != 0) {
    const int64_t hi = std::numeric_limits<int64_t>::max(), lo = std::numeric_limits<int64_t>::min();
    if ((a > 0 && b > 0 && a > hi / b) || (a < 0 && b < 0 && a < hi / b) ||
        (a > 0 && b < 0 && b < lo / a) || (a < 0 && b > 0 && a < lo / b))
      return true;
  }
  *out = a * b;
  return false;
#endif
}

inline bool add_overflows(int64_t a, int64_t b, int64_t* out) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_add_overflow(a, b, out);
#else
  if ((b > 0 && a > std::numeric_limits<int64_t>::max() - b) || (b < 0 && a < std::numeric_limits<int64_t>::min() - b))
    return true;
  *out = a + b;
  return false;
#endif
}

// Read prefetch into L2 (a hint; nothing where the compiler has no intrinsic).
inline void prefetch_read_l2(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 2);
#elif defined(_M_X64) || defined(_M_IX86)
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1);
#else
  (void)p;
#endif
}

}  // namespace fa
