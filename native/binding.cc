// The module: its init and the functions that belong to no op (info,
// setThreads, setIsa, toBfloat16). The ops' entry points are in
// binding_<op>.cc, their argument guards in napi_args.*, the async calls in
// async_runtime.*. Only these binding files include napi.h; the kernels never do.
#include <napi.h>

#include <cmath>
#include <string>

#include "async_runtime.h"
#include "bf16_convert.h"
#include "binding_ops.h"
#include "dispatch.h"
#include "isa_kernels.h"
#include "napi_args.h"
#include "thread_pool.h"

namespace fa::binding {
namespace {

// toBfloat16 uses AVX512_BF16 only while the avx512 kernels are selected, so
// setIsa('avx2') makes tests (and users) run the portable path on the same CPU.
bool bf16_conversion_in_hardware() {
  return fa::bf16_hardware_supported() && std::string(fa::current_kernel().name) == "avx512";
}

// toBfloat16(src: Float32Array, dst: Uint16Array): dst[i] = bfloat16(src[i]).
Napi::Value ToBfloat16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, "expected src to be a Float32Array");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    throw_type(env, "expected dst to be a Uint16Array");
  const Napi::TypedArray src = info[0].As<Napi::TypedArray>();
  const Napi::TypedArray dst = info[1].As<Napi::TypedArray>();
  const size_t n = src.ElementLength();
  if (dst.ElementLength() != n)
    throw_range(env, "expected dst to hold " + std::to_string(n) + " elements (as many as src) but it holds " +
                         std::to_string(dst.ElementLength()));
  if (n == 0) return env.Undefined();
  fa::to_bfloat16(data_of<const float>(src), data_of<uint16_t>(dst), n, bf16_conversion_in_hardware());
  return env.Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", fa::current_kernel().name);
  Napi::Array isas = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& name : fa::supported_isas()) isas.Set(i++, name);
  o.Set("supportedIsas", isas);
  o.Set("threads", fa::ThreadPool::instance().size());
  o.Set("bf16Conversion", bf16_conversion_in_hardware() ? "avx512bf16" : "integer");
  o.Set("pendingBytes", double(pending_bytes()));
  o.Set("pendingCalls", double(live_calls()));
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type(env, "expected threads to be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= 256) || n != std::floor(n)) throw_range(env, "expected threads to be an integer in [1, 256]");
  fa::ThreadPool::instance().set_size(int(n));
  return env.Undefined();
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw_type(env, "expected isa to be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!fa::set_isa(name)) throw_range(env, "ISA '" + name + "' is not supported on this CPU");
  return env.Undefined();
}

}  // namespace
}  // namespace fa::binding

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace fa::binding;
  init_env_state(env);
  export_attention(env, exports);
  export_vision(env, exports);
  export_linear(env, exports);
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("toBfloat16", Napi::Function::New(env, ToBfloat16, "toBfloat16"));
  return exports;
}

}  // namespace

NODE_API_MODULE(fused_attention, Init)
