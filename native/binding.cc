// N-API binding: the only file that knows about JavaScript. The TypeScript
// layer validates every argument with readable messages; this file re-checks
// what protects memory (array kinds, element counts vs dims, overflow, mask
// extent) before any pointer is handed to the kernel.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cstring>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <vector>
#include <cstdint>
#include <new>
#include <string>
#include <unordered_set>

#include "attention.h"
#include "bf16_convert.h"
#include "criss_cross.h"
#include "dispatch.h"
#include "gemm.h"
#include "job_queue.h"
#include "read_probe.h"
#include "thread_pool.h"

namespace {

constexpr int64_t kMaxDim = int64_t(1) << 40;

[[noreturn]] void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, "fused-attention (native): " + msg);
}
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, "fused-attention (native): " + msg);
}

// Returns the typed array at o[name] when it is of the given kind, an empty
// handle when optional and null/undefined; throws TypeError otherwise.
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

// a * b * ... without overflow; throws RangeError on overflow.
int64_t checked_product(Napi::Env env, std::initializer_list<int64_t> dims, const char* what) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n)) throw_range(env, std::string(what) + " element count overflows");
  return n;
}

// 1 + the largest element index sum_i (dims_i - 1) * strides_i, overflow-checked.
int64_t checked_extent(Napi::Env env, std::initializer_list<std::pair<int64_t, int64_t>> dimStrides, const char* what) {
  int64_t last = 0, t = 0;
  for (const auto& ds : dimStrides)
    if (__builtin_mul_overflow(ds.first - 1, ds.second, &t) || __builtin_add_overflow(last, t, &last))
      throw_range(env, std::string(what) + " extent overflows");
  return last + 1;
}

// Where a typed array's elements live, and whether its buffer is a
// SharedArrayBuffer (which can be neither detached nor shrunk).
struct ArrayView {
  uint8_t* data;
  size_t bytes;
  bool shared;
};

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

// The array must hold at least `need` elements (exactly, when exact).
void expect_length(Napi::Env env, const Napi::TypedArray& a, int64_t need, const char* name, bool exact) {
  const int64_t have = int64_t(a.ElementLength());
  if ((exact ? have != need : have < need) || (need > 0 && view_of(a).data == nullptr))
    throw_range(env, std::string("expected ") + name + " to hold " + (exact ? "" : "at least ") + std::to_string(need) +
                         " elements but it holds " + std::to_string(have));
}

template <typename T>
T* data_of(const Napi::TypedArray& a) {
  return reinterpret_cast<T*>(view_of(a).data);
}

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
  p.B = get_int(env, o, "B", 1, kMaxDim);
  p.H = get_int(env, o, "H", 1, kMaxDim);
  p.Hkv = get_int(env, o, "Hkv", 1, kMaxDim);
  p.Lq = get_int(env, o, "Lq", 1, kMaxDim);
  p.Lk = get_int(env, o, "Lk", 1, kMaxDim);
  p.D = get_int(env, o, "D", 1, kMaxDim);
  p.Dv = get_int(env, o, "Dv", 1, kMaxDim);
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

  Napi::Value scale = o.Get("scale");
  if (!scale.IsNumber()) throw_type(env, "expected scale to be a number");
  const double s = scale.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(s) || s <= 0.0) throw_range(env, "expected scale to be finite and > 0");
  p.scale = float(s);
  Napi::Value softcap = o.Get("softcap");
  if (!softcap.IsNumber()) throw_type(env, "expected softcap to be a number");
  const double cap = softcap.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(cap) || cap < 0.0) throw_range(env, "expected softcap to be finite and >= 0");
  p.softcap = float(cap);
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

// ---- attentionAsync -------------------------------------------------------
// Calls run on the package's own dispatcher thread (job_queue.h), not on
// libuv's pool. Results come back to the JS thread of the calling environment
// through one thread-safe function per environment (main thread or worker),
// which keeps the event loop alive only while calls are outstanding.

struct EnvState;

