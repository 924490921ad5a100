// One Linear of each Qwen2.5-0.5B layer shape (qkv, o, gateUp, down) in an integer format against
// the same shape in bf16, at 1 and 16 activation rows: milliseconds per call, and the largest
// difference from the dequantized weights times x computed in double (the q8 activations alone
// move it by about 1/254 of a block's largest |x| per input).
// Times are process CPU time, so other jobs on a shared host disturb them less; with one thread
// that is the kernel's own time. The weights are reused call after call, so they sit in cache:
// this measures the kernels' arithmetic, not memory bandwidth (decode_bench measures the model).
//   g++ -O3 -march=native -std=c++17 -pthread -Inative/cpu -Inative/common native/cpu/tools/linear_bench.cc \
//       native/cpu/{gemm,linear,tensor,thread_pool}.cc native/cpu/formats/*.cc native/common/native_tensor.cc \
//       -o linear_bench && ./linear_bench [int8|int4] [threads]
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "linear.h"
#include "tensor.h"

using namespace swiftlet;

namespace {
constexpr int64_t kGroup = 32;
constexpr int kCalls = 50;

double cpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double millisecondsPerCall(ThreadPool& pool, const Linear& linear, const std::vector<float>& x, int64_t M, std::vector<float>& y) {
  linear.forward(pool, x.data(), M, linear.numInputs(), y.data(), linear.numOutputs());
  const double start = cpuSeconds();
  for (int i = 0; i < kCalls; ++i) linear.forward(pool, x.data(), M, linear.numInputs(), y.data(), linear.numOutputs());
  return (cpuSeconds() - start) * 1e3 / kCalls;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string format = argc > 1 ? argv[1] : "int8";
  const int bits = format == "int4" ? 4 : 8;
  ThreadPool pool(argc > 2 ? std::atoi(argv[2]) : 1);
  std::mt19937 rng(1);
  const int64_t shapes[][2] = {{1152, 896}, {896, 896}, {9728, 896}, {896, 4864}};
  for (const int64_t M : {1, 16}) {
    double totalInt = 0, totalDense = 0;
    for (const auto& [rows, cols] : shapes) {
      const int64_t groups = cols / kGroup;
      std::vector<uint8_t> codes(static_cast<size_t>(bits == 8 ? rows * cols : rows * cols / 2));
      for (auto& c : codes) c = static_cast<uint8_t>(rng());
      std::vector<float> scales(static_cast<size_t>(rows * groups)), zeros(scales.size());
      // NOTE: fp16 values, as checkpoints store scales (the int formats hold them so).
      for (auto& s : scales) s = roundToF16(std::uniform_real_distribution<float>(1e-4f, 4e-4f)(rng));
      for (auto& z : zeros) z = static_cast<float>(rng() % (1u << bits));
      swiftlet_common::TensorView quantized;
      quantized.format = format;
      quantized.shape = {rows, cols};
      quantized.params["groupSize"] = static_cast<double>(kGroup);
      quantized.buffers["codes"] = {codes.data(), codes.size()};
      quantized.buffers["scales"] = {reinterpret_cast<const uint8_t*>(scales.data()), scales.size() * 4};
      quantized.buffers["zeros"] = {reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * 4};
      const auto intLinear = makeLinear(quantized);
      // The same weights' values in bf16 (rounded): the dense peer at the same shape.
      std::vector<double> weights(static_cast<size_t>(rows * cols));
      std::vector<uint16_t> bf16(weights.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t i = r * cols + c;
          const int code = bits == 8 ? codes[i] : (codes[i / 2] >> (4 * (c & 1))) & 15;
          const int64_t g = r * groups + c / kGroup;
          weights[i] = static_cast<double>(scales[g]) * (code - zeros[g]);
          const float f = static_cast<float>(weights[i]);
          uint32_t u;
          std::memcpy(&u, &f, 4);
          bf16[i] = static_cast<uint16_t>(u >> 16);
        }
      }
      swiftlet_common::TensorView dense;
      dense.format = "bfloat16";
      dense.shape = {rows, cols};
      dense.buffers["weight"] = {reinterpret_cast<const uint8_t*>(bf16.data()), bf16.size() * 2};
      const auto denseLinear = makeLinear(dense);

      std::vector<float> x(static_cast<size_t>(M * cols)), y(static_cast<size_t>(M * rows));
      for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
      intLinear->forward(pool, x.data(), M, cols, y.data(), rows);
      double worst = 0, largest = 0;
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t r = 0; r < rows; ++r) {
          double want = 0;
          for (int64_t c = 0; c < cols; ++c) want += weights[r * cols + c] * x[m * cols + c];
          worst = std::max(worst, std::fabs(want - y[m * rows + r]));
          largest = std::max(largest, std::fabs(want));
        }
      }
      const double intMs = millisecondsPerCall(pool, *intLinear, x, M, y);
      const double denseMs = millisecondsPerCall(pool, *denseLinear, x, M, y);
      totalInt += intMs;
      totalDense += denseMs;
      std::printf("M=%2ld %5ldx%-5ld %s %.3f ms, bf16 %.3f ms (%.2fx); max |error| %.1e of max |y| %.1e\n", static_cast<long>(M),
                  static_cast<long>(rows), static_cast<long>(cols), format.c_str(), intMs, denseMs, denseMs / intMs, worst, largest);
    }
    std::printf("M=%2ld one layer: %s %.3f ms, bf16 %.3f ms (%.2fx)\n", static_cast<long>(M), format.c_str(), totalInt, totalDense,
                totalDense / totalInt);
  }
}
