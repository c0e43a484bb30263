// crissCross: one criss-cross attention call (lib/native.ts
// NativeCrissCrossArgs), synchronous.
#include <string>

#include "binding_ops.h"
#include "criss_cross.h"
#include "napi_args.h"

namespace fa::binding {
namespace {

// A [B, C, H, W] image read with the strides named <prefix>StrideB/C/Y/X: checks
// that no element index passes the end of the array.
template <typename T>
T* image(Napi::Env env, const Napi::Object& o, const Napi::TypedArray& a, const char* name, int64_t B, int64_t C,
         int64_t H, int64_t W, int64_t strides[4]) {
  const std::string prefix(name);
  const char* suffixes[4] = {"StrideB", "StrideC", "StrideY", "StrideX"};
  for (int s = 0; s < 4; ++s) strides[s] = get_int(env, o, (prefix + suffixes[s]).c_str(), 0, kMaxDim);
  checked_product(env, {B, C, H, W}, name);
  const int64_t need = checked_extent(env, {{B, strides[0]}, {C, strides[1]}, {H, strides[2]}, {W, strides[3]}}, name);
  expect_length(env, a, need, name, false);
  return data_of<T>(a);
}

Napi::Value CrissCross(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object o = args_object(info);
  fa::CrissCrossParams p;
  p.B = get_dim(env, o, "B");
  p.Cqk = get_dim(env, o, "Cqk");
  p.Cv = get_dim(env, o, "Cv");
  p.H = get_dim(env, o, "H");
  p.W = get_dim(env, o, "W");
  // Per-thread scratch is criss_cross_scratch_floats(p): keep it far from overflow.
  checked_product(env, {(p.W + 15) / 16 * 16, 8 * (p.Cqk + p.H + p.W + 1), int64_t(sizeof(float))}, "scratch");
  int64_t s[4];
  p.q = image<const float>(env, o, get_f32(env, o, "q", false), "q", p.B, p.Cqk, p.H, p.W, s);
  p.qStrideB = s[0]; p.qStrideC = s[1]; p.qStrideY = s[2]; p.qStrideX = s[3];
  p.k = image<const float>(env, o, get_f32(env, o, "k", false), "k", p.B, p.Cqk, p.H, p.W, s);
  p.kStrideB = s[0]; p.kStrideC = s[1]; p.kStrideY = s[2]; p.kStrideX = s[3];
  p.v = image<const float>(env, o, get_f32(env, o, "v", false), "v", p.B, p.Cv, p.H, p.W, s);
  p.vStrideB = s[0]; p.vStrideC = s[1]; p.vStrideY = s[2]; p.vStrideX = s[3];
  p.out = image<float>(env, o, get_f32(env, o, "out", false), "o", p.B, p.Cv, p.H, p.W, s);
  p.oStrideB = s[0]; p.oStrideC = s[1]; p.oStrideY = s[2]; p.oStrideX = s[3];
  p.scale = get_positive(env, o, "scale", false);
  call_kernel(env, "kernel scratch", [&] { fa::criss_cross_forward(p); });
  return env.Undefined();
}

}  // namespace

void export_vision(Napi::Env env, Napi::Object exports) {
  exports.Set("crissCross", Napi::Function::New(env, CrissCross, "crissCross"));
}

}  // namespace fa::binding
