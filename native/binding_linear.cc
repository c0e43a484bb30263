// nn.Linear (gemm.h): one-shot calls with raw weights, packing into native
// memory owned by a tagged External (freed when the GC collects it), and
// PackedLinear.forward / forwardAsync over packed weights.
#include <memory>
#include <string>

#include "async_runtime.h"
#include "binding_ops.h"
#include "dispatch.h"
#include "gemm.h"
#include "isa_kernels.h"
#include "napi_args.h"
#include "portable.h"
#include "thread_pool.h"

namespace fa::binding {
namespace {

// Marks the Externals made by linearPack, so no other value (another addon's
// External included) is ever read as packed weights.
constexpr napi_type_tag kPackedWeightsTag = {0x3c6f0e7a91d24b58ULL, 0xa5e1f4c2b7d98e61ULL};

std::shared_ptr<const fa::PackedWeights> packed_of(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::External<PackedHandle>>().CheckTypeTag(&kPackedWeightsTag))
    throw_type(env, "expected packed to be a handle returned by linearPack");
  const std::shared_ptr<const fa::PackedWeights>& weights = v.As<Napi::External<PackedHandle>>().Data()->weights;
  if (!weights) throw Napi::Error::New(env, "fused-attention (native): the packed weights were released at shutdown");
  return weights;
}

// One checked linear call (lib/native.ts NativeLinearArgs).
struct LinearArgs {
  fa::LinearParams params;
  std::shared_ptr<const fa::PackedWeights> weights;  // set when packed
  Napi::TypedArray x, out;
  int64_t outOffset = 0;
};

LinearArgs parse_linear_args(Napi::Env env, const Napi::Object& o, bool packedOnly) {
  LinearArgs a;
  fa::LinearParams& p = a.params;
  p.M = get_dim(env, o, "rows");
  p.K = get_dim(env, o, "inFeatures");
  p.N = get_dim(env, o, "outFeatures");
  const Napi::Value packed = o.Get("packed");
  if (packedOnly || !(packed.IsNull() || packed.IsUndefined())) {
    a.weights = packed_of(env, packed);
    if (a.weights->K != p.K || a.weights->N != p.N)
      throw_range(env, "expected inFeatures and outFeatures to match the packed weights (" +
                           std::to_string(a.weights->K) + ", " + std::to_string(a.weights->N) + ")");
    p.packed = a.weights.get();
  } else {
    const Napi::TypedArray weight = get_f32(env, o, "weight", false);
    expect_length(env, weight, checked_product(env, {p.N, p.K}, "weight"), "weight", true);
    p.weight = data_of<const float>(weight);
    const Napi::TypedArray bias = get_f32(env, o, "bias", true);
    if (!bias.IsEmpty()) {
      expect_length(env, bias, p.N, "bias", true);
      p.bias = data_of<const float>(bias);
    }
  }
  a.x = get_f32(env, o, "x", false);
  expect_length(env, a.x, checked_product(env, {p.M, p.K}, "x"), "x", true);
  p.x = data_of<const float>(a.x);
  a.out = get_f32(env, o, "out", false);
  p.outStride = get_int(env, o, "outStride", p.N, kMaxDim);
  a.outOffset = get_int(env, o, "outOffset", 0, kMaxDim);
  int64_t need = checked_extent(env, {{p.M, p.outStride}, {p.N, 1}}, "out");
  if (add_overflows(need, a.outOffset, &need)) throw_range(env, "out extent overflows");
  expect_length(env, a.out, need, "out", false);
  p.out = data_of<float>(a.out) + a.outOffset;
  return a;
}

Napi::Value Linear(const Napi::CallbackInfo& info) {
  const LinearArgs a = parse_linear_args(info.Env(), args_object(info), false);
  call_kernel(info.Env(), "packed weights", [&] { fa::linear_forward(a.params); });
  return info.Env().Undefined();
}

Napi::Value LinearPack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object o = args_object(info);
  const int64_t K = get_dim(env, o, "inFeatures");
  const int64_t N = get_dim(env, o, "outFeatures");
  const Napi::TypedArray weight = get_f32(env, o, "weight", false);
  expect_length(env, weight, checked_product(env, {N, K}, "weight"), "weight", true);
  const Napi::TypedArray bias = get_f32(env, o, "bias", true);
  if (!bias.IsEmpty()) expect_length(env, bias, N, "bias", true);
  const Napi::Value dtype = o.Get("dtype");
  if (!dtype.IsString()) throw_type(env, "expected dtype to be 'float32' or 'bfloat16'");
  const std::string dtypeName = dtype.As<Napi::String>().Utf8Value();
  if (dtypeName != "float32" && dtypeName != "bfloat16") throw_range(env, "expected dtype to be 'float32' or 'bfloat16'");
  const fa::WeightType type = dtypeName == "bfloat16" ? fa::WeightType::BF16 : fa::WeightType::F32;
  std::unique_ptr<fa::PackedWeights> packed = call_kernel(env, "packed weights", [&] {
    return fa::pack_weights(data_of<const float>(weight), bias.IsEmpty() ? nullptr : data_of<const float>(bias), N, K,
                            type);
  });
  auto* handle = new PackedHandle();
  handle->bytes = int64_t(packed->bytes());
  handle->weights = std::move(packed);
  Napi::External<PackedHandle> external = Napi::External<PackedHandle>::New(env, handle, [](Napi::Env e, PackedHandle* h) {
    if (h->state) {
      h->state->packed.erase(h);
      Napi::MemoryManagement::AdjustExternalMemory(e, -h->bytes);
    }
    delete h;  // async calls in flight hold their own reference to the weights
  });
  external.TypeTag(&kPackedWeightsTag);
  handle->state = env.GetInstanceData<EnvState>();
  handle->state->packed.insert(handle);
  Napi::MemoryManagement::AdjustExternalMemory(env, handle->bytes);
  return external;
}

