// The pure steps of an attention call, shared by the native runtime
// (attention.cpp) and the wasm one (wasm_entry.cpp): planning, the value
// guard, pre-packing geometry and the decode merge. No threads, no exceptions.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "attention.h"
#include "attention_driver.h"
#include "isa_kernels.h"
#include "work_split.h"

namespace fa {
namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Keys per packed K block: the transposed block is D x blockK floats = 64 KiB
// (256 keys at D = 64), never below one 64-key strip. 128 keys (32 KiB, the L1d)
// measured 5-10 % faster than 64; 256 a further ~2 % at self-512 (the
// micro-kernels read each 16 KiB strip from L2 well enough, and every block
// costs a softmax update, an acc rescale and their reductions per row); 512
// measured the same as 256.
int64_t choose_block_k(const AttentionParams& p) {
  int64_t blockK = (64 * 1024 / 4) / (p.D > 0 ? p.D : 1);
  blockK = blockK / 64 * 64;
  if (blockK < 64) blockK = 64;
  if (blockK > 512) blockK = 512;
  const int64_t keys = round_up(p.Lk, 64);
  return blockK < keys ? blockK : keys;
}

// No NaN or Inf among x[0..n): an all-ones exponent field marks both. Integer
// ORs have no loop-carried latency, so this vectorises even at baseline SSE2
// (the float-sum version ran at one add latency per element).
bool all_finite(const float* x, int64_t n) {
  uint32_t nonFinite = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    nonFinite |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  return nonFinite == 0;
}

// The same for bfloat16 bit patterns (exponent field 0x7f80).
bool all_finite(const uint16_t* x, int64_t n) {
  uint32_t nonFinite = 0;
  for (int64_t i = 0; i < n; ++i) nonFinite |= uint32_t((x[i] & 0x7f80u) == 0x7f80u);
  return nonFinite == 0;
}

template <typename T>
bool all_values_finite(const AttentionParams& p) {
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t hk = 0; hk < p.Hkv; ++hk) {
      const T* v = static_cast<const T*>(p.v) + b * p.vStrideB + hk * p.vStrideH;
      for (int64_t j = 0; j < p.Lk; ++j)
        if (!all_finite(v + j * p.vStrideL, p.Dv)) return false;
    }
  return true;
}

}  // namespace

// Log-sum-exp merge of the decode splits of every (b, h):
//   M = max m_s,  l = sum 2^(m_s - M) l_s,  out = sum 2^(m_s - M) acc_s / l.
// Splits that saw no key (l_s = 0) are skipped, so -inf - -inf never happens.
void merge_splits(const AttentionParams& p, const KernelPlan& plan, const float* partials) {
  const int64_t stride = 2 + p.Dv;
  for (int64_t bh = 0; bh < p.B * p.H; ++bh) {
    const int64_t b = bh / p.H, h = bh % p.H;
    const float* first = partials + bh * plan.numSplits * stride;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < plan.numSplits; ++s)
      if (first[s * stride + 1] > 0.0f && first[s * stride] > m) m = first[s * stride];
    float* out = p.out + b * p.oStrideB + h * p.oStrideH;
    for (int64_t c = 0; c < p.Dv; ++c) out[c] = 0.0f;
    float l = 0.0f;
    for (int64_t s = 0; s < plan.numSplits; ++s) {
      const float* part = first + s * stride;
      if (!(part[1] > 0.0f)) continue;
      const float w = std::exp2(part[0] - m);
      l += w * part[1];
      for (int64_t c = 0; c < p.Dv; ++c) out[c] += w * part[2 + c];
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int64_t c = 0; c < p.Dv; ++c) out[c] *= inv;
    if (p.lse) p.lse[bh] = l > 0.0f ? (m + std::log2(l)) * 0.6931471805599453f : -std::numeric_limits<float>::infinity();
  }
}

// Whether some V row in reach holds NaN/Inf while keys are hidden row by row
// inside the key loops (boolean mask, key padding, or window/causal edges with
// several query rows): then P·V must skip zero weights (see pv_row_guarded).
// Scanning V costs one read of V, far below the call's own work when Lq > 1.
bool needs_value_guard(const AttentionParams& p) {
  const bool rowWise = p.boolMask || p.keyPadding || (p.Lq > 1 && (p.windowLeft >= 0 || p.windowRight >= 0));
  if (!rowWise) return false;
  return p.kvType == KvType::BF16 ? !all_values_finite<uint16_t>(p) : !all_values_finite<float>(p);
}

PackedKPanels packed_k_panels(const AttentionParams& p, const KernelPlan& plan) {
  PackedKPanels panels;
  panels.blocks = (p.Lk + plan.blockK - 1) / plan.blockK;
  panels.numPanels = p.B * p.Hkv * panels.blocks;
  int64_t usedKeys = p.Lk;
  if (p.keyLengths) {
    usedKeys = 0;
    for (int64_t b = 0; b < p.B; ++b) usedKeys = usedKeys > p.keyLengths[b] ? usedKeys : int64_t(p.keyLengths[b]);
  }
  // Blocks past the longest row's key length are never read (a KV cache's maxLength is mostly empty).
  panels.usedBlocks = (usedKeys + plan.blockK - 1) / plan.blockK;
  return panels;
}

KernelPlan plan_attention(const AttentionParams& p, const IsaKernel& kernel, int maxThreads) {
  KernelPlan plan;
  plan.blockK = choose_block_k(p);
  const double flops = 2.0 * double(p.B) * double(p.H) * double(p.Lq) * double(p.Lk) * double(p.D + p.Dv);
  int threads = threads_for_work(flops, maxThreads);
  const int64_t BH = p.B * p.H;

  if (p.Lq == 1 && !p.weights) {
    // Decode: one query row per head; the H / Hkv query heads of a kv head
    // share one item, so K/V are read once. Split the key range when there
    // are fewer kv heads than ~2 per thread, so every thread streams K/V.
    plan.path = KernelPath::DecodeSplitK;
    plan.blockQ = 1;
    plan.numQBlocks = 1;
    plan.groupRows = p.H / p.Hkv;
    const int64_t streams = p.B * p.Hkv;
    int64_t splits = 1;
    while (streams * splits < 2 * int64_t(threads) && p.Lk / (splits * 2) >= 256) splits *= 2;
    plan.numSplits = splits;
    plan.numItems = streams * splits;
  } else {
    // Largest query block (a multiple of the micro-panel height) that still
    // gives every thread ~4 items; large blocks amortise packing K.
    const int64_t panel = kernel.rowsPerPanel;
    int64_t blockQ = panel * 32;
    while (blockQ > panel && BH * ((p.Lq + blockQ - 1) / blockQ) < 4 * int64_t(threads)) blockQ /= 2;
    blockQ = blockQ / panel * panel;
    if (blockQ < panel) blockQ = panel;
    if (blockQ > round_up(p.Lq, panel)) blockQ = round_up(p.Lq, panel);
    plan.blockQ = blockQ;
    plan.numQBlocks = (p.Lq + blockQ - 1) / blockQ;
    plan.numItems = BH * plan.numQBlocks;
    // Several query blocks (or query heads, GQA) read each kv head's K: pack it once.
    plan.prepackK = plan.numQBlocks * (p.H / p.Hkv) >= 2;
  }
  if (plan.numItems < threads) threads = int(plan.numItems);
  plan.threads = threads < 1 ? 1 : threads;
  plan.scratchFloats = kernel.scratch_floats(p, plan);
  return plan;
}

}  // namespace fa
