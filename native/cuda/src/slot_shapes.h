// Which canonical slots (native/common/layout.h) one rank's model holds, and their shapes.
// Pure C++ (no CUDA): native/cuda/test/units_test.cc checks it without a GPU.
#pragma once
#include <cstdint>
#include <vector>

#include "layout.h"
#include "model_config.h"

namespace swiftlet_cuda {

// Whether the model (this rank: only rank 0 holds an untied lmHead) takes a tensor in `slot`.
bool hasSlot(const ModelConfig& config, swiftlet_common::Slot slot);
// The shape a tensor in `slot` must have: [outputs, inputs] for the matrices, [n] for vectors.
std::vector<int64_t> slotShape(const ModelConfig& config, swiftlet_common::Slot slot);

}  // namespace swiftlet_cuda
