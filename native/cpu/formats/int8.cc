// Format int8: 8-bit codes, one per byte (GPTQ 8-bit, swiftlet's --quant-bits 8 export).
#include "grouped_int.h"

namespace swiftlet {
std::unique_ptr<Linear> makeInt8Linear(const swiftlet_common::TensorView& tensor) { return std::make_unique<GroupedIntLinear>(tensor, 8); }
}  // namespace swiftlet
