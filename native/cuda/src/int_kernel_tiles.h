// The work split of the integer-weight GEMV (kernels/int_gemv.cuh), shared with the host code
// that sizes its grid (formats/grouped_int.cc).
#pragma once

// The most activation rows of a GEMV step, the weight rows of a block, and its warps (they split
// the columns).
constexpr int kIntGemvMaxRows = 4;
constexpr int kIntGemvWeightRows = 4;
constexpr int kIntGemvWarps = 4;
