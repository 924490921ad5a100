#include "input_grams.h"

namespace swiftlet {

void InputGrams::reset(const std::array<int64_t, kNumInputs>& widths) {
  widths_ = widths;
  for (int i = 0; i < kNumInputs; ++i) sums_[i].assign(static_cast<size_t>(widths[i] * widths[i]), 0.0);
  rows_ = 0;
}

void InputGrams::add(ThreadPool& pool, int input, const float* x, int64_t rows, int64_t ldx) {
  const int64_t n = widths_[input];
  double* sum = sums_[input].data();
  if (input == 0) rows_ += rows;
  // NOTE: each thread owns whole rows of the sum, so the result does not depend on the split.
  pool.parallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double* out = sum + i * n;
      for (int64_t t = 0; t < rows; ++t) {
        const float* row = x + t * ldx;
        const double xi = row[i];
        if (xi == 0) continue;
        for (int64_t j = i; j < n; ++j) out[j] += xi * row[j];
      }
    }
  });
}

std::vector<double> InputGrams::symmetric(int input) const {
  const int64_t n = widths_[input];
  std::vector<double> full = sums_[input];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) full[i * n + j] = full[j * n + i];
  return full;
}

}  // namespace swiftlet
