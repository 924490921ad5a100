// The integer weight formats' CPU Linear (int8.cc, int4.cc): codes with a scale and zero point per
// (output row, input group), as src/model/weight-formats/quantized.ts documents the NativeTensor.
// Act-order checkpoints (buffer gIdx) have their columns sorted by group at load, and x is
// gathered into that order per call, so every group is a contiguous run of columns.
//
// Fast path (every group a multiple of 32 columns): x is quantized per row to q8 blocks
// (q8_activations.h) and each row is
//   y[r] = sum_b s[r,g(b)] * dx_b * dot(codes_b, xq_b) - sum_g s[r,g] * z[r,g] * sum_{b in g} dx_b * sum(xq_b),
// i.e. exactly the dequantized weights times the dequantized activations, with integer block
// dot products (int_dot.h). Packed rows: int8 as signed bytes (code - 128, zero - 128 alike);
// int4 16 bytes per 32-column block (column i low nibble of byte i, column 16 + i high nibble).
// Otherwise a scalar path keeps x in fp32.
// Scales are held as IEEE half, as GPTQ and AWQ checkpoints (and swiftlet's RTN) store them (a
// finer value is rounded), and zero points that all sit at the grid's centre (symmetric
// checkpoints) cost nothing per step: 4.5 (int4) or 8.5 (int8) bits per weight at group 32.
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
  void forwardBlocks(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const;
  void forwardScalar(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const;
  void packBlocks(const std::vector<uint8_t>& codes);

  int bits_;
  int64_t rows_ = 0, cols_ = 0, groups_ = 0;
  bool blocks_ = false;                // the fast path's layout
  int64_t rowBytes_ = 0;               // bytes of one packed row
  std::vector<uint8_t> codes_;         // [rows, rowBytes_], columns in group order
  std::vector<uint16_t> scales_;       // [rows, groups], IEEE half
  std::vector<float> zeros_;           // [rows, groups] (scalar path)
  std::vector<float> scaledZeros_;     // [rows, groups]: scale * (zero - code offset) (fast path); empty: all zero
  std::vector<int64_t> groupStart_;    // groups_ + 1 column offsets
  std::vector<int32_t> blockGroup_;    // the group of each 32-column block (fast path)
  std::vector<int32_t> columnOrder_;   // empty, or the input column at each sorted position
};

}  // namespace swiftlet
