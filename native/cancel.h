// The cancel flag of one async call (attentionAsync, PackedLinear.forwardAsync):
// one flag, owned by the binding's AsyncCall, read by whichever kernel the call
// runs. Kernels check it between work items only.
#pragma once
#include <atomic>
#include <cstdint>

namespace fa {

struct CancelFlag {
  std::atomic<bool> closing{false};  // set by the binding when the call's environment is torn down
  const int32_t* word = nullptr;     // a JS Int32Array cell the caller sets on abort, or null

  bool requested() const {
    return closing.load(std::memory_order_relaxed) || (word && __atomic_load_n(word, __ATOMIC_RELAXED) != 0);
  }
};

}  // namespace fa
