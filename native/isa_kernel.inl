// The per-ISA table of entry points (fa::IsaKernel) that dispatch.cpp picks
// from. Included last by each kernel_<isa>.cpp, after every kernel .inl file,
// inside that ISA's namespace.

extern const fa::IsaKernel kKernel;
const fa::IsaKernel kKernel = {simd::kName, simd::W, kRows, &scratch_floats, &run_item, &run_split, &pack_item,
                               &criss_cross_item, gemm::kRows, &gemm::linear_item, &gemm::linear_rows_dot};
