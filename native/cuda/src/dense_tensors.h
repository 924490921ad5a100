// Dense tensors on the device: a bf16 / fp16 / fp32 host tensor (NativeTensor, buffer "weight")
// converted to bf16 (matrices) or fp32 (norms, biases) and uploaded, and the benchmark's random
// fill of either.
#pragma once
#include <cstdint>

#include "gpu_device.h"
#include "native_tensor.h"

namespace swiftlet_cuda {

// Throws std::invalid_argument for a format that is not dense or a buffer that does not fit the shape.
void checkDense(const swiftlet_common::TensorView& tensor);
// New device memory holding the tensor as bf16 / as fp32; checked as checkDense does.
CUdeviceptr uploadBf16(GpuDevice& device, const swiftlet_common::TensorView& tensor);
CUdeviceptr uploadF32(GpuDevice& device, const swiftlet_common::TensorView& tensor);

// Uniform random values from a counter-based stream `seed` (kernels/elementwise.cuh).
void fillUniformBf16(GpuDevice& device, CUdeviceptr dst, size_t count, uint64_t seed, float scale);
void fillUniformF32(GpuDevice& device, CUdeviceptr dst, size_t count, uint64_t seed, float center, float spread);
// Uniform random 32-bit words (the codes of random integer weights).
void fillRandomWords(GpuDevice& device, CUdeviceptr dst, size_t count, uint64_t seed);

}  // namespace swiftlet_cuda
