#include "dense_tensors.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace swiftlet_cuda {
namespace {

uint16_t floatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);                     // round to nearest even
  return (uint16_t)(u >> 16);
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    float f = std::ldexp((float)mant, -24);
    return sign ? -f : f;
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float toFloat(const std::string& dtype, const uint8_t* bytes, size_t i) {
  if (dtype == "float32") {
    float f;
    std::memcpy(&f, bytes + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, bytes + 2 * i, 2);
  if (dtype == "bfloat16") {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  return halfToFloat(h);
}

void copyToDevice(GpuDevice& device, CUdeviceptr dst, const void* src, size_t bytes) {
  checkCu(device.driver().memcpyHtoDAsync(dst, src, bytes, device.stream()), "upload weight");
  device.synchronize("cuStreamSynchronize");
}

}  // namespace

void checkDense(const swiftlet_common::TensorView& tensor) {
  const std::string& f = tensor.format;
  if (f != "float32" && f != "float16" && f != "bfloat16")
    throw std::invalid_argument("format " + f + " is not dense (bfloat16, float16, float32)");
  const size_t want = (size_t)tensor.numElements() * (f == "float32" ? 4 : 2);
  const swiftlet_common::ByteSpan weight = tensor.buffer("weight");
  if (weight.size != want)
    throw std::invalid_argument("weight buffer is " + std::to_string(weight.size) + " bytes, " + f + " " +
                                swiftlet_common::shapeString(tensor.shape) + " needs " + std::to_string(want));
}

CUdeviceptr uploadBf16(GpuDevice& device, const swiftlet_common::TensorView& tensor) {
  checkDense(tensor);
  const size_t count = (size_t)tensor.numElements();
  const uint8_t* bytes = tensor.buffer("weight").data;
  const CUdeviceptr dst = device.alloc(count * 2);
  const void* src = bytes;
  std::vector<uint16_t> converted;
  if (tensor.format != "bfloat16") {
    converted.resize(count);
    for (size_t i = 0; i < count; i++) converted[i] = floatToBf16(toFloat(tensor.format, bytes, i));
    src = converted.data();
  }
  copyToDevice(device, dst, src, count * 2);
  return dst;
}

CUdeviceptr uploadF32(GpuDevice& device, const swiftlet_common::TensorView& tensor) {
  checkDense(tensor);
  const size_t count = (size_t)tensor.numElements();
  const uint8_t* bytes = tensor.buffer("weight").data;
  const CUdeviceptr dst = device.alloc(count * 4);
  std::vector<float> converted(count);
  for (size_t i = 0; i < count; i++) converted[i] = toFloat(tensor.format, bytes, i);
  copyToDevice(device, dst, converted.data(), count * 4);
  return dst;
}

void fillUniformBf16(GpuDevice& device, CUdeviceptr dst, size_t count, uint64_t seed, float scale) {
  device.launch(device.fn("fill_uniform_bf16"), {1024}, {256}, 0, {&dst, &count, &seed, &scale});
}

void fillUniformF32(GpuDevice& device, CUdeviceptr dst, size_t count, uint64_t seed, float center, float spread) {
  device.launch(device.fn("fill_uniform_f32"), {64}, {256}, 0, {&dst, &count, &seed, &center, &spread});
}

void fillRandomWords(GpuDevice& device, CUdeviceptr dst, size_t count, uint64_t seed) {
  device.launch(device.fn("fill_random_u32"), {1024}, {256}, 0, {&dst, &count, &seed});
}

}  // namespace swiftlet_cuda
