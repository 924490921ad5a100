// Which slots a model of a given shape has, and the shape each takes (native/common/layout.h),
// so both addons check a tensor against its slot with one rule.
#pragma once
#include <cstdint>
#include <vector>

#include "layout.h"
#include "model_shape.h"

namespace swiftlet_common {

// Whether the model's switches give it this slot (lmHead only when untied, biases and q/k norms by switch).
bool hasSlot(Slot slot, const ModelShape& model);
// The slot's shape, e.g. qkv: [(numHeads + 2 numKvHeads) headDim, hiddenSize].
std::vector<int64_t> slotShape(Slot slot, const ModelShape& model);

}  // namespace swiftlet_common
