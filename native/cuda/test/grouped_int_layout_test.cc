// The CUDA int formats' host repacking (src/formats/grouped_int_layout.h) without a GPU: every
// weight the kernels would compute from the repacked layout (the code found where they look, its
// float made as int_code_float.h says, the group's affine map) equals scale * (code - zero) of
// the canonical tensor at the column the layout says it came from; shapes the kernels cannot take
// are refused with the reason. Built and run by test/cuda-units.test.ts.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "formats/grouped_int_layout.h"
#include "int_code_float.h"

using swiftlet_common::ByteSpan;
using swiftlet_common::TensorView;
using swiftlet_cuda::GroupedIntLayout;
using swiftlet_cuda::repackGroupedInt;
using swiftlet_test::check;

namespace {

// A canonical tensor (src/model/weight-formats/quantized.ts) and the buffers it points into.
struct CanonicalTensor {
  int bits, rows, cols, groups;
  std::vector<uint8_t> codes;  // one per byte, [rows, cols]
  std::vector<uint8_t> packed;
  std::vector<float> scales, zeros;
  std::vector<int32_t> gIdx;  // empty: runs of groupSize
  int groupSize;

  int groupOf(int c) const { return gIdx.empty() ? c / groupSize : gIdx[c]; }
  float weight(int r, int c) const {
    const size_t k = (size_t)r * groups + groupOf(c);
    return scales[k] * ((float)codes[(size_t)r * cols + c] - zeros[k]);
  }

  TensorView view() {
    packed.clear();
    if (bits == 8) {
      packed = codes;
    } else {
      for (size_t i = 0; i < codes.size(); i += 2) packed.push_back((uint8_t)(codes[i] | (codes[i + 1] << 4)));
    }
    TensorView t;
    t.format = "int" + std::to_string(bits);
    t.shape = {rows, cols};
    t.buffers["codes"] = ByteSpan{packed.data(), packed.size()};
    t.buffers["scales"] = ByteSpan{reinterpret_cast<const uint8_t*>(scales.data()), scales.size() * 4};
    t.buffers["zeros"] = ByteSpan{reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * 4};
    if (!gIdx.empty()) t.buffers["gIdx"] = ByteSpan{reinterpret_cast<const uint8_t*>(gIdx.data()), gIdx.size() * 4};
    t.params["groupSize"] = groupSize;
    return t;
  }
};

CanonicalTensor makeTensor(int bits, int rows, int cols, int groupSize, bool actOrder) {
  CanonicalTensor t{bits, rows, cols, (cols + groupSize - 1) / groupSize, {}, {}, {}, {}, {}, groupSize};
  uint32_t state = 12345u + (uint32_t)bits;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (int i = 0; i < rows * cols; i++) t.codes.push_back((uint8_t)((next() >> 16) & ((1u << bits) - 1)));
  for (int i = 0; i < rows * t.groups; i++) {
    t.scales.push_back(0.001f + (float)(next() >> 16) * 1e-7f);
    t.zeros.push_back((float)((next() >> 16) % (1u << bits)));
  }
  // Act-order: column c in group c mod groups, so no group is a run of columns.
  if (actOrder)
    for (int c = 0; c < cols; c++) t.gIdx.push_back(c % t.groups);
  return t;
}

// The float a kernel makes of a code: its bits OR-ed into 128.0f's mantissa (kernels/int_codes.cuh).
float kernelCodeFloat(int bits, unsigned code) {
  const uint32_t word = 0x43000000u | (code << (bits == 4 ? 16 : 15));
  float f;
  std::memcpy(&f, &word, 4);
  return f;
}

// The weight at (row, sorted column) as the kernels compute it from the layout.
float kernelWeight(const GroupedIntLayout& layout, int r, int c) {
  const uint8_t* row = layout.codes.data() + (size_t)r * layout.rowBytes();
  const unsigned code = layout.bits == 8 ? row[c] : (row[c / 2] >> (4 * (c % 2))) & 15;
  const swiftlet_cuda::CodeAffine a = layout.affine[(size_t)r * layout.groups + layout.blockGroup[c / swiftlet_cuda::kBlockColumns]];
  return std::fma(a.mul, kernelCodeFloat(layout.bits, code), -a.sub);
}

void checkRepack(int bits, int groupSize, bool actOrder, int cols) {
  const std::string name = "int" + std::to_string(bits) + " group " + std::to_string(groupSize) + (actOrder ? " act-order" : "") +
                           ", " + std::to_string(cols) + " inputs";
  CanonicalTensor t = makeTensor(bits, 5, cols, groupSize, actOrder);
  const GroupedIntLayout layout = repackGroupedInt(t.view(), bits);
  check(layout.columnOrder.empty() != actOrder, name + ": columns permuted exactly when act-order");
  check((int)layout.blockGroup.size() == t.cols / 32, name + ": one group per 32-column block");
  int bad = 0;
  for (int r = 0; r < t.rows; r++)
    for (int c = 0; c < t.cols; c++) {
      const int source = layout.columnOrder.empty() ? c : layout.columnOrder[c];
      const float want = t.weight(r, source);
      // NOTE: mul * f - sub cancels ~128 scales down to |code - zero| of them: fp32 leaves ~2e-5 of a
      // scale (scales here are at most 0.0075); a wrong code or group is off by a whole scale.
      if (std::fabs(kernelWeight(layout, r, c) - want) > 1e-6f) bad++;
    }
  check(bad == 0, name + ": " + std::to_string(bad) + " weights differ from scale * (code - zero)");
}

void checkRefused(const std::string& what, TensorView view, int bits, const std::string& reason) {
  try {
    repackGroupedInt(view, bits);
    check(false, what + ": accepted");
  } catch (const std::invalid_argument& e) {
    check(std::string(e.what()).find(reason) != std::string::npos, what + ": message \"" + e.what() + "\" lacks \"" + reason + "\"");
  }
}

}  // namespace

int main() {
  for (int bits : {4, 8})
    for (int groupSize : {32, 128})
      for (bool actOrder : {false, true}) checkRepack(bits, groupSize, actOrder, 256);
  checkRepack(4, 128, false, 224);  // a partial last group of 96 columns

  CanonicalTensor small = makeTensor(4, 2, 64, 16, false);
  checkRefused("groups of 16", small.view(), 4, "multiple of 32 input columns");
  CanonicalTensor odd = makeTensor(8, 2, 48, 48, false);
  checkRefused("48 inputs", odd.view(), 8, "inputs in multiples of 32");
  CanonicalTensor shortCodes = makeTensor(8, 2, 64, 32, false);
  TensorView truncated = shortCodes.view();
  truncated.buffers["codes"].size -= 1;
  checkRefused("a short codes buffer", truncated, 8, "buffer codes has 127 bytes, not 128");
  return swiftlet_test::checksPassed("grouped_int_layout_test");
}
