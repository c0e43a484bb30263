// N-API binding: the only file that knows about JavaScript. The TypeScript
// layer validates every argument with readable messages; this file re-checks
// what protects memory (array kinds, element counts vs dims, overflow, mask
// extent) before any pointer is handed to the kernel.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <new>
#include <string>

#include "attention.h"
#include "dispatch.h"
#include "thread_pool.h"

namespace {

constexpr int64_t kMaxDim = int64_t(1) << 40;

[[noreturn]] void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, "fused-attention (native): " + msg);
}
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, "fused-attention (native): " + msg);
}

Napi::Float32Array get_f32(Napi::Env env, const Napi::Object& o, const char* name, bool optional) {
  Napi::Value v = o.Get(name);
  if (optional && (v.IsNull() || v.IsUndefined())) return Napi::Float32Array();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, std::string("expected ") + name + " to be a Float32Array");
  return v.As<Napi::Float32Array>();
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

// a * b * ... without overflow; throws RangeError on overflow.
int64_t checked_product(Napi::Env env, std::initializer_list<int64_t> dims, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n)) throw_range(env, std::string(what) + " element count overflows");
  return n;
}

void expect_length(Napi::Env env, const Napi::Float32Array& a, int64_t n, const char* name) {
  if (int64_t(a.ElementLength()) != n || (n > 0 && a.Data() == nullptr))
    throw_range(env, std::string("expected ") + name + " to hold " + std::to_string(n) + " elements but it holds " +
                         std::to_string(a.ElementLength()));
}

// Parses and checks one NativeAttentionArgs object (lib/native.ts).
fa::AttentionParams parse_args(Napi::Env env, const Napi::Object& o) {
  fa::AttentionParams p;
  p.B = get_int(env, o, "B", 1, kMaxDim);
  p.H = get_int(env, o, "H", 1, kMaxDim);
  p.Hkv = get_int(env, o, "Hkv", 1, kMaxDim);
  p.Lq = get_int(env, o, "Lq", 1, kMaxDim);
  p.Lk = get_int(env, o, "Lk", 1, kMaxDim);
  p.D = get_int(env, o, "D", 1, kMaxDim);
  p.Dv = get_int(env, o, "Dv", 1, kMaxDim);
  if (p.H % p.Hkv != 0) throw_range(env, "expected H to be a multiple of Hkv");

  Napi::Float32Array q = get_f32(env, o, "q", false);
  Napi::Float32Array k = get_f32(env, o, "k", false);
  Napi::Float32Array v = get_f32(env, o, "v", false);
  Napi::Float32Array out = get_f32(env, o, "out", false);
  Napi::Float32Array mask = get_f32(env, o, "mask", true);
  expect_length(env, q, checked_product(env, {p.B, p.H, p.Lq, p.D}, "q"), "q");
  expect_length(env, k, checked_product(env, {p.B, p.Hkv, p.Lk, p.D}, "k"), "k");
  expect_length(env, v, checked_product(env, {p.B, p.Hkv, p.Lk, p.Dv}, "v"), "v");
  expect_length(env, out, checked_product(env, {p.B, p.H, p.Lq, p.Dv}, "out"), "out");

  if (!mask.IsEmpty()) {
    p.maskStrideB = get_int(env, o, "maskStrideB", 0, kMaxDim);
    p.maskStrideH = get_int(env, o, "maskStrideH", 0, kMaxDim);
    p.maskStrideQ = get_int(env, o, "maskStrideQ", 0, kMaxDim);
    // Largest element the kernel reads: (B-1, H-1, Lq-1, Lk-1).
    int64_t last = p.Lk - 1, t = 0;
    if (__builtin_mul_overflow(p.B - 1, p.maskStrideB, &t) || __builtin_add_overflow(last, t, &last) ||
        __builtin_mul_overflow(p.H - 1, p.maskStrideH, &t) || __builtin_add_overflow(last, t, &last) ||
        __builtin_mul_overflow(p.Lq - 1, p.maskStrideQ, &t) || __builtin_add_overflow(last, t, &last))
      throw_range(env, "mask extent overflows");
    if (last >= int64_t(mask.ElementLength()) || mask.Data() == nullptr)
      throw_range(env, "expected mask to hold at least " + std::to_string(last + 1) + " elements but it holds " +
                           std::to_string(mask.ElementLength()));
    p.mask = mask.Data();
  }

  Napi::Value scale = o.Get("scale");
  if (!scale.IsNumber()) throw_type(env, "expected scale to be a number");
  const double s = scale.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(s) || s <= 0.0) throw_range(env, "expected scale to be finite and > 0");
  p.scale = float(s);
  p.causal = o.Get("causal").ToBoolean().Value();

  p.q = q.Data();
  p.k = k.Data();
  p.v = v.Data();
  p.out = out.Data();
  fa::set_contiguous_strides(p);
  return p;
}

Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  const fa::AttentionParams p = parse_args(env, info[0].As<Napi::Object>());
  try {
    fa::attention_forward(p);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "fused-attention (native): out of memory for kernel scratch");
  }
  return env.Undefined();
}

// Runs the kernel on a libuv worker thread; holds references to every buffer
// until it is done so the garbage collector cannot free them mid-call.
class AttentionWorker : public Napi::AsyncWorker {
 public:
  AttentionWorker(Napi::Env env, const Napi::Object& args, const fa::AttentionParams& p)
      : Napi::AsyncWorker(env, "fused-attention"), params_(p), deferred_(Napi::Promise::Deferred::New(env)) {
    args_ = Napi::Persistent(args);
    for (const char* name : {"q", "k", "v", "out", "mask"}) {
      Napi::Value value = args.Get(name);
      if (value.IsObject()) buffers_.push_back(Napi::Persistent(value.As<Napi::Object>()));
    }
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      fa::attention_forward(params_);
    } catch (const std::bad_alloc&) {
      SetError("fused-attention (native): out of memory for kernel scratch");
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  fa::AttentionParams params_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference args_;
  std::vector<Napi::ObjectReference> buffers_;
};

Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  Napi::Object args = info[0].As<Napi::Object>();
  const fa::AttentionParams p = parse_args(env, args);
  auto* worker = new AttentionWorker(env, args, p);
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return promise;
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionAsync", Napi::Function::New(env, AttentionAsync, "attentionAsync"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  return exports;
}

}  // namespace

NODE_API_MODULE(fused_attention, Init)