// Bytes of input snapshots and output staging held by pending async calls,
// process-wide. A call that would push it past kMaxPendingBytes is refused
// (unless nothing else is pending), so a flood of queued calls cannot grow
// memory without bound.
constexpr size_t kMaxPendingBytes = size_t(2) << 30;
std::atomic<size_t> gPendingBytes{0};
// AsyncCall objects alive, process-wide (info().pendingCalls).
std::atomic<size_t> gLiveCalls{0};

// One async call. Exactly one party owns it at a time, and that party deletes
// it: the dispatcher (execute) from enqueue until it hands the call to deliver
// through the thread-safe function; deliver on the JS thread; cleanup_env for
// the calls of a closing environment that are Finished; and the dispatcher
// again for an Orphaned call (its environment closed before it started).
struct AsyncCall {
  enum class Stage {
    Queued,    // waiting for the dispatcher
    Running,   // the kernel reads its buffers: teardown waits for it
    Finished,  // the kernel finished or was skipped
    Orphaned,  // its environment closed first: no handles, no copies left
  };
  fa::AttentionParams params;
  // A PackedLinear.forwardAsync call runs linear_forward(linear) instead; its
  // cancel flags are set in both params and linear.
  bool isLinear = false;
  fa::LinearParams linear;
  std::shared_ptr<const fa::PackedWeights> weights;  // kept alive until the call is deleted
  const char* op = "attentionAsync";  // for messages
  size_t copiedBytes = 0;  // counted in gPendingBytes until release_copies
  std::atomic<bool> cancelled{false};
  Stage stage = Stage::Queued;  // guarded by EnvState::mutex
  std::string error;       // set on failure
  bool aborted = false;
  Napi::Promise::Deferred deferred;
  std::vector<Napi::ObjectReference> refs;  // shared arrays read in place, and the cancel flag
  // Snapshots of inputs and staging buffers of outputs (see snapshot_buffers).
  std::vector<std::unique_ptr<uint8_t[]>> copies;
  struct Output {
    Napi::ObjectReference array;
    const uint8_t* staged;
    size_t bytes;
    // rows > 0: only `rows` rows of rowBytes, staged back to back, are copied
    // back, to byte offset + r * strideBytes of the array (linear's out slice
    // in a wider buffer: the other columns may be written meanwhile).
    size_t rows = 0, rowBytes = 0, offset = 0, strideBytes = 0;
  };
  std::vector<Output> outputs;
  std::shared_ptr<EnvState> state;  // kept alive for the dispatcher even after teardown
  AsyncCall(Napi::Env env, EnvState* s);
  ~AsyncCall() {
    release_copies();
    --gLiveCalls;
  }
  // Frees the buffer copies and returns their bytes to the budget; idempotent, any thread.
  void release_copies() {
    copies.clear();
    gPendingBytes.fetch_sub(copiedBytes);
    copiedBytes = 0;
  }
  // An Orphaned call keeps no JS handle (JS thread, environment still alive) and no copy.
  void orphan() {
    refs.clear();
    outputs.clear();
    release_copies();
    stage = Stage::Orphaned;
  }
};

// Packed nn.Linear weights behind a JS External (LinearPack). Registered in
// its environment's EnvState until the External's finalizer runs; an
// environment torn down first (a worker calling process.exit() skips those
// finalizers) releases the weights in cleanup_env, and the finalizer, if it
// ever runs, then only deletes this small handle.
struct PackedHandle {
  std::shared_ptr<const fa::PackedWeights> weights;
  EnvState* state = nullptr;  // null once cleanup_env released the weights
  int64_t bytes = 0;          // reported to the GC as external memory
};

// Owned by the environment (until cleanup_env) and by each of its calls.
struct EnvState : std::enable_shared_from_this<EnvState> {
  Napi::ThreadSafeFunction tsfn;
  std::unordered_set<PackedHandle*> packed;  // live packed weights (JS thread only)
  std::mutex mutex;
  std::condition_variable finished;
  std::vector<AsyncCall*> calls;  // outstanding on this environment
  int delivering = 0;             // dispatcher calls into tsfn under way
  bool closing = false;           // teardown started: no new tsfn calls
};

