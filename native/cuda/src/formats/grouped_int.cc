// The integer formats int8 and int4 on the GPU: the canonical tensor repacked on the host
// (grouped_int_layout.h), uploaded once, and multiplied by
// - the fused GEMV (kernels/int_gemv.cuh) for decode steps of 1-4 rows: bound by reading the
//   weights, it reads only the codes (a quarter or half of bf16's bytes) and the per-group affine
//   maps;
// - for more rows, the weight dequantized to bf16 in the device's shared scratch
//   (kernels/int_dequantize.cuh) and cuBLASLt's GEMM. This costs ~2.5 bytes per weight more than
//   bf16 (the codes read, the bf16 written), but runs on the whole GPU: the fused mma.sync GEMM it
//   replaced (one block per 128 weight rows, 28 blocks for the 7B's 3584-row matrices on 132 SMs)
//   ran 128-request decode at 0.41x of bf16 on an H200, dequantize + cuBLASLt at 0.74x.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "../dense_tensors.h"
#include "../int_code_float.h"
#include "../int_kernel_tiles.h"
#include "../linear.h"
#include "grouped_int_layout.h"

namespace swiftlet_cuda {
namespace {

struct DeviceArrays {
  CUdeviceptr codes = 0, affine = 0, blockGroup = 0, order = 0;  // order 0: columns not permuted
  size_t bytes = 0;
};

class GroupedIntLinear : public Linear {
 public:
  GroupedIntLinear(GpuDevice& device, int bits, int rows, int cols, int groups, const DeviceArrays& arrays)
      : device_(device), rows_(rows), cols_(cols), groups_(groups), gemvWarpsPerSet_(intGemvWarpsPerSet(rows, cols, bits)), arrays_(arrays) {
    device.sharedScratch((size_t)rows * cols * 2);  // the bf16 weight of steps past the GEMV
    const std::string prefix = "int" + std::to_string(bits);
    for (int f32 = 0; f32 < 2; f32++)
      for (int m = 1; m <= kIntGemvMaxRows; m++)
        gemv_[f32][m - 1] = device.fn((prefix + "_gemv" + (f32 ? "_f32" : "_bf16") + "_m" + std::to_string(m)).c_str());
    dequantize_ = device.fn((prefix + "_dequantize").c_str());
  }

  size_t deviceBytes() const override { return arrays_.bytes; }

  void forward(GemmPlanner& gemm, CUdeviceptr x, CUdeviceptr y, int rows, bool f32Out) const override {
    if (rows == 0) return;
    CUdeviceptr codes = arrays_.codes, affine = arrays_.affine, blockGroup = arrays_.blockGroup, order = arrays_.order;
    int n = rows_, k = cols_, groups = groups_;
    if (rows <= kIntGemvMaxRows) {
      int warpsPerSet = gemvWarpsPerSet_;
      const int sets = (n + kIntGemvWeightRows - 1) / kIntGemvWeightRows, setsPerBlock = kIntGemvWarps / warpsPerSet;
      device_.launch(gemv_[f32Out][rows - 1], {(unsigned)((sets + setsPerBlock - 1) / setsPerBlock)}, {32u * kIntGemvWarps}, 0,
                     {&x, &codes, &affine, &blockGroup, &order, &y, &n, &k, &groups, &warpsPerSet});
      return;
    }
    CUdeviceptr weight = device_.sharedScratch((size_t)n * k * 2);
    device_.launch(dequantize_, {(unsigned)device_.numSms() * 8}, {256}, 0, {&codes, &affine, &blockGroup, &order, &weight, &n, &k, &groups});
    gemm.gemm(x, weight, y, rows, n, k, f32Out);
  }

 private:
  GpuDevice& device_;
  int rows_, cols_, groups_;
  int gemvWarpsPerSet_;
  DeviceArrays arrays_;
  CUfunction gemv_[2][kIntGemvMaxRows];  // [f32Out][rows - 1]
  CUfunction dequantize_;
};

template <class T>
CUdeviceptr upload(GpuDevice& device, const std::vector<T>& values, size_t& bytes) {
  const size_t size = values.size() * sizeof(T);
  const CUdeviceptr dst = device.alloc(size);
  checkCu(device.driver().memcpyHtoDAsync(dst, values.data(), size, device.stream()), "upload int weight");
  device.synchronize("cuStreamSynchronize");
  bytes += size;
  return dst;
}

std::unique_ptr<Linear> uploadGroupedInt(GpuDevice& device, const GroupedIntLayout& layout) {
  DeviceArrays arrays;
  arrays.codes = upload(device, layout.codes, arrays.bytes);
  arrays.affine = upload(device, layout.affine, arrays.bytes);
  arrays.blockGroup = upload(device, layout.blockGroup, arrays.bytes);
  if (!layout.columnOrder.empty()) arrays.order = upload(device, layout.columnOrder, arrays.bytes);
  return std::make_unique<GroupedIntLinear>(device, layout.bits, layout.rows, layout.cols, layout.groups, arrays);
}

}  // namespace

std::unique_ptr<Linear> makeInt8Linear(GpuDevice& device, const swiftlet_common::TensorView& tensor) {
  return uploadGroupedInt(device, repackGroupedInt(tensor, 8));
}

std::unique_ptr<Linear> makeInt4Linear(GpuDevice& device, const swiftlet_common::TensorView& tensor) {
  return uploadGroupedInt(device, repackGroupedInt(tensor, 4));
}

std::unique_ptr<Linear> randomGroupedIntLinear(GpuDevice& device, int rows, int cols, const RandomLinearFormat& format,
                                               uint64_t seed) {
  const int bits = format.bits, groupSize = format.groupSize;
  if ((bits != 4 && bits != 8) || groupSize < kBlockColumns || groupSize % kBlockColumns != 0 || cols % kBlockColumns != 0)
    throw std::invalid_argument("random int weights need 4 or 8 bits and groups (and inputs) in multiples of 32");
  GroupedIntLayout layout;
  layout.bits = bits;
  layout.rows = rows;
  layout.cols = cols;
  layout.groups = (cols + groupSize - 1) / groupSize;
  for (int block = 0; block < cols / kBlockColumns; block++) layout.blockGroup.push_back(block * kBlockColumns / groupSize);
  // Codes uniform over the grid, the zero point at its middle: weights of std scale * 2^bits / sqrt(12) = 0.02.
  const double levels = std::ldexp(1.0, bits), zero = (levels - 1) / 2, scale = 0.02 * std::sqrt(12.0) / levels;
  const double step = codeStep(bits);
  layout.affine.assign((size_t)rows * layout.groups, CodeAffine{(float)(scale / step), (float)(scale * (kCodeFloatBase / step + zero))});
  DeviceArrays arrays;
  const size_t codeBytes = (size_t)rows * layout.rowBytes();
  arrays.codes = device.alloc(codeBytes);
  fillRandomWords(device, arrays.codes, codeBytes / 4, seed);
  arrays.bytes = codeBytes;
  arrays.affine = upload(device, layout.affine, arrays.bytes);
  arrays.blockGroup = upload(device, layout.blockGroup, arrays.bytes);
  return std::make_unique<GroupedIntLinear>(device, bits, rows, cols, layout.groups, arrays);
}

}  // namespace swiftlet_cuda
