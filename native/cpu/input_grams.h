// Running sums of X^T X over the rows fed to one layer's four linear layers (qkv, o, gateUp,
// down): what GPTQ's Hessians are made of (src/model/quant/gptq-calibration.ts captures them
// layer by layer while calibration text runs through the CPU runner).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "thread_pool.h"

namespace swiftlet {

class InputGrams {
 public:
  static constexpr int kNumInputs = 4;  // qkv, o, gateUp, down, in forward order

  void reset(const std::array<int64_t, kNumInputs>& widths);
  // Adds x^T x for rows of width widths[input] (x: [rows, ldx]); only the upper triangle is kept.
  void add(ThreadPool& pool, int input, const float* x, int64_t rows, int64_t ldx);
  // The full symmetric [width, width] sum of one input.
  std::vector<double> symmetric(int input) const;
  int64_t width(int input) const { return widths_[input]; }
  // Rows added to the qkv input (tokens seen).
  int64_t rows() const { return rows_; }

 private:
  std::array<int64_t, kNumInputs> widths_{};
  std::array<std::vector<double>, kNumInputs> sums_;
  int64_t rows_ = 0;
};

}  // namespace swiftlet
