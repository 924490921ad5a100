#include "grouped_int.h"

#include "../tensor.h"
#include "int_dot.h"
#include "q8_activations.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>

namespace swiftlet {
namespace {
template <class T>
std::vector<T> copyBuffer(const swiftlet_common::TensorView& tensor, const char* name, size_t count) {
  const swiftlet_common::ByteSpan span = tensor.buffer(name);
  if (span.size != count * sizeof(T)) {
    throw std::invalid_argument(std::string(name) + " buffer is " + std::to_string(span.size) + " bytes, " + tensor.format + " " +
                                swiftlet_common::shapeString(tensor.shape) + " needs " + std::to_string(count * sizeof(T)));
  }
  std::vector<T> values(count);
  std::memcpy(values.data(), span.data, span.size);
  return values;
}

// Codes one per byte: int8 as stored, int4 two per byte (low nibble first).
std::vector<uint8_t> unpackCodes(const swiftlet_common::TensorView& tensor, int bits, int64_t rows, int64_t cols) {
  if (bits == 8) return copyBuffer<uint8_t>(tensor, "codes", static_cast<size_t>(rows * cols));
  if (cols % 2 != 0) throw std::invalid_argument("int4 needs an even number of inputs");
  const std::vector<uint8_t> packed = copyBuffer<uint8_t>(tensor, "codes", static_cast<size_t>(rows * cols / 2));
  std::vector<uint8_t> codes(packed.size() * 2);
  for (size_t i = 0; i < packed.size(); ++i) {
    codes[2 * i] = packed[i] & 15;
    codes[2 * i + 1] = packed[i] >> 4;
  }
  return codes;
}
}  // namespace

GroupedIntLinear::GroupedIntLinear(const swiftlet_common::TensorView& tensor, int bits)
    : bits_(bits), rows_(tensor.shape.at(0)), cols_(tensor.shape.at(1)) {
  const auto groupSizeParam = tensor.params.find("groupSize");
  const int64_t groupSize = groupSizeParam == tensor.params.end() ? cols_ : static_cast<int64_t>(groupSizeParam->second);
  if (groupSize < 1) throw std::invalid_argument("groupSize must be positive");
  std::vector<uint8_t> codes = unpackCodes(tensor, bits, rows_, cols_);
  std::vector<int32_t> groupOfColumn(static_cast<size_t>(cols_));
  if (tensor.buffers.count("gIdx")) {
    groupOfColumn = copyBuffer<int32_t>(tensor, "gIdx", static_cast<size_t>(cols_));
  } else {
    for (int64_t c = 0; c < cols_; ++c) groupOfColumn[c] = static_cast<int32_t>(c / groupSize);
  }
  groups_ = *std::max_element(groupOfColumn.begin(), groupOfColumn.end()) + 1;
  if (*std::min_element(groupOfColumn.begin(), groupOfColumn.end()) < 0) throw std::invalid_argument("gIdx has a negative group");
  const std::vector<float> scales = copyBuffer<float>(tensor, "scales", static_cast<size_t>(rows_ * groups_));
  scales_.resize(scales.size());
  for (size_t i = 0; i < scales.size(); ++i) scales_[i] = floatToF16(scales[i]);
  zeros_ = copyBuffer<float>(tensor, "zeros", static_cast<size_t>(rows_ * groups_));

  std::vector<int32_t> order(static_cast<size_t>(cols_));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return groupOfColumn[a] < groupOfColumn[b]; });
  const bool sorted = std::is_sorted(groupOfColumn.begin(), groupOfColumn.end());
  groupStart_.assign(static_cast<size_t>(groups_ + 1), 0);
  for (int32_t g : groupOfColumn) ++groupStart_[g + 1];
  std::partial_sum(groupStart_.begin(), groupStart_.end(), groupStart_.begin());
  if (!sorted) {
    columnOrder_ = order;
    std::vector<uint8_t> unsorted = std::move(codes);
    codes.resize(unsorted.size());
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t c = 0; c < cols_; ++c) codes[r * cols_ + c] = unsorted[r * cols_ + order[c]];
  }
  blocks_ = true;
  for (int64_t g = 0; g < groups_; ++g) blocks_ = blocks_ && (groupStart_[g + 1] - groupStart_[g]) % kQ8Block == 0;
  if (blocks_) {
    packBlocks(codes);
  } else {
    rowBytes_ = cols_;
    codes_ = std::move(codes);
  }
}

