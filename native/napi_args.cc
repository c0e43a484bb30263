#include "napi_args.h"

#include <cmath>

#include "portable.h"

namespace fa::binding {

void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, "fused-attention (native): " + msg);
}

void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, "fused-attention (native): " + msg);
}

Napi::Object args_object(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(info.Env(), "expected an arguments object");
  return info[0].As<Napi::Object>();
}

Napi::TypedArray get_array(Napi::Env env, const Napi::Object& o, const char* name, napi_typedarray_type kind,
                           const char* kindName, bool optional) {
  Napi::Value v = o.Get(name);
  if (optional && (v.IsNull() || v.IsUndefined())) return Napi::TypedArray();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind)
    throw_type(env, std::string("expected ") + name + " to be a " + kindName);
  return v.As<Napi::TypedArray>();
}

Napi::TypedArray get_f32(Napi::Env env, const Napi::Object& o, const char* name, bool optional) {
  return get_array(env, o, name, napi_float32_array, "Float32Array", optional);
}

int64_t get_int(Napi::Env env, const Napi::Object& o, const char* name, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw_type(env, std::string("expected ") + name + " to be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < double(lo) || d > double(hi))
    throw_range(env, std::string("expected ") + name + " to be an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
  return int64_t(d);
}

float get_positive(Napi::Env env, const Napi::Object& o, const char* name, bool zeroAllowed) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw_type(env, std::string("expected ") + name + " to be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0.0 || (d == 0.0 && !zeroAllowed))
    throw_range(env, std::string("expected ") + name + " to be finite and " + (zeroAllowed ? ">= 0" : "> 0"));
  return float(d);
}

int64_t checked_product(Napi::Env env, std::initializer_list<int64_t> dims, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (mul_overflows(n, d, &n)) throw_range(env, std::string(what) + " element count overflows");
  return n;
}

int64_t checked_extent(Napi::Env env, std::initializer_list<std::pair<int64_t, int64_t>> dimStrides, const char* what) {
  int64_t last = 0, t = 0;
  for (const auto& ds : dimStrides)
    if (mul_overflows(ds.first - 1, ds.second, &t) || add_overflows(last, t, &last))
      throw_range(env, std::string(what) + " extent overflows");
  return last + 1;
}

ArrayView view_of(const Napi::TypedArray& a) {
  napi_env env = a.Env();
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  bool isArrayBuffer = false;
  if (napi_get_typedarray_info(env, a, &type, &length, &data, &buffer, &offset) != napi_ok ||
      napi_is_arraybuffer(env, buffer, &isArrayBuffer) != napi_ok)
    throw Napi::Error::New(a.Env(), "fused-attention (native): cannot read a typed array");
  return {static_cast<uint8_t*>(data), a.ByteLength(), !isArrayBuffer};
}

void expect_length(Napi::Env env, const Napi::TypedArray& a, int64_t need, const char* name, bool exact) {
  const int64_t have = int64_t(a.ElementLength());
  if ((exact ? have != need : have < need) || (need > 0 && view_of(a).data == nullptr))
    throw_range(env, std::string("expected ") + name + " to hold " + (exact ? "" : "at least ") + std::to_string(need) +
                         " elements but it holds " + std::to_string(have));
}

std::string out_of_memory(const char* what) { return std::string("fused-attention (native): out of memory for ") + what; }

}  // namespace fa::binding
