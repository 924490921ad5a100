// The weight-format seam of the CPU forward pass (vLLM's quant_method): a linear layer's weight,
// stored as its format stores it, behind one interface. The forward pass calls forward() and
// never branches on the format; adding a format is one file under formats/ plus its line in
// linear.cc's registry.
#pragma once
#include <cstdint>
#include <memory>

#include "native_tensor.h"
#include "thread_pool.h"

namespace swiftlet {

class Linear {
 public:
  virtual ~Linear() = default;
  virtual int64_t numOutputs() const = 0;
  virtual int64_t numInputs() const = 0;
  // y[:, 0..numOutputs) = x @ W^T for x: [M, ldx] fp32 rows (numInputs used), y: [M, ldy] fp32.
  // NOTE (batch invariance): a row's result must not depend on the other rows of the batch.
  virtual void forward(ThreadPool& pool, const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy) const = 0;
};

// A format's constructor: the tensor's shape is already checked against the slot ([outputs, inputs]).
using LinearFactory = std::unique_ptr<Linear> (*)(const swiftlet_common::TensorView& tensor);

// The linear layer of `tensor` in its format; throws std::invalid_argument for an unknown format
// or buffers that do not fit the shape.
std::unique_ptr<Linear> makeLinear(const swiftlet_common::TensorView& tensor);

// formats/dense.cc: bfloat16, float16, float32.
std::unique_ptr<Linear> makeDenseLinear(const swiftlet_common::TensorView& tensor);

// formats/int8.cc, formats/int4.cc: integer codes with per-group scales and zero points.
std::unique_ptr<Linear> makeInt8Linear(const swiftlet_common::TensorView& tensor);
std::unique_ptr<Linear> makeInt4Linear(const swiftlet_common::TensorView& tensor);

}  // namespace swiftlet
