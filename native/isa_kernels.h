// One ISA's compiled kernels, for every op (kernel_<isa>.cpp fills one table
// each, isa_kernel.inl); dispatch.cpp picks the table at run time and the op
// drivers (attention.cpp, criss_cross.cpp, gemm.cpp) call through it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fa {

struct AttentionParams;   // attention.h
struct KernelPlan;        // attention.h
struct CrissCrossParams;  // criss_cross.h
struct LinearParams;      // gemm.h
struct LinearPlan;        // gemm.h

struct IsaKernel {
  const char* name;
  int lanes;
  int rowsPerPanel;
  // Scratch floats one thread needs for the given plan.
  size_t (*scratch_floats)(const AttentionParams&, const KernelPlan&);
  // Computes work item `item` (one (b, h, query block)) into p.out.
  void (*run_item)(const AttentionParams&, const KernelPlan&, int64_t item, float* scratch);
  // Decode path: item = (b, kv head, split) over one key range of the single query
  // row of its groupRows query heads; writes each head's unnormalised partial
  // {max (log2), sum, acc[Dv]} to partials[((b*H + h)*numSplits + split) * (2 + Dv)].
  void (*run_split)(const AttentionParams&, const KernelPlan&, int64_t item, float* scratch, float* partials);
  // Pre-packing: item = (b, hk, key block) of B*Hkv*ceil(Lk/blockK); writes its panel into `packed`.
  void (*pack_item)(const AttentionParams&, const KernelPlan&, int64_t item, float* packed);
  // Criss-cross attention (criss_cross.inl): item = (b, block of kCrissCrossRows image rows)
  // of criss_cross_items(p); computes the output pixels of those rows. `scratch` holds
  // criss_cross_scratch_floats(p) floats.
  void (*criss_cross)(const CrissCrossParams&, int64_t item, float* scratch);
  // GEMM (gemm_kernel.inl): rows of the register tile; one work item of a
  // Packed-path linear plan; columns [colBegin, colEnd) of a RowsDot-path call.
  int gemmRows;
  void (*linear_item)(const LinearParams&, const LinearPlan&, int64_t item);
  void (*linear_rows_dot)(const LinearParams&, int64_t colBegin, int64_t colEnd);
};

}  // namespace fa
