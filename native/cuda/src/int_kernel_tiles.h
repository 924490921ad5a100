// The work split of the integer-weight kernels (kernels/int_gemv.cuh, kernels/int_gemm.cuh),
// shared with the host code that sizes their grids (formats/grouped_int.cc).
#pragma once

// GEMV (1 to kIntGemvMaxRows activation rows): weight rows per block, and its warps (they split
// the columns).
constexpr int kIntGemvMaxRows = 4;
constexpr int kIntGemvWeightRows = 4;
constexpr int kIntGemvWarps = 4;
// GEMM (more rows): a block's weight rows x activation rows, and its threads.
constexpr int kIntGemmWeightRows = 128;
constexpr int kIntGemmXRows = 64;
constexpr int kIntGemmThreads = 256;
