// The integer weight formats' CPU Linear (int8.cc, int4.cc): codes with a scale and zero point per
// (output row, input group), as src/model/weight-formats/quantized.ts documents the NativeTensor.
// y[r] = sum_g scale[r,g] * (sum_{c in g} code[r,c] * x[c] - zero[r,g] * sum_{c in g} x[c]), so the
// inner loop is an integer-code dot product and the zero point costs one product per group.
// Act-order checkpoints (buffer gIdx) have their columns sorted by group at load, and x is
// gathered into that order per call, so every group is a contiguous run of columns.
#pragma once
#include <cstdint>
#include <vector>

#include "../linear.h"

namespace swiftlet {

class GroupedIntLinear : public Linear {
 public:
  // bits: 8 (codes one per byte) or 4 (two per byte, low nibble first).
  GroupedIntLinear(const swiftlet_common::TensorView& tensor, int bits);
  int64_t numOutputs() const override { return rows_; }
  int64_t numInputs() const override { return cols_; }
  void forward(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const override;

 private:
  int64_t rows_ = 0, cols_ = 0, groups_ = 0;
  std::vector<uint8_t> codes_;         // [rows, cols], one code per byte, columns in group order
  std::vector<float> scales_, zeros_;  // [rows, groups]
  std::vector<int64_t> groupStart_;    // groups_ + 1 column offsets
  std::vector<int32_t> columnOrder_;   // empty, or the input column at each sorted position
};

}  // namespace swiftlet
