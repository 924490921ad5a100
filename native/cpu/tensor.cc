#include "tensor.h"

#include <sys/mman.h>

#include <cmath>
#include <cstdlib>

namespace swiftlet {

DType parseDType(const std::string& name) {
  if (name == "bfloat16") return DType::BF16;
  if (name == "float16") return DType::F16;
  if (name == "float32") return DType::F32;
  throw std::runtime_error("unsupported weight dtype \"" + name + "\"");
}

int dtypeBytes(DType dtype) { return dtype == DType::F32 ? 4 : 2; }

float f16ToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {
      // Subnormal half: exactly representable as a normal float.
      float value = std::ldexp(static_cast<float>(mantissa), -24);
      std::memcpy(&bits, &value, 4);
      bits |= sign;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t floatToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;  // NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // 65520 and up round to infinity
  if (magnitude < 0x38800000u) {
    // Below the smallest normal half (2^-14): a multiple of 2^-24, rounded to nearest even by
    // nearbyint (1024 is the smallest normal's encoding, so the carry needs no special case).
    float absolute;
    std::memcpy(&absolute, &magnitude, 4);
    return sign | static_cast<uint16_t>(std::nearbyint(absolute * 16777216.0f));
  }
  // Rebias the exponent (127 -> 15) and drop 13 mantissa bits, rounding to nearest even; a carry
  // out of the mantissa correctly bumps the exponent.
  uint32_t half = (magnitude - 0x38000000u) >> 13;
  const uint32_t dropped = magnitude & 0x1fffu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

void AlignedBuffer::allocate(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = nullptr;
  const size_t alignment = rounded >= (1u << 22) ? (1u << 21) : 64;
  if (posix_memalign(&p, alignment, rounded == 0 ? 64 : rounded) != 0) {
    throw std::runtime_error("out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  if (rounded >= (1u << 22)) madvise(p, rounded, MADV_HUGEPAGE);
  data_.reset(static_cast<uint8_t*>(p));
  size_ = rounded;
}

void PackedMatrix::allocate(DType dtype, int64_t numRows, int64_t numCols) {
  dtype_ = dtype;
  numRows_ = numRows;
  numCols_ = numCols;
  const size_t bytes = static_cast<size_t>(numPanels() * kPanel * numCols) * dtypeBytes(dtype);
  buffer_.allocate(bytes);
  // NOTE: padding columns of the last panel must be finite zeros: they are multiplied, then dropped.
  std::memset(buffer_.data(), 0, buffer_.size());
}

void PackedMatrix::setRows(int64_t rowOffset, int64_t numRows, DType srcType, const uint8_t* src) {
  if (srcType != dtype_) throw std::runtime_error("all parts of a fused weight must share one dtype");
  if (rowOffset < 0 || rowOffset + numRows > numRows_) throw std::runtime_error("weight rows out of range");
  const int elem = dtypeBytes(dtype_);
  uint8_t* base = buffer_.data();
  for (int64_t r = 0; r < numRows; r++) {
    const int64_t n = rowOffset + r;
    uint8_t* dst = base + ((n / kPanel) * numCols_ * kPanel + n % kPanel) * elem;
    const uint8_t* row = src + r * numCols_ * elem;
    if (elem == 2) {
      for (int64_t k = 0; k < numCols_; k++) std::memcpy(dst + k * kPanel * 2, row + k * 2, 2);
    } else {
      for (int64_t k = 0; k < numCols_; k++) std::memcpy(dst + k * kPanel * 4, row + k * 4, 4);
    }
  }
}

void PackedMatrix::getRow(int64_t n, float* out) const {
  const uint8_t* base = buffer_.data();
  const int64_t start = (n / kPanel) * numCols_ * kPanel + n % kPanel;
  for (int64_t k = 0; k < numCols_; k++) out[k] = loadElement(dtype_, base, start + k * kPanel);
}

void RowMatrix::set(DType dtype, int64_t numRows, int64_t numCols, const uint8_t* src) {
  dtype_ = dtype;
  numRows_ = numRows;
  numCols_ = numCols;
  const size_t bytes = static_cast<size_t>(numRows * numCols) * dtypeBytes(dtype);
  buffer_.allocate(bytes);
  std::memcpy(buffer_.data(), src, bytes);
}

void RowMatrix::getRow(int64_t n, float* out) const {
  const uint8_t* base = buffer_.data();
  for (int64_t k = 0; k < numCols_; k++) out[k] = loadElement(dtype_, base, n * numCols_ + k);
}

}  // namespace swiftlet