AsyncCall::AsyncCall(Napi::Env env, EnvState* s) : deferred(Napi::Promise::Deferred::New(env)), state(s->shared_from_this()) {
  ++gLiveCalls;
}

template <typename T>
void rebase(T*& field, const uint8_t* oldBase, uint8_t* newBase) {
  if (field) field = reinterpret_cast<T*>(newBase + (reinterpret_cast<const uint8_t*>(field) - oldBase));
}

// An ArrayBuffer can be detached (transferred) or shrunk (resizable buffers)
// by JS while the kernel still reads it on another thread, which would be a use
// after free. So an async call works on private copies: inputs are copied in
// once (one memcpy, small next to the kernel's own passes over them), outputs
// are staged and copied back on the JS thread when the call settles.
// SharedArrayBuffer-backed inputs can be neither detached nor shrunk: read in
// place. Shared outputs are staged too, so that an aborted call writes nothing.
void snapshot_buffers(const Napi::Object& args, AsyncCall* call) {
  fa::AttentionParams& p = call->params;
  auto copy_of = [&](const char* name, bool output) -> std::pair<const uint8_t*, uint8_t*> {
    Napi::Value value = args.Get(name);
    if (!value.IsTypedArray()) return {nullptr, nullptr};
    const Napi::TypedArray array = value.As<Napi::TypedArray>();
    const ArrayView view = view_of(array);
    if ((view.shared && !output) || view.bytes == 0) return {nullptr, nullptr};
    std::unique_ptr<uint8_t[]> copy(new uint8_t[view.bytes]);
    call->copiedBytes += view.bytes;
    std::memcpy(copy.get(), view.data, view.bytes);  // outputs too: elements the kernel skips keep their values
    uint8_t* fresh = copy.get();
    if (output) call->outputs.push_back({Napi::Persistent(array.As<Napi::Object>()), fresh, view.bytes});
    call->copies.push_back(std::move(copy));
    return {view.data, fresh};
  };
  std::pair<const uint8_t*, uint8_t*> c;
  c = copy_of("q", false); rebase(p.q, c.first, c.second);
  c = copy_of("k", false); rebase(p.k, c.first, c.second);
  c = copy_of("v", false); rebase(p.v, c.first, c.second);
  c = copy_of("mask", false); rebase(p.mask, c.first, c.second);
  c = copy_of("boolMask", false); rebase(p.boolMask, c.first, c.second);
  c = copy_of("keyPadding", false); rebase(p.keyPadding, c.first, c.second);
  c = copy_of("keyLengths", false); rebase(p.keyLengths, c.first, c.second);
  c = copy_of("rowOffsets", false); rebase(p.rowOffsets, c.first, c.second);
  c = copy_of("alibiSlopes", false); rebase(p.alibiSlopes, c.first, c.second);
  c = copy_of("out", true); rebase(p.out, c.first, c.second);
  c = copy_of("lse", true); rebase(p.lse, c.first, c.second);
  c = copy_of("weights", true); rebase(p.weights, c.first, c.second);
}

// Copies staged outputs back into the caller's arrays (JS thread). False when
// one was detached or resized meanwhile.
bool copy_back(AsyncCall* call) {
  for (AsyncCall::Output& o : call->outputs) {
    const ArrayView view = view_of(o.array.Value().As<Napi::TypedArray>());
    if (view.bytes != o.bytes || view.data == nullptr) return false;
    if (o.rows == 0)
      std::memcpy(view.data, o.staged, o.bytes);
    else
      for (size_t r = 0; r < o.rows; ++r)
        std::memcpy(view.data + o.offset + r * o.strideBytes, o.staged + r * o.rowBytes, o.rowBytes);
  }
  return true;
}

