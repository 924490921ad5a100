#include "rtn_int.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "grouped_int.h"

namespace swiftlet {

std::unique_ptr<Linear> quantizeDenseLinear(DType dtype, const uint8_t* bytes, int64_t rows, int64_t cols, int bits) {
  if (bits != 8 && bits != 4) throw std::invalid_argument("an lm_head can be quantized to 8 or 4 bits, not " + std::to_string(bits));
  const int64_t groups = (cols + kRtnGroupSize - 1) / kRtnGroupSize;
  const int maxCode = (1 << bits) - 1;
  const int zero = 1 << (bits - 1);
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  std::vector<float> scales(static_cast<size_t>(rows * groups)), zeros(scales.size(), static_cast<float>(zero));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = g * kRtnGroupSize, end = std::min(cols, begin + kRtnGroupSize);
      float amax = 0;
      for (int64_t c = begin; c < end; ++c) amax = std::max(amax, std::fabs(loadElement(dtype, bytes, r * cols + c)));
      // NOTE: AutoGPTQ's symmetric grid, in rtn.ts's arithmetic (double, then float, then fp16; a
      // group of zeros gets the range [-1, 1]).
      const float scale = roundToF16(static_cast<float>((amax > 0 ? 2.0 * amax : 2.0) / maxCode));
      scales[r * groups + g] = scale;
      for (int64_t c = begin; c < end; ++c) {
        // Math.round's ties (up), in double as JavaScript divides.
        const double code = std::floor(static_cast<double>(loadElement(dtype, bytes, r * cols + c)) / scale + 0.5) + zero;
        codes[r * cols + c] = static_cast<uint8_t>(std::clamp(code, 0.0, static_cast<double>(maxCode)));
      }
    }
  }
  if (bits == 4) {
    // The int4 format's storage: two codes per byte, low nibble first.
    for (size_t i = 0; i < codes.size() / 2; ++i) codes[i] = static_cast<uint8_t>(codes[2 * i] | (codes[2 * i + 1] << 4));
    codes.resize(codes.size() / 2);
  }
  swiftlet_common::TensorView view;
  view.format = bits == 8 ? "int8" : "int4";
  view.shape = {rows, cols};
  view.params["groupSize"] = static_cast<double>(kRtnGroupSize);
  view.buffers["codes"] = {codes.data(), codes.size()};
  view.buffers["scales"] = {reinterpret_cast<const uint8_t*>(scales.data()), scales.size() * sizeof(float)};
  view.buffers["zeros"] = {reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * sizeof(float)};
  return std::make_unique<GroupedIntLinear>(view, bits);
}

}  // namespace swiftlet
