// Weight storage in the layouts the kernels read, and the dtype conversions they need.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace swiftlet {

enum class DType { BF16, F16, F32 };

DType parseDType(const std::string& name);
int dtypeBytes(DType dtype);

inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

/** Exact IEEE half to float (subnormals, infinities and NaN included). */
float f16ToFloat(uint16_t h);
/** The IEEE half nearest to `value` (ties to even; beyond the half range: infinity). */
uint16_t floatToF16(float value);
inline float roundToF16(float value) { return f16ToFloat(floatToF16(value)); }

/** Widens one element of raw storage to fp32. */
inline float loadElement(DType dtype, const uint8_t* base, int64_t index) {
  switch (dtype) {
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, base + index * 2, 2);
      return bf16ToFloat(h);
    }
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, base + index * 2, 2);
      return f16ToFloat(h);
    }
    default: {
      float f;
      std::memcpy(&f, base + index * 4, 4);
      return f;
    }
  }
}

/** 64-byte aligned heap buffer; large ones ask for transparent huge pages (fewer TLB misses when streaming weights). */
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { allocate(bytes); }
  void allocate(size_t bytes);
  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(data_.get());
  }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

/**
 * A linear layer's weight W (N outputs x K inputs, as in Hugging Face) packed for y = x @ W^T:
 * panels of 32 output columns, each panel K rows of 32 contiguous elements, so that a
 * thread streams its panels front to back. Element (n, k) lives at panel n / 32, [k * 32 + n % 32].
 * The storage dtype is the checkpoint's: bf16 / fp16 are widened in registers.
 */
class PackedMatrix {
 public:
  static constexpr int kPanel = 32;
  void allocate(DType dtype, int64_t numRows, int64_t numCols);
  bool isAllocated() const { return numRows_ > 0; }
  /** Copies rows [rowOffset, rowOffset + numRows) from a row-major [numRows, K] source of the same dtype. */
  void setRows(int64_t rowOffset, int64_t numRows, DType srcType, const uint8_t* src);
  /** Row n widened to fp32 (the embedding lookup of a tied lm_head). */
  void getRow(int64_t n, float* out) const;
  DType dtype() const { return dtype_; }
  int64_t numRows() const { return numRows_; }
  int64_t numCols() const { return numCols_; }
  int64_t numPanels() const { return (numRows_ + kPanel - 1) / kPanel; }
  const uint8_t* panel(int64_t p) const { return buffer_.data() + p * numCols_ * kPanel * dtypeBytes(dtype_); }

 private:
  DType dtype_ = DType::F32;
  int64_t numRows_ = 0;
  int64_t numCols_ = 0;
  AlignedBuffer buffer_;
};

/** A row-major matrix kept in its checkpoint dtype (an untied embedding table). */
class RowMatrix {
 public:
  void set(DType dtype, int64_t numRows, int64_t numCols, const uint8_t* src);
  bool isAllocated() const { return numRows_ > 0; }
  void getRow(int64_t n, float* out) const;
  int64_t numRows() const { return numRows_; }
  int64_t numCols() const { return numCols_; }

 private:
  DType dtype_ = DType::F32;
  int64_t numRows_ = 0;
  int64_t numCols_ = 0;
  AlignedBuffer buffer_;
};

}  // namespace swiftlet
