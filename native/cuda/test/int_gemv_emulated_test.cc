// The integer GEMV (kernels/int_gemv.cuh) run on the host through cuda_host_emulation.h, without
// a GPU: on random codes, affine maps and activations laid out as src/formats/grouped_int_layout.h
// says, every output equals sum_k (mul * (128 + code * step) - sub) * x[order[k]] computed in
// double, for int4 and int8, 1-4 activation rows, bf16 and fp32 outputs, sorted and act-order
// columns, the splits of a set over 1, 2, 4 and 8 warps (a last set past the matrix's rows too),
// and lanes of one piece and of several. Outputs start as NaN, so one never written fails. Built and run by test/cuda-units.test.ts.
#include "cuda_host_emulation.h"
// (the emulation first)
#include <cstdio>
#include <random>
#include <string>

#include "../kernels/int_gemv.cuh"
#include "check.h"

using swiftlet_test::check;

namespace {

using GemvKernel = void (*)(const bf16*, const uint8_t*, const float2*, const int*, const int*, void*, int, int, int, int);

// [f32 output][rows - 1]
constexpr GemvKernel kInt4[2][4] = {{int4_gemv_bf16_m1, int4_gemv_bf16_m2, int4_gemv_bf16_m3, int4_gemv_bf16_m4},
                                    {int4_gemv_f32_m1, int4_gemv_f32_m2, int4_gemv_f32_m3, int4_gemv_f32_m4}};
constexpr GemvKernel kInt8[2][4] = {{int8_gemv_bf16_m1, int8_gemv_bf16_m2, int8_gemv_bf16_m3, int8_gemv_bf16_m4},
                                    {int8_gemv_f32_m1, int8_gemv_f32_m2, int8_gemv_f32_m3, int8_gemv_f32_m4}};

struct Case {
  int bits, rows, n, k, groupSize;
  bool f32Out, actOrder;
  int warpsPerSet;  // as the host picks it (intGemvWarpsPerSet) unless the case needs another split
};

void checkCase(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  const int groups = (c.k + c.groupSize - 1) / c.groupSize;
  std::vector<int> order(c.k), blockGroup(c.k / 32);
  for (int i = 0; i < c.k; i++) order[i] = i;
  if (c.actOrder) std::shuffle(order.begin(), order.end(), rng);
  for (int b = 0; b < c.k / 32; b++) blockGroup[b] = b * 32 / c.groupSize;
  const size_t rowBytes = (size_t)c.k * c.bits / 8;
  std::vector<uint8_t> codes(c.n * rowBytes);
  for (uint8_t& code : codes) code = (uint8_t)(rng() & 255);
  std::vector<float2> affine((size_t)c.n * groups);
  for (float2& a : affine) a = {0.01f + 0.005f * uniform(rng), 1.f + uniform(rng)};
  std::vector<bf16> x((size_t)c.rows * c.k);
  for (bf16& v : x) v = __float2bfloat16(uniform(rng));
  std::vector<float> yF32((size_t)c.rows * c.n, NAN);
  std::vector<bf16> yBf16((size_t)c.rows * c.n, bf16{0x7FC0});

  const GemvKernel kernel = (c.bits == 4 ? kInt4 : kInt8)[c.f32Out][c.rows - 1];
  const int sets = (c.n + kIntGemvWeightRows - 1) / kIntGemvWeightRows, setsPerBlock = kIntGemvWarps / c.warpsPerSet;
  void* y = c.f32Out ? (void*)yF32.data() : (void*)yBf16.data();
  cuda_host_emulation::launch((sets + setsPerBlock - 1) / setsPerBlock, 32 * kIntGemvWarps, [&] {
    kernel(x.data(), codes.data(), affine.data(), blockGroup.data(), c.actOrder ? order.data() : nullptr, y, c.n, c.k, groups,
           c.warpsPerSet);
  });

  // Error against the scale of the sum (sqrt(k) terms of its typical size): fp32 accumulation
  // lands near 1e-6, a bf16 output's rounding near 4e-3 of the value.
  double worst = 0;
  for (int m = 0; m < c.rows; m++)
    for (int j = 0; j < c.n; j++) {
      double want = 0, size = 0;
      for (int col = 0; col < c.k; col++) {
        const uint8_t byte = codes[j * rowBytes + col * c.bits / 8];
        const int code = c.bits == 8 ? byte : (byte >> (4 * (col % 2))) & 15;
        const float2 a = affine[(size_t)j * groups + blockGroup[col / 32]];
        const double term = (a.x * (128.0 + code * (c.bits == 4 ? 1.0 : 0.5)) - a.y) * bf16ToFloat(x[(size_t)m * c.k + order[col]]);
        want += term;
        size += term * term;
      }
      const double got = c.f32Out ? yF32[(size_t)m * c.n + j] : bf16ToFloat(yBf16[(size_t)m * c.n + j]);
      const double error = std::fabs(got - want) / std::sqrt(size);
      if (!(error <= worst)) worst = error;  // NaN (an unwritten output) sticks
    }
  const std::string label = "int" + std::to_string(c.bits) + " gemv, " + std::to_string(c.rows) + " row(s), [" + std::to_string(c.n) +
                            ", " + std::to_string(c.k) + "], group " + std::to_string(c.groupSize) + (c.actOrder ? ", act-order" : "") +
                            (c.f32Out ? ", fp32 out" : ", bf16 out") + ", " + std::to_string(c.warpsPerSet) + " warp(s) per set";
  check(worst < (c.f32Out ? 1e-5 : 1e-2), label + ": relative error " + std::to_string(worst));
}

}  // namespace

int main() {
  // The splits the host picks for cuda-quant.test.ts's shapes (down: 2080 columns) and the 7B's.
  check(intGemvWarpsPerSet(224, 2080, 4) == 4 && intGemvWarpsPerSet(224, 2080, 8) == 8 && intGemvWarpsPerSet(288, 224, 4) == 1,
        "the warps per set cuda-quant.test.ts's comment gives");
  const Case cases[] = {
      {4, 1, 20, 2080, 128, false, false, intGemvWarpsPerSet(20, 2080, 4)},  // 4 warps, 65 pieces a row
      {8, 4, 20, 2080, 32, true, true, intGemvWarpsPerSet(20, 2080, 8)},    // 8 warps, act-order
      {4, 3, 10, 224, 32, true, true, intGemvWarpsPerSet(10, 224, 4)},      // 1 warp, a last set of 2 rows
      {8, 2, 10, 1024, 64, false, false, 2},
      {4, 2, 12, 1024, 128, true, false, 8},
      {8, 1, 6, 224, 224, false, true, 1},
      // Several pieces a lane (the next one loaded while this one is multiplied).
      {4, 1, 8, 2080, 128, false, false, 1},
      {8, 3, 8, 4096, 128, true, true, 2},
      {4, 4, 9, 3584, 64, false, false, 1},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) checkCase(c, seed++);
  return swiftlet_test::checksPassed("int_gemv_emulated_test");
}
