// attention_forward's steps, written once for every runtime: the native one
// (attention.cpp: thread pool, thread-local buffers, exceptions) and the wasm
// one (wasm_entry.cpp: one thread, no exceptions). Only plain C++ here: no
// threads, no allocation, nothing that throws.
//
//   plan -> [pre-pack K panels] -> tiled items, or decode splits + merge
#pragma once
#include <cstddef>
#include <cstdint>

#include "attention.h"
#include "isa_kernels.h"

namespace fa {

// Whether some V row in reach holds NaN/Inf while keys are hidden row by row
// (see AttentionParams::guardHiddenValues).
bool needs_value_guard(const AttentionParams& p);

// Log-sum-exp merge of the decode splits into p.out (and p.lse).
void merge_splits(const AttentionParams& p, const KernelPlan& plan, const float* partials);

// Pre-packed K panels of a plan with prepackK: all of them, and how many per
// (b, kv head) are read (blocks past the longest row's key length are not).
struct PackedKPanels {
  int64_t blocks = 0;      // key blocks per (b, kv head)
  int64_t numPanels = 0;   // B * Hkv * blocks
  int64_t usedBlocks = 0;  // leading blocks of each (b, kv head) that get packed
};
PackedKPanels packed_k_panels(const AttentionParams& p, const KernelPlan& plan);

// Runs one call through `run`, which supplies:
//   float* run.packed_k(size_t floats)  buffer for the pre-packed K panels
//   float* run.partials(size_t floats)  buffer for the decode partials
//   bool run.for_items(int64_t numItems, int threads, size_t scratchFloats,
//                      const CancelFlag*, fn(int64_t item, float* scratch))
// Buffers may come back null and for_items may return false (out of memory:
// the wasm runtime has no exceptions); the call then stops and returns false.
// maxThreads is the runtime's thread count (the plan may use fewer).
template <typename Runner>
bool attention_forward_with(const AttentionParams& params, const IsaKernel& kernel, int maxThreads, Runner& run) {
  if (params.B == 0 || params.H == 0 || params.Lq == 0) return true;
  AttentionParams p = params;
  p.guardHiddenValues = needs_value_guard(p);
  KernelPlan plan = plan_attention(p, kernel, maxThreads);
  if (plan.prepackK) {
    const PackedKPanels panels = packed_k_panels(p, plan);
    float* packed = run.packed_k(size_t(panels.numPanels * p.D * plan.blockK));
    if (!packed) return false;
    const bool packedAll = run.for_items(panels.numPanels, plan.threads, 0, nullptr, [&](int64_t item, float*) {
      if (item % panels.blocks < panels.usedBlocks) kernel.pack_item(p, plan, item, packed);
    });
    if (!packedAll) return false;
    plan.packedK = packed;
  }
  if (plan.path == KernelPath::DecodeSplitK) {
    // B * H * numSplits partials of (2 + Dv) floats.
    float* partials = run.partials(size_t(p.B * p.H * plan.numSplits * (2 + p.Dv)));
    if (!partials) return false;
    const bool ranAll = run.for_items(plan.numItems, plan.threads, plan.scratchFloats, p.cancel,
                                      [&](int64_t item, float* scratch) { kernel.run_split(p, plan, item, scratch, partials); });
    if (!ranAll) return false;
    if (!is_cancelled(p)) merge_splits(p, plan, partials);
    return true;
  }
  return run.for_items(plan.numItems, plan.threads, plan.scratchFloats, p.cancel,
                       [&](int64_t item, float* scratch) { kernel.run_item(p, plan, item, scratch); });
}

}  // namespace fa
