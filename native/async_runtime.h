// The async runtime behind attentionAsync and PackedLinear.forwardAsync. Calls
// run on the package's own dispatcher thread (job_queue.h), not on libuv's
// pool. Results come back to the JS thread of the calling environment through
// one thread-safe function per environment (main thread or worker), which
// keeps the event loop alive only while calls are outstanding.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "cancel.h"
#include "gemm.h"

namespace fa::binding {

struct EnvState;

// One async call. Exactly one party owns it at a time, and that party deletes
// it: its entry point until enqueue_call; the dispatcher (execute) from then
// until it hands the call to deliver through the thread-safe function; deliver
// on the JS thread; cleanup_env for the calls of a closing environment that
// are Finished; and the dispatcher again for an Orphaned call (its environment
// closed before it started).
struct AsyncCall {
  enum class Stage {
    Queued,    // waiting for the dispatcher
    Running,   // the kernel reads its buffers: teardown waits for it
    Finished,  // the kernel finished or was skipped
    Orphaned,  // its environment closed first: no handles, no copies left
  };
  // The kernel call, run on the dispatcher thread. It reads the call's copies
  // (or shared arrays, referenced in refs), writes its staged outputs, and
  // holds what must outlive it (packed weights).
  std::function<void()> run;
  fa::CancelFlag cancel;  // the one flag run's kernel reads
  const char* op;         // for messages
  size_t copiedBytes = 0;  // counted in the pending-bytes budget until release_copies
  Stage stage = Stage::Queued;  // guarded by EnvState::mutex
  std::string error;       // set on failure
  bool aborted = false;
  Napi::Promise::Deferred deferred;
  std::vector<Napi::ObjectReference> refs;  // shared arrays read in place, and the cancel flag
  // Snapshots of inputs and staging buffers of outputs (see snapshot).
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

  AsyncCall(Napi::Env env, const char* op);
  ~AsyncCall();
  // Frees the buffer copies and returns their bytes to the budget; idempotent, any thread.
  void release_copies();
  // An Orphaned call keeps no JS handle (JS thread, environment still alive) and no copy.
  void orphan();

  // An ArrayBuffer can be detached (transferred) or shrunk (resizable buffers)
  // by JS while the kernel still reads it on another thread, which would be a use
  // after free. So an async call works on private copies: inputs are copied in
  // once (one memcpy, small next to the kernel's own passes over them), outputs
  // are staged and copied back on the JS thread when the call settles.
  // SharedArrayBuffer-backed inputs can be neither detached nor shrunk: read in
  // place. Shared outputs are staged too, so that an aborted call writes nothing.
  //
  // Bytes snapshot(a, output) will copy (for check_pending_bytes).
  static size_t snapshot_bytes(const Napi::TypedArray& a, bool output);
  // The kernel's copy of `a` (its current contents; an output is copied back on
  // settle), or null when `a` is read in place (shared input, referenced until
  // the call settles) or empty.
  uint8_t* snapshot(const Napi::TypedArray& a, bool output);
  // Stages `rows` rows of rowBytes (zeroed, back to back) copied back on settle
  // to byte offset + r * strideBytes of `a`.
  uint8_t* stage_rows(const Napi::TypedArray& a, size_t rows, size_t rowBytes, size_t offset, size_t strideBytes);

 private:
  uint8_t* keep_copy(std::unique_ptr<uint8_t[]> copy, size_t bytes);
};

// Packed nn.Linear weights behind a JS External (linearPack). Registered in
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

// Creates the environment's EnvState and registers its teardown (module init).
void init_env_state(Napi::Env env);

// The optional cancel flag of an async call (info[1]: an Int32Array cell the
// JS side sets on abort); referenced until the call settles.
void parse_cancel_flag(Napi::Env env, const Napi::CallbackInfo& info, AsyncCall& call);

// Refuses (RangeError) a call whose buffer copies (`need` bytes) would push
// the process past the pending-bytes limit while others are pending.
void check_pending_bytes(Napi::Env env, const AsyncCall& call, size_t need);

// Queues the call on the dispatcher thread and returns its promise; a full
// queue throws RangeError (and the call is deleted).
Napi::Value enqueue_call(Napi::Env env, std::unique_ptr<AsyncCall> call);

// Bytes of buffer copies held by pending calls, and AsyncCall objects alive,
// process-wide (info()).
size_t pending_bytes();
size_t live_calls();

}  // namespace fa::binding
