// attention, attentionAsync and plan: one NativeAttentionArgs object
// (lib/native.ts) parsed and checked into fa::AttentionParams.
#include <memory>
#include <string>

#include "async_runtime.h"
#include "attention.h"
#include "binding_ops.h"
#include "dispatch.h"
#include "isa_kernels.h"
#include "napi_args.h"
#include "thread_pool.h"

namespace fa::binding {
namespace {

// A [.., L, last] tensor read with strides: reads its three strides (b, h, row)
// into `strides`, and checks they reach no element past the end of the array.
// The last dim is contiguous, or, when `sk` names a stride, read with that
// stride (0 or 1: a mask broadcast over the keys, or not).
template <typename T>
T* strided(Napi::Env env, const Napi::Object& o, const Napi::TypedArray& a, const char* name, int64_t B, int64_t H,
           int64_t L, int64_t last, const char* sb, const char* sh, const char* sl, int64_t* strideB, int64_t* strideH,
           int64_t* strideL, const char* sk = nullptr, int64_t* strideK = nullptr) {
  *strideB = get_int(env, o, sb, 0, kMaxDim);
  *strideH = get_int(env, o, sh, 0, kMaxDim);
  *strideL = get_int(env, o, sl, 0, kMaxDim);
  const int64_t lastStride = sk ? (*strideK = get_int(env, o, sk, 0, 1)) : 1;
  const int64_t need = checked_extent(env, {{B, *strideB}, {H, *strideH}, {L, *strideL}, {last, lastStride}}, name);
  expect_length(env, a, need, name, false);
  return data_of<T>(a);
}

// The storage type of K and V: both Float32Array (fp32) or both Uint16Array
// (bfloat16 bit patterns); anything else is a TypeError.
fa::KvType kv_type(Napi::Env env, const Napi::Object& o) {
  auto kind = [&](const char* name) -> napi_typedarray_type {
    Napi::Value v = o.Get(name);
    if (v.IsTypedArray()) {
      const napi_typedarray_type t = v.As<Napi::TypedArray>().TypedArrayType();
      if (t == napi_float32_array || t == napi_uint16_array) return t;
    }
    throw_type(env, std::string("expected ") + name + " to be a Float32Array or a Uint16Array (bfloat16)");
  };
  const napi_typedarray_type k = kind("k"), v = kind("v");
  auto name = [](napi_typedarray_type t) { return t == napi_float32_array ? "Float32Array" : "Uint16Array"; };
  if (k != v)
    throw_type(env, std::string("expected k and v to be the same kind of array (both Float32Array or both Uint16Array) "
                                "but received k: ") + name(k) + ", v: " + name(v));
  return k == napi_uint16_array ? fa::KvType::BF16 : fa::KvType::F32;
}

// Stands in for lse / weights when plan() parses a call: the planner asks
// only whether they are wanted and never touches their memory.
float gPlanOnlyOutput = 0.0f;

// Parses and checks one NativeAttentionArgs object (lib/native.ts). With
// withOutputs false (plan()), out, lse and weights are neither checked nor
// pointed to, so explain() can pass empty placeholders instead of buffers
// the size of the problem.
fa::AttentionParams parse_args(Napi::Env env, const Napi::Object& o, bool withOutputs = true) {
  fa::AttentionParams p;
  p.B = get_dim(env, o, "B");
  p.H = get_dim(env, o, "H");
  p.Hkv = get_dim(env, o, "Hkv");
  p.Lq = get_dim(env, o, "Lq");
  p.Lk = get_dim(env, o, "Lk");
  p.D = get_dim(env, o, "D");
  p.Dv = get_dim(env, o, "Dv");
  if (p.H % p.Hkv != 0) throw_range(env, "expected H to be a multiple of Hkv");

  const Napi::TypedArray q = get_f32(env, o, "q", false);
  p.kvType = kv_type(env, o);
  const Napi::TypedArray k = o.Get("k").As<Napi::TypedArray>();
  const Napi::TypedArray v = o.Get("v").As<Napi::TypedArray>();
  const Napi::TypedArray out = get_f32(env, o, "out", false);
  p.q = strided<const float>(env, o, q, "q", p.B, p.H, p.Lq, p.D, "qStrideB", "qStrideH", "qStrideL", &p.qStrideB,
                             &p.qStrideH, &p.qStrideL);
  // Extents are in elements of either kind (expect_length counts elements).
  p.k = strided<const void>(env, o, k, "k", p.B, p.Hkv, p.Lk, p.D, "kStrideB", "kStrideH", "kStrideL", &p.kStrideB,
                            &p.kStrideH, &p.kStrideL);
  p.v = strided<const void>(env, o, v, "v", p.B, p.Hkv, p.Lk, p.Dv, "vStrideB", "vStrideH", "vStrideL", &p.vStrideB,
                            &p.vStrideH, &p.vStrideL);
  if (withOutputs)
    p.out = strided<float>(env, o, out, "out", p.B, p.H, p.Lq, p.Dv, "oStrideB", "oStrideH", "oStrideL", &p.oStrideB,
                           &p.oStrideH, &p.oStrideL);

  const Napi::TypedArray mask = get_f32(env, o, "mask", true);
  if (!mask.IsEmpty())
    p.mask = strided<const float>(env, o, mask, "mask", p.B, p.H, p.Lq, p.Lk, "maskStrideB", "maskStrideH",
                                  "maskStrideQ", &p.maskStrideB, &p.maskStrideH, &p.maskStrideQ, "maskStrideK",
                                  &p.maskStrideK);
  const Napi::TypedArray boolMask = get_array(env, o, "boolMask", napi_uint8_array, "Uint8Array", true);
  if (!boolMask.IsEmpty())
    p.boolMask = strided<const uint8_t>(env, o, boolMask, "boolMask", p.B, p.H, p.Lq, p.Lk, "boolMaskStrideB",
                                        "boolMaskStrideH", "boolMaskStrideQ", &p.boolMaskStrideB, &p.boolMaskStrideH,
                                        &p.boolMaskStrideQ, "boolMaskStrideK", &p.boolMaskStrideK);
  const Napi::TypedArray keyPadding = get_array(env, o, "keyPadding", napi_uint8_array, "Uint8Array", true);
  if (!keyPadding.IsEmpty()) {
    expect_length(env, keyPadding, checked_product(env, {p.B, p.Lk}, "keyPadding"), "keyPadding", true);
    p.keyPadding = data_of<const uint8_t>(keyPadding);
  }
  const Napi::TypedArray keyLengths = get_array(env, o, "keyLengths", napi_int32_array, "Int32Array", true);
  if (!keyLengths.IsEmpty()) {
    expect_length(env, keyLengths, p.B, "keyLengths", true);
    p.keyLengths = data_of<const int32_t>(keyLengths);
    // Values are read by the kernel as loop bounds: clamp-check them here.
    for (int64_t b = 0; b < p.B; ++b)
      if (p.keyLengths[b] < 0 || p.keyLengths[b] > p.Lk) throw_range(env, "expected keyLengths values in [0, Lk]");
  }
  const Napi::TypedArray alibi = get_f32(env, o, "alibiSlopes", true);
  if (!alibi.IsEmpty()) {
    expect_length(env, alibi, p.H, "alibiSlopes", true);
    p.alibiSlopes = data_of<const float>(alibi);
  }
  const Napi::TypedArray lse = get_f32(env, o, "lse", true);
  if (!lse.IsEmpty() && !withOutputs) {
    p.lse = &gPlanOnlyOutput;
  } else if (!lse.IsEmpty()) {
    expect_length(env, lse, checked_product(env, {p.B, p.H, p.Lq}, "lse"), "lse", true);
    p.lse = data_of<float>(lse);
  }
  const Napi::TypedArray weights = get_f32(env, o, "weights", true);
  if (!weights.IsEmpty() && !withOutputs) {
    p.weights = &gPlanOnlyOutput;
  } else if (!weights.IsEmpty()) {
    expect_length(env, weights, checked_product(env, {p.B, p.H, p.Lq, p.Lk}, "weights"), "weights", true);
    p.weights = data_of<float>(weights);
  }

  p.alignOffset = get_int(env, o, "alignOffset", -kMaxDim, kMaxDim);
  // Optional (absent = null): any int32 is a valid offset (positions are int64 in the kernel).
  const Napi::TypedArray rowOffsets = get_array(env, o, "rowOffsets", napi_int32_array, "Int32Array", true);
  if (!rowOffsets.IsEmpty()) {
    expect_length(env, rowOffsets, p.B, "rowOffsets", true);
    p.rowOffsets = data_of<const int32_t>(rowOffsets);
  }
  p.windowLeft = get_int(env, o, "windowLeft", -1, kMaxDim);
  p.windowRight = get_int(env, o, "windowRight", -1, kMaxDim);
  p.scale = get_positive(env, o, "scale", false);
  p.softcap = get_positive(env, o, "softcap", true);
  return p;
}

template <typename T>
void rebase(T*& field, const uint8_t* oldBase, uint8_t* newBase) {
  if (field) field = reinterpret_cast<T*>(newBase + (reinterpret_cast<const uint8_t*>(field) - oldBase));
}

// Points one AttentionParams field from its array into the call's copy of it.
template <auto Field>
void rebase_field(fa::AttentionParams& p, const uint8_t* oldBase, uint8_t* newBase) {
  rebase(p.*Field, oldBase, newBase);
}

// Every typed array of an attention call: its name in NativeAttentionArgs,
// whether the kernel writes it, and the AttentionParams field that points to it.
struct AttentionBuffer {
  const char* name;
  bool output;
  void (*rebase)(fa::AttentionParams&, const uint8_t* oldBase, uint8_t* newBase);
};
constexpr AttentionBuffer kAttentionBuffers[] = {
    {"q", false, &rebase_field<&fa::AttentionParams::q>},
    {"k", false, &rebase_field<&fa::AttentionParams::k>},
    {"v", false, &rebase_field<&fa::AttentionParams::v>},
    {"mask", false, &rebase_field<&fa::AttentionParams::mask>},
    {"boolMask", false, &rebase_field<&fa::AttentionParams::boolMask>},
    {"keyPadding", false, &rebase_field<&fa::AttentionParams::keyPadding>},
    {"keyLengths", false, &rebase_field<&fa::AttentionParams::keyLengths>},
    {"rowOffsets", false, &rebase_field<&fa::AttentionParams::rowOffsets>},
    {"alibiSlopes", false, &rebase_field<&fa::AttentionParams::alibiSlopes>},
    {"out", true, &rebase_field<&fa::AttentionParams::out>},
    {"lse", true, &rebase_field<&fa::AttentionParams::lse>},
    {"weights", true, &rebase_field<&fa::AttentionParams::weights>},
};

Napi::Value Attention(const Napi::CallbackInfo& info) {
  const fa::AttentionParams p = parse_args(info.Env(), args_object(info));
  call_kernel(info.Env(), "kernel scratch", [&] { fa::attention_forward(p); });
  return info.Env().Undefined();
}

// attention() on the dispatcher thread, over copies of the buffers (see
// AsyncCall::snapshot).
Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object args = args_object(info);
  auto call = std::make_unique<AsyncCall>(env, "attentionAsync");
  fa::AttentionParams p = parse_args(env, args);
  parse_cancel_flag(env, info, *call);
  p.cancel = &call->cancel;
  size_t need = 0;
  for (const AttentionBuffer& buffer : kAttentionBuffers) {
    const Napi::Value value = args.Get(buffer.name);
    if (value.IsTypedArray()) need += AsyncCall::snapshot_bytes(value.As<Napi::TypedArray>(), buffer.output);
  }
  check_pending_bytes(env, *call, need);
  for (const AttentionBuffer& buffer : kAttentionBuffers) {
    const Napi::Value value = args.Get(buffer.name);
    if (!value.IsTypedArray()) continue;
    const Napi::TypedArray array = value.As<Napi::TypedArray>();
    if (uint8_t* copy = call->snapshot(array, buffer.output)) buffer.rebase(p, view_of(array).data, copy);
  }
  call->run = [p] { fa::attention_forward(p); };
  return enqueue_call(env, std::move(call));
}

Napi::Value Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const fa::AttentionParams p = parse_args(env, args_object(info), false);
  const fa::IsaKernel& kernel = fa::current_kernel();
  const fa::KernelPlan plan = fa::plan_attention(p, kernel, fa::ThreadPool::instance().size());
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", plan.path == fa::KernelPath::DecodeSplitK ? "decode-split-k" : "tiled");
  o.Set("isa", kernel.name);
  o.Set("blockQ", double(plan.blockQ));
  o.Set("blockK", double(plan.blockK));
  o.Set("threads", plan.threads);
  o.Set("workItems", double(plan.numItems));
  o.Set("scratchBytes", double(plan.scratchFloats * sizeof(float) * size_t(plan.threads)));
  return o;
}

}  // namespace

void export_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionAsync", Napi::Function::New(env, AttentionAsync, "attentionAsync"));
  exports.Set("plan", Napi::Function::New(env, Plan, "plan"));
}

}  // namespace fa::binding
