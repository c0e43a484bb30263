// Plain description of one attention call, shared by the binding, the planner
// and the per-ISA kernels. No Node.js or N-API types here (only the binding*.cc,
// napi_args.* and async_runtime.* files include napi.h).
//
//   out[b,h,i,:] = softmax_j(scale * q[b,h,i,:]·k[b,hk,j,:] + mask[b,h,i,j]) · v[b,hk,j,:]
//   hk = h / (H / Hkv); causal (bottom-right): key j is visible iff j <= i + Lk - Lq.
// K and V are fp32 or bfloat16 (KvType); q, out, masks and all arithmetic are fp32.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cancel.h"

namespace fa {

// Element type of K and V. Bf16 is the upper 16 bits of an fp32 (uint16_t
// bit patterns); the kernel widens it exactly (bits << 16) and computes in fp32.
enum class KvType : uint8_t { F32, BF16 };

struct AttentionParams {
  const float* q = nullptr;   // element (b,h,i,d) at b*qStrideB + h*qStrideH + i*qStrideL + d
  const void* k = nullptr;    // element (b,hk,j,d) likewise with kStride*; float or uint16_t (kvType)
  const void* v = nullptr;    // element (b,hk,j,e) likewise with vStride*; float or uint16_t (kvType)
  KvType kvType = KvType::F32;
  float* out = nullptr;       // element (b,h,i,e) likewise with oStride*

  int64_t B = 0, H = 0, Hkv = 0, Lq = 0, Lk = 0, D = 0, Dv = 0;
  int64_t qStrideB = 0, qStrideH = 0, qStrideL = 0;
  int64_t kStrideB = 0, kStrideH = 0, kStrideL = 0;
  int64_t vStrideB = 0, vStrideH = 0, vStrideL = 0;
  int64_t oStrideB = 0, oStrideH = 0, oStrideL = 0;

  // Additive mask (natural-log units); element (b,h,i,j) at
  // b*maskStrideB + h*maskStrideH + i*maskStrideQ + j*maskStrideK.
  const float* mask = nullptr;
  int64_t maskStrideB = 0, maskStrideH = 0, maskStrideQ = 0;  // 0 = broadcast
  int64_t maskStrideK = 1;  // 1, or 0: one value per row, broadcast over the keys
  // Boolean mask, nonzero = may attend; same addressing with boolMaskStride*.
  const uint8_t* boolMask = nullptr;
  int64_t boolMaskStrideB = 0, boolMaskStrideH = 0, boolMaskStrideQ = 0;
  int64_t boolMaskStrideK = 1;
  const uint8_t* keyPadding = nullptr;  // [B][Lk], nonzero = real token
  const int32_t* keyLengths = nullptr;  // [B], keys j >= keyLengths[b] are hidden

  float scale = 1.0f;
  // Query i of batch row b sits at key position pos = i + alignOffset (Lk - Lq:
  // bottom-right; 0: top-left), or i + rowOffsets[b] when rowOffsets is set
  // (a KV cache with per-row lengths). Visible keys:
  //   pos - windowLeft <= j <= pos + windowRight
  // (a negative window side is unbounded; causal is windowRight = 0).
  int64_t alignOffset = 0;
  const int32_t* rowOffsets = nullptr;  // [B], or null: every row uses alignOffset
  int64_t windowLeft = -1;
  int64_t windowRight = -1;
  const float* alibiSlopes = nullptr;  // [H]: score -= slope[h] * |pos - j|
  float softcap = 0.0f;                // > 0: score = softcap * tanh(score / softcap), before masks

  float* lse = nullptr;      // optional output [B][H][Lq]: log-sum-exp of each row (natural log)
  float* weights = nullptr;  // optional output [B][H][Lq][Lk]: softmax weights (slow path)

  // Set by attention_forward: some V row in reach has NaN/Inf and some keys are
  // hidden row by row, so P·V must skip zero weights instead of multiplying by 0.
  bool guardHiddenValues = false;

  // attentionAsync with an AbortSignal, or null: the kernel stops taking work items once set.
  const CancelFlag* cancel = nullptr;
};

inline bool is_cancelled(const AttentionParams& p) { return p.cancel && p.cancel->requested(); }

// How a call is cut into work items; chosen once per call by the planner.
enum class KernelPath { Tiled, DecodeSplitK };

struct KernelPlan {
  KernelPath path = KernelPath::Tiled;
  int64_t blockQ = 0;       // query rows per work item
  int64_t blockK = 0;       // keys per packed K block (multiple of 64)
  int64_t numQBlocks = 0;   // ceil(Lq / blockQ)
  int64_t numSplits = 1;    // key-range chunks per (b, kv head) on the decode path
  int64_t groupRows = 1;    // decode: query heads per item (H / Hkv), all fed by one K/V stream
  int64_t numItems = 0;     // tiled: B * H * numQBlocks; decode: B * Hkv * numSplits
  size_t scratchFloats = 0; // per participating thread
  // Tiled path with several query blocks per head: K is packed once per call
  // into B*Hkv*ceil(Lk/blockK) panels of [D][blockK] (an O(Lk*D) buffer, like K).
  bool prepackK = false;
  const float* packedK = nullptr;
  int threads = 1;          // threads that take part (caller included)
};

struct IsaKernel;  // isa_kernels.h

// Runs the whole call on the current ISA and thread pool. Never throws except
// std::bad_alloc when scratch cannot be grown.
void attention_forward(const AttentionParams& p);

// The plan attention_forward would use (exposed for tests and explain()).
KernelPlan plan_attention(const AttentionParams& p, const IsaKernel& kernel, int maxThreads);

}  // namespace fa
