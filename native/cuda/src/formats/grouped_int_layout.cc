#include "grouped_int_layout.h"

#include "../int_code_float.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>

namespace swiftlet_cuda {
namespace {

// The named buffer as `count` values of T; its byte size must match exactly.
template <class T>
std::vector<T> readBuffer(const swiftlet_common::TensorView& tensor, const char* name, size_t count) {
  const swiftlet_common::ByteSpan span = tensor.buffer(name);
  if (span.size != count * sizeof(T))
    throw std::invalid_argument(tensor.format + " " + swiftlet_common::shapeString(tensor.shape) + ": buffer " + name + " has " +
                                std::to_string(span.size) + " bytes, not " + std::to_string(count * sizeof(T)));
  std::vector<T> out(count);
  if (count) std::memcpy(out.data(), span.data, span.size);
  return out;
}

// The group of every input column: gIdx's, or runs of groupSize columns.
std::vector<int32_t> columnGroups(const swiftlet_common::TensorView& tensor, int cols) {
  if (tensor.buffers.count("gIdx")) {
    std::vector<int32_t> groups = readBuffer<int32_t>(tensor, "gIdx", (size_t)cols);
    if (*std::min_element(groups.begin(), groups.end()) < 0) throw std::invalid_argument("gIdx has a negative group");
    return groups;
  }
  const auto param = tensor.params.find("groupSize");
  const int groupSize = param == tensor.params.end() ? cols : (int)param->second;
  if (groupSize < 1) throw std::invalid_argument("groupSize must be positive");
  std::vector<int32_t> groups((size_t)cols);
  for (int c = 0; c < cols; c++) groups[c] = c / groupSize;
  return groups;
}

uint8_t codeAt(const std::vector<uint8_t>& packed, int bits, size_t index) {
  if (bits == 8) return packed[index];
  const uint8_t byte = packed[index / 2];
  return index % 2 ? byte >> 4 : byte & 15;
}

}  // namespace

GroupedIntLayout repackGroupedInt(const swiftlet_common::TensorView& tensor, int bits) {
  GroupedIntLayout out;
  out.bits = bits;
  out.rows = (int)tensor.shape.at(0);
  out.cols = (int)tensor.shape.at(1);
  const int rows = out.rows, cols = out.cols;
  if (cols % kBlockColumns != 0)
    throw std::invalid_argument("the CUDA runner's " + tensor.format + " kernels need inputs in multiples of 32, not " + std::to_string(cols));
  const std::vector<uint8_t> packed = readBuffer<uint8_t>(tensor, "codes", (size_t)rows * cols * bits / 8);
  const std::vector<int32_t> groupOfColumn = columnGroups(tensor, cols);
  out.groups = *std::max_element(groupOfColumn.begin(), groupOfColumn.end()) + 1;
  const std::vector<float> scales = readBuffer<float>(tensor, "scales", (size_t)rows * out.groups);
  const std::vector<float> zeros = readBuffer<float>(tensor, "zeros", (size_t)rows * out.groups);

  std::vector<int32_t> order((size_t)cols);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return groupOfColumn[a] < groupOfColumn[b]; });
  if (!std::is_sorted(groupOfColumn.begin(), groupOfColumn.end())) out.columnOrder = order;

  for (int block = 0; block < cols / kBlockColumns; block++) {
    const int first = block * kBlockColumns;
    const int32_t group = groupOfColumn[order[first]];
    if (groupOfColumn[order[first + kBlockColumns - 1]] != group)
      throw std::invalid_argument("the CUDA runner's " + tensor.format + " kernels need every quantization group to be a multiple of 32 input columns");
    out.blockGroup.push_back(group);
  }

  out.codes.assign((size_t)rows * out.rowBytes(), 0);
  for (int r = 0; r < rows; r++) {
    uint8_t* row = out.codes.data() + (size_t)r * out.rowBytes();
    for (int c = 0; c < cols; c++) {
      const uint8_t code = codeAt(packed, bits, (size_t)r * cols + order[c]);
      if (bits == 8) row[c] = code;
      else row[c / 2] |= (uint8_t)(code << (4 * (c % 2)));
    }
  }
  const double step = codeStep(bits);
  out.affine.resize(scales.size());
  for (size_t i = 0; i < scales.size(); i++)
    out.affine[i] = {(float)(scales[i] / step), (float)((double)scales[i] * (kCodeFloatBase / step + zeros[i]))};
  return out;
}

}  // namespace swiftlet_cuda