void deliver(Napi::Env env, Napi::Function, AsyncCall* call) {
  // node-addon-api never calls back for the items the tsfn drops at teardown;
  // if it did, cleanup_env has already deleted their calls.
  if (static_cast<napi_env>(env) == nullptr) return;
  EnvState* state = call->state.get();
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    assert(call->stage == AsyncCall::Stage::Finished && !state->closing);
    state->calls.erase(std::find(state->calls.begin(), state->calls.end(), call));
    if (state->calls.empty()) state->tsfn.Unref(env);
  }
  // Settling can fail while a worker environment is being torn down; nothing
  // may propagate out of this callback.
  try {
    // The cancel word is read again here: the caller may have aborted (and its
    // promise rejected) after the kernel finished, and then nothing may be written.
    if (call->aborted || fa::is_cancelled(call->params)) {
      Napi::Error e = Napi::Error::New(env, "fused-attention (native): aborted");
      e.Set("name", Napi::String::New(env, "AbortError"));
      call->deferred.Reject(e.Value());
    } else if (!call->error.empty()) {
      call->deferred.Reject(Napi::Error::New(env, call->error).Value());
    } else if (!copy_back(call)) {
      call->deferred.Reject(Napi::RangeError::New(env, std::string("fused-attention (native): an output buffer was detached or resized while ") + call->op + " ran").Value());
    } else {
      call->deferred.Resolve(env.Undefined());
    }
  } catch (...) {
  }
  delete call;  // releases the buffer references, on the JS thread
}

// Runs on the dispatcher thread.
void execute(AsyncCall* call) {
  const std::shared_ptr<EnvState> state = call->state;  // outlives `call` in here
  std::unique_lock<std::mutex> lock(state->mutex);
  if (call->stage == AsyncCall::Stage::Orphaned) {
    lock.unlock();
    delete call;
    return;
  }
  // Decided under the lock: cleanup_env sets `cancelled` under it, so the JS
  // cancel word is never read once its environment may be gone.
  const bool skipped = fa::is_cancelled(call->params);
  if (!skipped) {
    call->stage = AsyncCall::Stage::Running;
    lock.unlock();
    try {
      if (call->isLinear)
        fa::linear_forward(call->linear);
      else
        fa::attention_forward(call->params);
    } catch (const std::bad_alloc&) {
      call->error = "fused-attention (native): out of memory for kernel scratch";
    }
    lock.lock();
  }
  call->aborted = skipped || fa::is_cancelled(call->params);
  call->stage = AsyncCall::Stage::Finished;
  state->finished.notify_all();
  if (state->closing) return;  // cleanup_env deletes it
  ++state->delivering;
  lock.unlock();
  // Fails only once the environment closes; the call then stays in
  // state->calls, Finished, and cleanup_env deletes it.
  state->tsfn.BlockingCall(call, deliver);
  lock.lock();
  --state->delivering;
  state->finished.notify_all();
}

// Environment teardown (a worker thread exiting, or the process), on the JS
// thread with the environment still alive. Cancels this environment's calls
// and waits only for a running kernel (which stops at its next work item) and
// for the dispatcher to leave BlockingCall, never for queued calls (the
// dispatcher may be busy with other environments' work). Then Finished calls
// are deleted here (the tsfn is aborted, so their deliver never runs) and
// queued ones are orphaned: handles and copies released now, the small rest
// deleted by the dispatcher when it reaches them. Registered after the tsfn,
// so it runs before the tsfn's own teardown.
void cleanup_env(void* arg) {
  const std::unique_ptr<std::shared_ptr<EnvState>> owner(static_cast<std::shared_ptr<EnvState>*>(arg));
  EnvState* state = owner->get();
  {
    std::unique_lock<std::mutex> lock(state->mutex);
    state->closing = true;
    for (AsyncCall* call : state->calls) call->cancelled.store(true);
    state->finished.wait(lock, [&] {
      return state->delivering == 0 && std::none_of(state->calls.begin(), state->calls.end(), [](AsyncCall* call) {
               return call->stage == AsyncCall::Stage::Running;
             });
    });
    for (AsyncCall* call : state->calls) {
      if (call->stage == AsyncCall::Stage::Finished) {
        delete call;
      } else {
        assert(call->stage == AsyncCall::Stage::Queued);
        call->orphan();
      }
    }
    state->calls.clear();
  }
  for (PackedHandle* handle : state->packed) {
    handle->weights.reset();  // async calls still in flight hold their own reference
    handle->state = nullptr;
  }
  state->packed.clear();
  state->tsfn.Abort();
}

