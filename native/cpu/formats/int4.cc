// Format int4: 4-bit codes, two per byte (GPTQ / AWQ 4-bit, swiftlet's --quant-bits 4 export).
#include "grouped_int.h"

namespace swiftlet {
std::unique_ptr<Linear> makeInt4Linear(const swiftlet_common::TensorView& tensor) { return std::make_unique<GroupedIntLinear>(tensor, 4); }
}  // namespace swiftlet
