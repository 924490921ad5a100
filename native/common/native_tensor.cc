#include "native_tensor.h"

#include <stdexcept>

namespace swiftlet_common {

int64_t TensorView::numElements() const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

ByteSpan TensorView::buffer(const std::string& name) const {
  const auto it = buffers.find(name);
  if (it == buffers.end()) throw std::invalid_argument("format " + format + " needs a buffer \"" + name + "\"");
  return it->second;
}

std::string shapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace swiftlet_common