// Instance-data finalizer: cleanup_env releases the environment's share of the state.
void keep_state(Napi::Env, EnvState*) {}

// The optional cancel flag of an async call (an Int32Array cell the JS side
// sets on abort); referenced until the call settles.
void parse_cancel_flag(Napi::Env env, const Napi::CallbackInfo& info, AsyncCall* call) {
  if (info.Length() < 2 || info[1].IsUndefined() || info[1].IsNull()) return;
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[1].As<Napi::TypedArray>().ElementLength() < 1)
    throw_type(env, "expected the cancel flag to be an Int32Array of length >= 1");
  Napi::TypedArray flag = info[1].As<Napi::TypedArray>();
  call->params.cancelWord = data_of<const int32_t>(flag);
  call->refs.push_back(Napi::Persistent(flag.As<Napi::Object>()));
}

// Refuses (RangeError, `call` deleted) a call whose buffer copies would push
// the process past kMaxPendingBytes while others are pending.
void check_pending_bytes(Napi::Env env, AsyncCall* call, size_t need) {
  const size_t pending = gPendingBytes.load();
  if (pending > 0 && pending + need > kMaxPendingBytes) {
    const std::string op = call->op;
    delete call;
    throw Napi::RangeError::New(env, "fused-attention (native): pending " + op + " calls already hold " +
                                         std::to_string(pending >> 20) + " MiB of buffer copies (limit " +
                                         std::to_string(kMaxPendingBytes >> 20) + " MiB); await some first");
  }
}

// Queues `call` on the dispatcher thread and returns its promise; a full queue
// deletes it and throws RangeError.
Napi::Value enqueue_call(Napi::Env env, EnvState* state, AsyncCall* call) {
  Napi::Promise promise = call->deferred.Promise();
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (state->calls.empty()) state->tsfn.Ref(env);
    state->calls.push_back(call);
  }
  if (!fa::JobQueue::instance().push([call] { execute(call); })) {
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->calls.pop_back();
      if (state->calls.empty()) state->tsfn.Unref(env);
    }
    const std::string op = call->op;
    delete call;
    throw Napi::RangeError::New(env, "fused-attention (native): too many " + op + " calls pending (limit " +
                                         std::to_string(fa::JobQueue::kMaxPending) + ")");
  }
  return promise;
}

Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  Napi::Object args = info[0].As<Napi::Object>();
  EnvState* state = env.GetInstanceData<EnvState>();
  auto* call = new AsyncCall(env, state);
  try {
    call->params = parse_args(env, args);
    parse_cancel_flag(env, info, call);
  } catch (...) {
    delete call;
    throw;
  }
  call->params.cancelled = &call->cancelled;
  const char* const inputs[] = {"q", "k", "v", "mask", "boolMask", "keyPadding", "keyLengths", "rowOffsets", "alibiSlopes"};
  size_t need = 0;
  for (const char* name : inputs) {
    Napi::Value value = args.Get(name);
    if (value.IsTypedArray() && !view_of(value.As<Napi::TypedArray>()).shared) need += value.As<Napi::TypedArray>().ByteLength();
  }
  for (const char* name : {"out", "lse", "weights"}) {
    Napi::Value value = args.Get(name);
    if (value.IsTypedArray()) need += value.As<Napi::TypedArray>().ByteLength();
  }
  check_pending_bytes(env, call, need);
  snapshot_buffers(args, call);
  gPendingBytes.fetch_add(call->copiedBytes);
  // The kernel reads copies of ordinary inputs and writes staged outputs
  // (referenced by call->outputs); only SharedArrayBuffer-backed inputs are
  // read in place and must stay alive until the call settles.
  for (const char* name : inputs) {
    Napi::Value value = args.Get(name);
    if (value.IsTypedArray() && view_of(value.As<Napi::TypedArray>()).shared)
      call->refs.push_back(Napi::Persistent(value.As<Napi::Object>()));
  }
  return enqueue_call(env, state, call);
}

