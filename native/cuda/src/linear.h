// The weight-format seam of the CUDA forward pass (vLLM's quant_method): a linear layer's weight
// (qkv, o, gateUp, down, lmHead), stored on the device as its format stores it, behind one
// interface. The forward pass calls forward() and never branches on the format; adding a format
// (int8, int4) is one file under formats/ (plus its kernels) and its line in linear.cc's registry.
#pragma once
#include <cstddef>
#include <memory>

#include "gemm_planner.h"
#include "native_tensor.h"

namespace swiftlet_cuda {

class Linear {
 public:
  virtual ~Linear() = default;
  // Device memory the weight takes (the addon's info().weightBytes counts it).
  virtual size_t deviceBytes() const = 0;
  // y[rows, outputs] = x[rows, inputs] @ W^T for W [outputs, inputs], on the planner's stream: x
  // bf16, y bf16 or (f32Out) fp32. NOTE: runs inside CUDA graph captures, so it must launch the
  // same work for the same rows every time and allocate no device memory.
  virtual void forward(GemmPlanner& gemm, CUdeviceptr x, CUdeviceptr y, int rows, bool f32Out) const = 0;
};

// The linear layer of `tensor` in its format, uploaded to `device`; the tensor's shape is already
// checked against its slot ([outputs, inputs]). Throws std::invalid_argument for an unknown format
// or buffers that do not fit the shape.
std::unique_ptr<Linear> makeLinear(GpuDevice& device, const swiftlet_common::TensorView& tensor);

// formats/dense.cc: bfloat16, float16 and float32 checkpoints, held as bf16.
std::unique_ptr<Linear> makeDenseLinear(GpuDevice& device, const swiftlet_common::TensorView& tensor);
// A bf16 [rows, cols] matrix already on the device (a tied lmHead, random benchmark weights);
// the memory stays the owner's.
std::unique_ptr<Linear> denseBf16Linear(CUdeviceptr weight, int rows, int cols);

// formats/grouped_int.cc: int8 and int4 codes with a scale and zero point per (row, input group).
std::unique_ptr<Linear> makeInt8Linear(GpuDevice& device, const swiftlet_common::TensorView& tensor);
std::unique_ptr<Linear> makeInt4Linear(GpuDevice& device, const swiftlet_common::TensorView& tensor);

// What the benchmark's random linear layers are made of: bf16 (bits 0), or int4 / int8 codes in
// groups of groupSize input columns.
struct RandomLinearFormat {
  int bits = 0;
  int groupSize = 128;
};
// A [rows, cols] int layer of random codes (weights of std ~0.02), made on the device.
std::unique_ptr<Linear> randomGroupedIntLinear(GpuDevice& device, int rows, int cols, const RandomLinearFormat& format,
                                               uint64_t seed);

}  // namespace swiftlet_cuda
