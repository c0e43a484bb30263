#include "async_runtime.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "job_queue.h"
#include "napi_args.h"

namespace fa::binding {
namespace {

// Bytes of input snapshots and output staging held by pending async calls,
// process-wide. A call that would push it past kMaxPendingBytes is refused
// (unless nothing else is pending), so a flood of queued calls cannot grow
// memory without bound.
constexpr size_t kMaxPendingBytes = size_t(2) << 30;
std::atomic<size_t> gPendingBytes{0};
// AsyncCall objects alive, process-wide (info().pendingCalls).
std::atomic<size_t> gLiveCalls{0};

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
    if (call->aborted || call->cancel.requested()) {
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
  // Decided under the lock: cleanup_env sets `cancel.closing` under it, so the
  // JS cancel word is never read once its environment may be gone.
  const bool skipped = call->cancel.requested();
  if (!skipped) {
    call->stage = AsyncCall::Stage::Running;
    lock.unlock();
    try {
      call->run();
    } catch (const std::bad_alloc&) {
      call->error = out_of_memory("kernel scratch");
    }
    lock.lock();
  }
  call->aborted = skipped || call->cancel.requested();
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
    for (AsyncCall* call : state->calls) call->cancel.closing.store(true);
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

}  // namespace

AsyncCall::AsyncCall(Napi::Env env, const char* op)
    : op(op), deferred(Napi::Promise::Deferred::New(env)), state(env.GetInstanceData<EnvState>()->shared_from_this()) {
  ++gLiveCalls;
}

AsyncCall::~AsyncCall() {
  release_copies();
  --gLiveCalls;
}

void AsyncCall::release_copies() {
  copies.clear();
  gPendingBytes.fetch_sub(copiedBytes);
  copiedBytes = 0;
}

void AsyncCall::orphan() {
  refs.clear();
  outputs.clear();
  release_copies();
  stage = Stage::Orphaned;
}

size_t AsyncCall::snapshot_bytes(const Napi::TypedArray& a, bool output) {
  return output || !view_of(a).shared ? a.ByteLength() : 0;
}

uint8_t* AsyncCall::keep_copy(std::unique_ptr<uint8_t[]> copy, size_t bytes) {
  uint8_t* data = copy.get();
  copies.push_back(std::move(copy));
  copiedBytes += bytes;
  gPendingBytes.fetch_add(bytes);
  return data;
}

uint8_t* AsyncCall::snapshot(const Napi::TypedArray& a, bool output) {
  const ArrayView view = view_of(a);
  if (view.shared && !output) {
    refs.push_back(Napi::Persistent(a.As<Napi::Object>()));
    return nullptr;
  }
  if (view.bytes == 0) return nullptr;
  std::unique_ptr<uint8_t[]> copy(new uint8_t[view.bytes]);
  std::memcpy(copy.get(), view.data, view.bytes);  // outputs too: elements the kernel skips keep their values
  if (output) outputs.push_back({Napi::Persistent(a.As<Napi::Object>()), copy.get(), view.bytes});
  return keep_copy(std::move(copy), view.bytes);
}

uint8_t* AsyncCall::stage_rows(const Napi::TypedArray& a, size_t rows, size_t rowBytes, size_t offset,
                               size_t strideBytes) {
  std::unique_ptr<uint8_t[]> staged(new uint8_t[rows * rowBytes]());
  Output o{Napi::Persistent(a.As<Napi::Object>()), staged.get(), view_of(a).bytes};
  o.rows = rows;
  o.rowBytes = rowBytes;
  o.offset = offset;
  o.strideBytes = strideBytes;
  outputs.push_back(std::move(o));
  return keep_copy(std::move(staged), rows * rowBytes);
}

void init_env_state(Napi::Env env) {
  auto state = std::make_shared<EnvState>();
  state->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                              "fused-attention", 0, 1);
  state->tsfn.Unref(env);
  env.SetInstanceData<EnvState, keep_state>(state.get());
  napi_add_env_cleanup_hook(env, cleanup_env, new std::shared_ptr<EnvState>(state));
}

void parse_cancel_flag(Napi::Env env, const Napi::CallbackInfo& info, AsyncCall& call) {
  if (info.Length() < 2 || info[1].IsUndefined() || info[1].IsNull()) return;
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[1].As<Napi::TypedArray>().ElementLength() < 1)
    throw_type(env, "expected the cancel flag to be an Int32Array of length >= 1");
  Napi::TypedArray flag = info[1].As<Napi::TypedArray>();
  call.cancel.word = data_of<const int32_t>(flag);
  call.refs.push_back(Napi::Persistent(flag.As<Napi::Object>()));
}

void check_pending_bytes(Napi::Env env, const AsyncCall& call, size_t need) {
  const size_t pending = gPendingBytes.load();
  if (pending > 0 && pending + need > kMaxPendingBytes)
    throw Napi::RangeError::New(env, "fused-attention (native): pending " + std::string(call.op) +
                                         " calls already hold " + std::to_string(pending >> 20) +
                                         " MiB of buffer copies (limit " + std::to_string(kMaxPendingBytes >> 20) +
                                         " MiB); await some first");
}

Napi::Value enqueue_call(Napi::Env env, std::unique_ptr<AsyncCall> call) {
  EnvState* state = call->state.get();
  AsyncCall* queued = call.get();
  Napi::Promise promise = call->deferred.Promise();
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (state->calls.empty()) state->tsfn.Ref(env);
    state->calls.push_back(queued);
  }
  if (!fa::JobQueue::instance().push([queued] { execute(queued); })) {
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->calls.pop_back();
      if (state->calls.empty()) state->tsfn.Unref(env);
    }
    throw Napi::RangeError::New(env, "fused-attention (native): too many " + std::string(call->op) +
                                         " calls pending (limit " + std::to_string(fa::JobQueue::kMaxPending) + ")");
  }
  call.release();  // the dispatcher owns it now
  return promise;
}

size_t pending_bytes() { return gPendingBytes.load(); }
size_t live_calls() { return gLiveCalls.load(); }

}  // namespace fa::binding