Napi::Value Plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  const fa::AttentionParams p = parse_args(env, info[0].As<Napi::Object>(), false);
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

// readProbe(data): benchmark helper, see lib/native.ts.
Napi::Value ReadProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw_type(env, "expected data to be a typed array");
  const ArrayView view = view_of(info[0].As<Napi::TypedArray>());
  const uint64_t checksum = view.bytes ? fa::read_probe(view.data, view.bytes) : 0;
  return Napi::Number::New(env, double(checksum & ((uint64_t(1) << 53) - 1)));
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
  o.Set("pendingBytes", double(gPendingBytes.load()));
  o.Set("pendingCalls", double(gLiveCalls.load()));
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

// ---- crissCross -----------------------------------------------------------
// One criss-cross attention call (lib/native.ts NativeCrissCrossArgs), synchronous.

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
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  const Napi::Object o = info[0].As<Napi::Object>();
  fa::CrissCrossParams p;
  p.B = get_int(env, o, "B", 1, kMaxDim);
  p.Cqk = get_int(env, o, "Cqk", 1, kMaxDim);
  p.Cv = get_int(env, o, "Cv", 1, kMaxDim);
  p.H = get_int(env, o, "H", 1, kMaxDim);
  p.W = get_int(env, o, "W", 1, kMaxDim);
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
  Napi::Value scale = o.Get("scale");
  if (!scale.IsNumber()) throw_type(env, "expected scale to be a number");
  const double sc = scale.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(sc) || sc <= 0.0) throw_range(env, "expected scale to be finite and > 0");
  p.scale = float(sc);
  try {
    fa::criss_cross_forward(p);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "fused-attention (native): out of memory for kernel scratch");
  }
  return env.Undefined();
}

// ---- linear ---------------------------------------------------------------
// nn.Linear (gemm.h): one-shot calls with raw weights, packing into native
// memory owned by a tagged External (freed when the GC collects it), and
// PackedLinear.forward / forwardAsync over packed weights.

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
  p.M = get_int(env, o, "rows", 1, kMaxDim);
  p.K = get_int(env, o, "inFeatures", 1, kMaxDim);
  p.N = get_int(env, o, "outFeatures", 1, kMaxDim);
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
  if (__builtin_add_overflow(need, a.outOffset, &need)) throw_range(env, "out extent overflows");
  expect_length(env, a.out, need, "out", false);
  p.out = data_of<float>(a.out) + a.outOffset;
  return a;
}

Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  const LinearArgs a = parse_linear_args(env, info[0].As<Napi::Object>(), false);
  try {
    fa::linear_forward(a.params);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "fused-attention (native): out of memory for packed weights");
  }
  return env.Undefined();
}

Napi::Value LinearPack(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  const Napi::Object o = info[0].As<Napi::Object>();
  const int64_t K = get_int(env, o, "inFeatures", 1, kMaxDim);
  const int64_t N = get_int(env, o, "outFeatures", 1, kMaxDim);
  const Napi::TypedArray weight = get_f32(env, o, "weight", false);
  expect_length(env, weight, checked_product(env, {N, K}, "weight"), "weight", true);
  const Napi::TypedArray bias = get_f32(env, o, "bias", true);
  if (!bias.IsEmpty()) expect_length(env, bias, N, "bias", true);
  std::unique_ptr<fa::PackedWeights> packed;
  try {
    packed = fa::pack_weights(data_of<const float>(weight), bias.IsEmpty() ? nullptr : data_of<const float>(bias), N, K);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "fused-attention (native): out of memory for packed weights");
  }
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
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  const LinearArgs a = parse_linear_args(env, info[0].As<Napi::Object>(), false);
  const fa::IsaKernel& kernel = fa::current_kernel();
  const fa::LinearPlan plan = fa::plan_linear(a.params, kernel, fa::ThreadPool::instance().size());
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", plan.path == fa::LinearPath::RowsDot ? "rows-dot" : plan.packFirst ? "pack-then-tiles" : "tiles");
  o.Set("isa", kernel.name);
  o.Set("tileRows", kernel.gemmRows);
  o.Set("blockM", double(plan.blockM));
  o.Set("blockN", double(plan.blockN));
  o.Set("blockK", double(plan.blockK));
  o.Set("threads", plan.threads);
  o.Set("workItems", double(plan.numItems));
  return o;
}

