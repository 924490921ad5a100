#include "int_dot.h"

#include <cmath>

#include "../tensor.h"
#include "q8_activations.h"

namespace swiftlet {

// int_dot_avx2.cc, int_dot_vnni.cc: compiled for their ISA, called only where cpuid has it.
IntDotKernels avx2IntKernels();
IntDotKernels vnniIntKernels();

namespace {

// --- portable path ----------------------------------------------------------------------------

struct Int8Scalar {
  static int32_t blockDot(const uint8_t* block, const int8_t* x) {
    const int8_t* w = reinterpret_cast<const int8_t*>(block);
    int32_t dot = 0;
    for (int i = 0; i < kQ8Block; ++i) dot += w[i] * x[i];
    return dot;
  }
  static constexpr int64_t kBlockBytes = kQ8Block;
};

struct Int4Scalar {
  static int32_t blockDot(const uint8_t* block, const int8_t* x) {
    int32_t dot = 0;
    for (int i = 0; i < kQ8Block / 2; ++i) dot += (block[i] & 15) * x[i] + (block[i] >> 4) * x[kQ8Block / 2 + i];
    return dot;
  }
  static constexpr int64_t kBlockBytes = kQ8Block / 2;
};

template <class Format>
void rowsScalar(const IntRowsArgs& a, int64_t rowBegin, int64_t rowEnd) {
  const int64_t cols = a.numBlocks * kQ8Block;
  for (int64_t r = rowBegin; r < rowEnd; ++r) {
    const uint8_t* codes = a.codes + r * a.rowBytes;
    for (int64_t m = 0; m < a.M; ++m) {
      const int8_t* x = a.x + m * cols;
      float acc = 0;
      for (int64_t b = 0; b < a.numBlocks; ++b) {
        const float scale = f16ToFloat(a.scales[r * a.groups + a.blockGroup[b]]) * a.xScales[m * a.numBlocks + b];
        acc = std::fma(static_cast<float>(Format::blockDot(codes + b * Format::kBlockBytes, x + b * kQ8Block)), scale, acc);
      }
      float zeroTerm = 0;
      if (a.scaledZeros != nullptr)
        for (int64_t g = 0; g < a.groups; ++g) zeroTerm = std::fma(a.scaledZeros[r * a.groups + g], a.xGroupSums[m * a.groups + g], zeroTerm);
      a.y[m * a.ldy + r] = acc - zeroTerm;
    }
  }
}

IntDotKernels pickKernels() {
  __builtin_cpu_init();
  // NOTE: both SIMD paths widen the fp16 scales with F16C.
  const bool f16c = __builtin_cpu_supports("f16c");
  if (f16c && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) return vnniIntKernels();
  if (f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2IntKernels();
  return {rowsScalar<Int8Scalar>, rowsScalar<Int4Scalar>, "scalar"};
}
}  // namespace

const IntDotKernels& intDotKernels() {
  static const IntDotKernels kernels = pickKernels();
  return kernels;
}

}  // namespace swiftlet
