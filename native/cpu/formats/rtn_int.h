// A dense weight quantized at load by round-to-nearest into the integer formats (grouped_int.h):
// symmetric, one scale per 32 input columns (llama.cpp's q8_0 / q4_0 blocking), with the grid
// and rounding of src/model/quant/rtn.ts (scales in fp16 as GPTQ checkpoints store them), so a
// test can build the same weights in TypeScript. Used for the CPU runner's opt-in int8 / int4 lm_head,
// which checkpoints keep dense.
#pragma once
#include <cstdint>
#include <memory>

#include "../linear.h"
#include "../tensor.h"

namespace swiftlet {

constexpr int64_t kRtnGroupSize = 32;

// bits: 8 or 4. `bytes`: [rows, cols] in `dtype`.
std::unique_ptr<Linear> quantizeDenseLinear(DType dtype, const uint8_t* bytes, int64_t rows, int64_t cols, int bits);

}  // namespace swiftlet
