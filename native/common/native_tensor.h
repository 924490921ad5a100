// One canonical tensor as both addons receive it (src/model/layout.ts NativeTensor): a weight
// format's name, the logical shape and the format's named buffers, borrowed from JS for the
// duration of the setTensor / uploadTensor call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace swiftlet_common {

struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

struct TensorView {
  // "bfloat16" | "float16" | "float32" for dense tensors (buffer "weight"); a quantized format otherwise.
  std::string format;
  std::vector<int64_t> shape;
  std::map<std::string, ByteSpan> buffers;
  std::map<std::string, double> params;

  int64_t numElements() const;
  // The named buffer; throws std::invalid_argument naming the format when it is absent.
  ByteSpan buffer(const std::string& name) const;
};

// "[2, 3]", for error messages.
std::string shapeString(const std::vector<int64_t>& shape);

}  // namespace swiftlet_common
