// Argument guards shared by the binding_*.cc entry points. The TypeScript layer
// validates every argument with readable messages; these re-check only what
// protects memory (array kinds, element counts vs dims, overflow, extents)
// before any pointer is handed to a kernel.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <new>
#include <string>
#include <utility>

namespace fa::binding {

constexpr int64_t kMaxDim = int64_t(1) << 40;

[[noreturn]] void throw_type(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg);

// info[0], the arguments object every op takes; TypeError when it is not an object.
Napi::Object args_object(const Napi::CallbackInfo& info);

// Returns the typed array at o[name] when it is of the given kind, an empty
// handle when optional and null/undefined; throws TypeError otherwise.
Napi::TypedArray get_array(Napi::Env env, const Napi::Object& o, const char* name, napi_typedarray_type kind,
                           const char* kindName, bool optional);
Napi::TypedArray get_f32(Napi::Env env, const Napi::Object& o, const char* name, bool optional);
// An integer in [lo, hi] at o[name].
int64_t get_int(Napi::Env env, const Napi::Object& o, const char* name, int64_t lo, int64_t hi);
// A dimension (an integer in [1, kMaxDim]) at o[name].
inline int64_t get_dim(Napi::Env env, const Napi::Object& o, const char* name) { return get_int(env, o, name, 1, kMaxDim); }
// A finite number at o[name], > 0 (or >= 0 when zeroAllowed).
float get_positive(Napi::Env env, const Napi::Object& o, const char* name, bool zeroAllowed);

// a * b * ... without overflow; throws RangeError on overflow.
int64_t checked_product(Napi::Env env, std::initializer_list<int64_t> dims, const char* what);
// 1 + the largest element index sum_i (dims_i - 1) * strides_i, overflow-checked.
int64_t checked_extent(Napi::Env env, std::initializer_list<std::pair<int64_t, int64_t>> dimStrides, const char* what);

// Where a typed array's elements live, and whether its buffer is a
// SharedArrayBuffer (which can be neither detached nor shrunk).
struct ArrayView {
  uint8_t* data;
  size_t bytes;
  bool shared;
};
ArrayView view_of(const Napi::TypedArray& a);

// The array must hold at least `need` elements (exactly, when exact).
void expect_length(Napi::Env env, const Napi::TypedArray& a, int64_t need, const char* name, bool exact);

template <typename T>
T* data_of(const Napi::TypedArray& a) {
  return reinterpret_cast<T*>(view_of(a).data);
}

// "fused-attention (native): out of memory for <what>".
std::string out_of_memory(const char* what);

// Runs a kernel call on the JS thread; std::bad_alloc becomes a JS Error.
template <typename Fn>
auto call_kernel(Napi::Env env, const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, out_of_memory(what));
  }
}

}  // namespace fa::binding