void GroupedIntLinear::packBlocks(const std::vector<uint8_t>& codes) {
  const int64_t numBlocks = cols_ / kQ8Block;
  for (int64_t g = 0; g < groups_; ++g)
    for (int64_t c = groupStart_[g]; c < groupStart_[g + 1]; c += kQ8Block) blockGroup_.push_back(static_cast<int32_t>(g));
  rowBytes_ = bits_ == 8 ? cols_ : cols_ / 2;
  codes_.resize(static_cast<size_t>(rows_ * rowBytes_));
  for (int64_t r = 0; r < rows_; ++r) {
    const uint8_t* in = codes.data() + r * cols_;
    uint8_t* out = codes_.data() + r * rowBytes_;
    for (int64_t b = 0; b < numBlocks; ++b) {
      const uint8_t* block = in + b * kQ8Block;
      if (bits_ == 8) {
        for (int64_t i = 0; i < kQ8Block; ++i) out[b * kQ8Block + i] = static_cast<uint8_t>(static_cast<int8_t>(block[i] - 128));
      } else {
        for (int64_t i = 0; i < kQ8Block / 2; ++i) out[b * kQ8Block / 2 + i] = static_cast<uint8_t>((block[i] & 15) | (block[i + 16] << 4));
      }
    }
  }
  const float zeroShift = bits_ == 8 ? 128.0f : 0.0f;
  scaledZeros_.resize(scales_.size());
  bool anyZeroTerm = false;
  for (size_t i = 0; i < scales_.size(); ++i) {
    scaledZeros_[i] = f16ToFloat(scales_[i]) * (zeros_[i] - zeroShift);
    anyZeroTerm = anyZeroTerm || scaledZeros_[i] != 0.0f;
  }
  if (!anyZeroTerm) scaledZeros_.clear();
  std::vector<float>().swap(zeros_);  // the scalar path's only
}

void GroupedIntLinear::forward(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const {
  if (blocks_) {
    forwardBlocks(pool, x, M, ldx, y, ldy);
  } else {
    forwardScalar(pool, x, M, ldx, y, ldy);
  }
}

void GroupedIntLinear::forwardBlocks(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const {
  Q8Rows q8;
  quantizeRowsQ8(x, M, ldx, cols_, columnOrder_, q8);
  const int64_t numBlocks = q8.numBlocks;
  // Each group's sum of the quantized activations: what the zero points multiply.
  std::vector<float> groupSums;
  if (!scaledZeros_.empty()) {
    groupSums.assign(static_cast<size_t>(M * groups_), 0.0f);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t b = 0; b < numBlocks; ++b)
        groupSums[m * groups_ + blockGroup_[b]] += q8.scales[m * numBlocks + b] * static_cast<float>(q8.sums[m * numBlocks + b]);
  }
  const IntRowsKernel kernel = bits_ == 8 ? intDotKernels().int8 : intDotKernels().int4;
  IntRowsArgs args;
  args.codes = codes_.data();
  args.rowBytes = rowBytes_;
  args.scales = scales_.data();
  args.scaledZeros = scaledZeros_.empty() ? nullptr : scaledZeros_.data();
  args.groups = groups_;
  args.blockGroup = blockGroup_.data();
  args.numBlocks = numBlocks;
  args.x = q8.values.data();
  args.xScales = q8.scales.data();
  args.xGroupSums = groupSums.data();
  args.M = M;
  args.y = y;
  args.ldy = ldy;
  const int64_t numTiles = (rows_ + kIntTileRows - 1) / kIntTileRows;
  pool.parallelFor(numTiles, [&](int64_t begin, int64_t end) {
    kernel(args, begin * kIntTileRows, std::min(end * kIntTileRows, rows_));
  });
}

void GroupedIntLinear::forwardScalar(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const {
  // x in group order, and each group's sum of x (what the zero points multiply).
  std::vector<float> xs(static_cast<size_t>(M * cols_)), groupSums(static_cast<size_t>(M * groups_));
  for (int64_t m = 0; m < M; ++m) {
    float* row = xs.data() + m * cols_;
    for (int64_t c = 0; c < cols_; ++c) row[c] = x[m * ldx + (columnOrder_.empty() ? c : columnOrder_[c])];
    for (int64_t g = 0; g < groups_; ++g) {
      float sum = 0;
      for (int64_t c = groupStart_[g]; c < groupStart_[g + 1]; ++c) sum += row[c];
      groupSums[m * groups_ + g] = sum;
    }
  }
  pool.parallelFor(rows_, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* codes = codes_.data() + r * cols_;
      for (int64_t m = 0; m < M; ++m) {
        const float* row = xs.data() + m * cols_;
        float acc = 0;
        for (int64_t g = 0; g < groups_; ++g) {
          float dot = 0;
          for (int64_t c = groupStart_[g]; c < groupStart_[g + 1]; ++c) dot += static_cast<float>(codes[c]) * row[c];
          acc += f16ToFloat(scales_[r * groups_ + g]) * (dot - zeros_[r * groups_ + g] * groupSums[m * groups_ + g]);
        }
        y[m * ldy + r] = acc;
      }
    }
  });
}

}  // namespace swiftlet
