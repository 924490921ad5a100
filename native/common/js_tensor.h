// Reads a JS NativeTensor (src/model/layout.ts) into a TensorView that borrows its buffers.
#pragma once
#include <napi.h>

#include "native_tensor.h"

namespace swiftlet_common {

// The view is valid while the JS object lives (the synchronous setTensor / uploadTensor call).
// Throws std::invalid_argument naming a missing or mistyped field.
TensorView readTensor(const Napi::Value& value);

}  // namespace swiftlet_common
