// criss_cross_forward: hands the work items (b, block of image rows) of one
// criss-cross attention call to the thread pool (parallel_for).
#include <memory>

#include "criss_cross.h"
#include "dispatch.h"
#include "isa_kernels.h"
#include "thread_pool.h"

namespace fa {
namespace {

// dst [B][C][H][W] (contiguous) = the image at src read with strides; one image row
// y at a time, so the strided reads stay within a row (W*C floats) held in cache.
void to_channels_first(const float* src, int64_t B, int64_t C, int64_t H, int64_t W, int64_t sB, int64_t sC,
                       int64_t sY, int64_t sX, float* dst) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t c = 0; c < C; ++c) {
        const float* row = src + b * sB + c * sC + y * sY;
        float* out = dst + ((b * C + c) * H + y) * W;
        for (int64_t x = 0; x < W; ++x) out[x] = row[x * sX];
      }
}

// Inverse of to_channels_first: the contiguous src [B][C][H][W] into dst with strides.
void from_channels_first(const float* src, int64_t B, int64_t C, int64_t H, int64_t W, int64_t sB, int64_t sC,
                         int64_t sY, int64_t sX, float* dst) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t c = 0; c < C; ++c) {
        const float* in = src + ((b * C + c) * H + y) * W;
        float* row = dst + b * sB + c * sC + y * sY;
        for (int64_t x = 0; x < W; ++x) row[x * sX] = in[x];
      }
}

}  // namespace

void criss_cross_forward(const CrissCrossParams& params) {
  if (params.B == 0 || params.H == 0 || params.W == 0) return;
  // With x not contiguous (channels-last) the kernel would gather every v plane
  // once per work item: repack such tensors to channels-first once per call
  // instead (one pass each; measured 6x faster on a 97×97×512 map).
  CrissCrossParams p = params;
  std::unique_ptr<float[]> qPacked, kPacked, vPacked, outPacked;
  const int64_t HW = p.H * p.W;
  auto repack = [&](const float*& t, int64_t C, int64_t& sB, int64_t& sC, int64_t& sY, int64_t& sX,
                    std::unique_ptr<float[]>& buffer) {
    if (sX == 1) return;
    buffer.reset(new float[size_t(p.B * C * HW)]);
    to_channels_first(t, p.B, C, p.H, p.W, sB, sC, sY, sX, buffer.get());
    t = buffer.get();
    sB = C * HW; sC = HW; sY = p.W; sX = 1;
  };
  repack(p.q, p.Cqk, p.qStrideB, p.qStrideC, p.qStrideY, p.qStrideX, qPacked);
  repack(p.k, p.Cqk, p.kStrideB, p.kStrideC, p.kStrideY, p.kStrideX, kPacked);
  repack(p.v, p.Cv, p.vStrideB, p.vStrideC, p.vStrideY, p.vStrideX, vPacked);
  if (p.oStrideX != 1) {
    outPacked.reset(new float[size_t(p.B * p.Cv * HW)]);
    p.out = outPacked.get();
    p.oStrideB = p.Cv * HW; p.oStrideC = HW; p.oStrideY = p.W; p.oStrideX = 1;
  }

  const IsaKernel& kernel = current_kernel();
  const int64_t numItems = criss_cross_items(p);
  const double flops = 2.0 * double(p.B) * double(p.H) * double(p.W) * double(p.H + p.W) * double(p.Cqk + p.Cv);
  int threads = threads_for_work(flops, ThreadPool::instance().size());
  if (numItems < threads) threads = int(numItems);
  parallel_for(numItems, threads, criss_cross_scratch_floats(p), nullptr,
               [&](int64_t item, float* scratch) { kernel.criss_cross(p, item, scratch); });
  if (outPacked)
    from_channels_first(outPacked.get(), p.B, p.Cv, p.H, p.W, params.oStrideB, params.oStrideC, params.oStrideY,
                        params.oStrideX, params.out);
}

}  // namespace fa
