#include "q8_activations.h"

#include <algorithm>
#include <cmath>

namespace swiftlet {

void quantizeRowsQ8(const float* x, int64_t M, int64_t ldx, int64_t cols, const std::vector<int32_t>& order, Q8Rows& out) {
  out.numBlocks = cols / kQ8Block;
  out.values.resize(static_cast<size_t>(M * cols));
  out.scales.resize(static_cast<size_t>(M * out.numBlocks));
  out.sums.resize(static_cast<size_t>(M * out.numBlocks));
  float block[kQ8Block];
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * ldx;
    for (int64_t b = 0; b < out.numBlocks; ++b) {
      float amax = 0;
      for (int64_t i = 0; i < kQ8Block; ++i) {
        const int64_t c = b * kQ8Block + i;
        block[i] = row[order.empty() ? c : order[c]];
        amax = std::max(amax, std::fabs(block[i]));
      }
      const float scale = amax / 127.0f;
      const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
      int8_t* values = out.values.data() + m * cols + b * kQ8Block;
      int32_t sum = 0;
      for (int64_t i = 0; i < kQ8Block; ++i) {
        values[i] = static_cast<int8_t>(std::nearbyint(block[i] * inverse));
        sum += values[i];
      }
      out.scales[m * out.numBlocks + b] = scale;
      out.sums[m * out.numBlocks + b] = sum;
    }
  }
}

}  // namespace swiftlet