// Queues an async call prepared by its entry point and returns its promise.

// PackedLinear.forwardAsync: linear() over packed weights on the dispatcher
// thread, with attentionAsync's safety (see snapshot_buffers): x is read from
// a copy (unless shared), the out slice is always staged compactly and only
// its rows are copied back, so other columns of a wide buffer may be written
// meanwhile.
Napi::Value LinearAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(env, "expected an arguments object");
  EnvState* state = env.GetInstanceData<EnvState>();
  auto* call = new AsyncCall(env, state);
  call->isLinear = true;
  call->op = "forwardAsync";
  LinearArgs a;
  try {
    a = parse_linear_args(env, info[0].As<Napi::Object>(), true);
    parse_cancel_flag(env, info, call);
  } catch (...) {
    delete call;
    throw;
  }
  fa::LinearParams& p = call->linear;
  p = a.params;
  call->weights = a.weights;
  call->params.cancelled = &call->cancelled;
  p.cancelled = &call->cancelled;
  p.cancelWord = call->params.cancelWord;

  const ArrayView xView = view_of(a.x), outView = view_of(a.out);
  const size_t xBytes = size_t(p.M * p.K) * sizeof(float);
  const size_t outBytes = size_t(p.M * p.N) * sizeof(float);  // the staged slice
  const size_t need = (xView.shared ? 0 : xBytes) + outBytes;
  check_pending_bytes(env, call, need);
  if (xView.shared) {
    call->refs.push_back(Napi::Persistent(a.x.As<Napi::Object>()));
  } else {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[xBytes]);
    std::memcpy(copy.get(), xView.data, xBytes);
    p.x = reinterpret_cast<const float*>(copy.get());
    call->copies.push_back(std::move(copy));
    call->copiedBytes += xBytes;
  }
  std::unique_ptr<uint8_t[]> staged(new uint8_t[outBytes]());
  AsyncCall::Output o{Napi::Persistent(a.out.As<Napi::Object>()), staged.get(), outView.bytes};
  o.rows = size_t(p.M);
  o.rowBytes = size_t(p.N) * sizeof(float);
  o.offset = size_t(a.outOffset) * sizeof(float);
  o.strideBytes = size_t(p.outStride) * sizeof(float);
  call->outputs.push_back(std::move(o));
  p.out = reinterpret_cast<float*>(staged.get());
  p.outStride = p.N;
  call->copies.push_back(std::move(staged));
  call->copiedBytes += outBytes;
  gPendingBytes.fetch_add(call->copiedBytes);
  return enqueue_call(env, state, call);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto state = std::make_shared<EnvState>();
  state->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                              "fused-attention", 0, 1);
  state->tsfn.Unref(env);
  env.SetInstanceData<EnvState, keep_state>(state.get());
  napi_add_env_cleanup_hook(env, cleanup_env, new std::shared_ptr<EnvState>(state));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionAsync", Napi::Function::New(env, AttentionAsync, "attentionAsync"));
  exports.Set("plan", Napi::Function::New(env, Plan, "plan"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("crissCross", Napi::Function::New(env, CrissCross, "crissCross"));
  exports.Set("toBfloat16", Napi::Function::New(env, ToBfloat16, "toBfloat16"));
  exports.Set("readProbe", Napi::Function::New(env, ReadProbe, "readProbe"));
  exports.Set("linear", Napi::Function::New(env, Linear, "linear"));
  exports.Set("linearPack", Napi::Function::New(env, LinearPack, "linearPack"));
  exports.Set("linearAsync", Napi::Function::New(env, LinearAsync, "linearAsync"));
  exports.Set("linearPlan", Napi::Function::New(env, LinearPlan, "linearPlan"));
  return exports;
}

}  // namespace

NODE_API_MODULE(fused_attention, Init)