Napi::Value LinearPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const LinearArgs a = parse_linear_args(env, args_object(info), false);
  const fa::IsaKernel& kernel = fa::current_kernel();
  const fa::LinearPlan plan = fa::plan_linear(a.params, kernel, fa::ThreadPool::instance().size());
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", plan.path == fa::LinearPath::RowsDot ? "rows-dot" : plan.packFirst ? "pack-then-tiles" : "tiles");
  o.Set("isa", kernel.name);
  o.Set("weights", a.weights && a.weights->type == fa::WeightType::BF16 ? "bfloat16" : "float32");
  o.Set("tileRows", kernel.gemmRows);
  o.Set("blockM", double(plan.blockM));
  o.Set("blockN", double(plan.blockN));
  o.Set("blockK", double(plan.blockK));
  o.Set("threads", plan.threads);
  o.Set("workItems", double(plan.numItems));
  return o;
}

// PackedLinear.forwardAsync: linear() over packed weights on the dispatcher
// thread, with attentionAsync's safety (see AsyncCall::snapshot): x is read
// from a copy (unless shared), the out slice is always staged compactly and
// only its rows are copied back, so other columns of a wide buffer may be
// written meanwhile.
Napi::Value LinearAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object args = args_object(info);
  auto call = std::make_unique<AsyncCall>(env, "forwardAsync");
  const LinearArgs a = parse_linear_args(env, args, true);
  parse_cancel_flag(env, info, *call);
  fa::LinearParams p = a.params;
  p.cancel = &call->cancel;
  const size_t rowBytes = size_t(p.N) * sizeof(float);
  check_pending_bytes(env, *call, AsyncCall::snapshot_bytes(a.x, false) + size_t(p.M) * rowBytes);
  if (uint8_t* copy = call->snapshot(a.x, false)) p.x = reinterpret_cast<const float*>(copy);
  p.out = reinterpret_cast<float*>(call->stage_rows(a.out, size_t(p.M), rowBytes, size_t(a.outOffset) * sizeof(float),
                                                    size_t(p.outStride) * sizeof(float)));
  p.outStride = p.N;
  call->run = [p, weights = a.weights] { fa::linear_forward(p); };
  return enqueue_call(env, std::move(call));
}

}  // namespace

void export_linear(Napi::Env env, Napi::Object exports) {
  exports.Set("linear", Napi::Function::New(env, Linear, "linear"));
  exports.Set("linearPack", Napi::Function::New(env, LinearPack, "linearPack"));
  exports.Set("linearAsync", Napi::Function::New(env, LinearAsync, "linearAsync"));
  exports.Set("linearPlan", Napi::Function::New(env, LinearPlan, "linearPlan"));
}

}  // namespace fa::binding
