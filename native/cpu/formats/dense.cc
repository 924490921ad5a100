// The dense formats: the checkpoint's bf16 / fp16 / fp32 weight packed into panels
// (tensor.h PackedMatrix), widened to fp32 in registers by gemm.
#include <stdexcept>

#include "../gemm.h"
#include "../linear.h"

namespace swiftlet {
namespace {
class DenseLinear : public Linear {
 public:
  explicit DenseLinear(const swiftlet_common::TensorView& tensor) {
    const DType dtype = parseDType(tensor.format);
    const int64_t rows = tensor.shape.at(0), cols = tensor.shape.at(1);
    const swiftlet_common::ByteSpan weight = tensor.buffer("weight");
    const size_t want = static_cast<size_t>(rows * cols) * dtypeBytes(dtype);
    if (weight.size != want) {
      throw std::invalid_argument("weight buffer is " + std::to_string(weight.size) + " bytes, " + tensor.format + " " +
                                  swiftlet_common::shapeString(tensor.shape) + " needs " + std::to_string(want));
    }
    matrix_.allocate(dtype, rows, cols);
    matrix_.setRows(0, rows, dtype, weight.data);
  }
  int64_t numOutputs() const override { return matrix_.numRows(); }
  int64_t numInputs() const override { return matrix_.numCols(); }
  void forward(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const override {
    gemm(pool, x, M, ldx, matrix_, y, ldy);
  }

 private:
  PackedMatrix matrix_;
};
}  // namespace

std::unique_ptr<Linear> makeDenseLinear(const swiftlet_common::TensorView& tensor) { return std::make_unique<DenseLinear>(tensor); }

}  // namespace swiftlet
