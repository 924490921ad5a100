// The work split of the integer-weight kernels (kernels/int_gemv.cuh, kernels/int_gemm.cuh),
// shared with the host code that sizes their grids (formats/grouped_int.cc).
#pragma once

// GEMV (1 to kIntGemvMaxRows activation rows): weight rows per block, and its warps (they split
// the columns).
constexpr int kIntGemvMaxRows = 4;
constexpr int kIntGemvWeightRows = 4;
constexpr int kIntGemvWarps = 4;
// GEMM (more rows): a block's weight rows, its threads, and the activation rows of its tile
// variants (kernels int{4,8}_gemm_*_n<rows>), the smallest that holds a step being used.
constexpr int kIntGemmWeightRows = 128;
constexpr int kIntGemmThreads = 256;
constexpr int kIntGemmXRows[] = {16, 32, 64, 128};
constexpr int kIntGemmTileVariants = 4;
