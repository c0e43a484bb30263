// Plain description of one criss-cross attention call (CCNet, Huang et al. 2019),
// shared by the binding, criss_cross.cpp and the per-ISA kernels (criss_cross.inl).
//
//   out[b,:,i,j] = Σ_{(y,x) ∈ cross(i,j)} softmax(scale * q[b,:,i,j]·k[b,:,y,x]) v[b,:,y,x]
//   cross(i,j) = column j (all H rows) ∪ row i (all W columns except j): H + W - 1 keys,
//   the centre counted once, one joint softmax over both directions.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fa {

struct CrissCrossParams {
  // Element (b, c, y, x) of q at b*qStrideB + c*qStrideC + y*qStrideY + x*qStrideX; likewise
  // k, v and out. Channels-first [B,C,H,W]: strideC = H*W, strideY = W, strideX = 1.
  // Channels-last [B,H,W,C]: strideC = 1, strideY = W*C, strideX = C.
  const float* q = nullptr;  // [B, Cqk, H, W]
  const float* k = nullptr;  // [B, Cqk, H, W]
  const float* v = nullptr;  // [B, Cv, H, W]
  float* out = nullptr;      // [B, Cv, H, W]
  int64_t B = 0, Cqk = 0, Cv = 0, H = 0, W = 0;
  int64_t qStrideB = 0, qStrideC = 0, qStrideY = 0, qStrideX = 0;
  int64_t kStrideB = 0, kStrideC = 0, kStrideY = 0, kStrideX = 0;
  int64_t vStrideB = 0, vStrideC = 0, vStrideY = 0, vStrideX = 0;
  int64_t oStrideB = 0, oStrideC = 0, oStrideY = 0, oStrideX = 0;
  float scale = 1.0f;  // CCNet uses 1 (no 1/sqrt(C'))
};

// Image rows per work item: the rows of an item share every load of k and v
// in the column part (measured: 4 rows cut a 97×97×512 call's time by half or more).
constexpr int64_t kCrissCrossRows = 4;

// Work items of a call: (b, block of kCrissCrossRows image rows).
inline int64_t criss_cross_items(const CrissCrossParams& p) { return p.B * ((p.H + kCrissCrossRows - 1) / kCrissCrossRows); }

// Pixels of one image row padded to a whole number of 16-float vectors (a
// multiple of every ISA's lane count), so all ISAs share one scratch layout.
inline int64_t criss_cross_row_padded(const CrissCrossParams& p) { return (p.W + 15) / 16 * 16; }

// Scratch floats one thread needs for one work item, R = kCrissCrossRows:
//   qs [R][Cqk][Wp], scores [R][H+W][Wp], rowInv [R][Wp], kRowT [W][Cqk].
inline size_t criss_cross_scratch_floats(const CrissCrossParams& p) {
  const int64_t wp = criss_cross_row_padded(p);
  return size_t(wp * (kCrissCrossRows * (p.Cqk + p.H + p.W + 1) + p.Cqk));
}

// Runs the whole call on the current ISA and the thread pool; any strides (tensors
// whose x axis is not contiguous are repacked once first). Never throws except
// std::bad_alloc when memory cannot be had.
void criss_cross_forward(const CrissCrossParams& p);

}  // namespace fa
