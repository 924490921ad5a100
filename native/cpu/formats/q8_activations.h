// Activations quantized per row to int8 in blocks of 32 columns, each block with its own fp32
// scale (llama.cpp's q8_0 for activations): the integer weight formats multiply them by their
// codes with integer dot products. A row's blocks depend on that row only (batch invariance).
#pragma once
#include <cstdint>
#include <vector>

namespace swiftlet {

constexpr int64_t kQ8Block = 32;

struct Q8Rows {
  int64_t numBlocks = 0;       // per row
  std::vector<int8_t> values;  // [M, numBlocks * 32], in [-127, 127]
  std::vector<float> scales;   // [M, numBlocks]: x ~= scale * value
  std::vector<int32_t> sums;   // [M, numBlocks]: each block's sum of values (zero-point terms)
};

// Row m of x is x[m * ldx + order[c]] (order empty: c) for c in [0, cols); cols % 32 == 0.
void quantizeRowsQ8(const float* x, int64_t M, int64_t ldx, int64_t cols, const std::vector<int32_t>& order, Q8Rows& out);

}  // namespace swiftlet
