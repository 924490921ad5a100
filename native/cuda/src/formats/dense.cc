// The dense formats: a bf16, fp16 or fp32 checkpoint weight held as bf16 (fp16 and fp32 are
// converted at upload) and multiplied by the GEMM planner (cuBLASLt, or the GEMV for 1-4 rows).
#include "../dense_tensors.h"
#include "../linear.h"

namespace swiftlet_cuda {
namespace {
class DenseBf16Linear : public Linear {
 public:
  DenseBf16Linear(CUdeviceptr weight, int outputs, int inputs) : weight_(weight), outputs_(outputs), inputs_(inputs) {}
  size_t deviceBytes() const override { return (size_t)outputs_ * inputs_ * 2; }
  void forward(GemmPlanner& gemm, CUdeviceptr x, CUdeviceptr y, int rows, bool f32Out) const override {
    gemm.gemm(x, weight_, y, rows, outputs_, inputs_, f32Out);
  }

 private:
  CUdeviceptr weight_;  // [outputs, inputs] bf16
  int outputs_, inputs_;
};
}  // namespace

std::unique_ptr<Linear> makeDenseLinear(GpuDevice& device, const swiftlet_common::TensorView& tensor) {
  return denseBf16Linear(uploadBf16(device, tensor), (int)tensor.shape.at(0), (int)tensor.shape.at(1));
}

std::unique_ptr<Linear> denseBf16Linear(CUdeviceptr weight, int rows, int cols) {
  return std::make_unique<DenseBf16Linear>(weight, rows, cols);
}

}  // namespace swiftlet_cuda
