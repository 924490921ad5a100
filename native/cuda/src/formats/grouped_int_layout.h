// The device layout of the integer weight formats (int8, int4), repacked at load from the
// canonical NativeTensor (src/model/weight-formats/quantized.ts): plain host data, no CUDA, so the
// repacking is checked without a GPU (native/cuda/test/grouped_int_layout_test.cc).
//
// - Columns sorted by group (act-order checkpoints, buffer gIdx): every group becomes one run of
//   columns, so the kernels gather x through columnOrder once per call instead of looking a group
//   up per column.
// - codes row-major, [rows, cols * bits / 8]: int8 one code per byte, int4 two per byte (column
//   2j in the low nibble, 2j + 1 in the high one). Row-major because both kernels stream a row's
//   codes along k: the GEMV's lanes read consecutive 16-byte pieces of a row (one coalesced 512-byte
//   warp read), the GEMM's threads each read the 8 or 16 bytes of half a row of a 32-column tile.
// - Every group a whole number of 32-column blocks (kBlockColumns): a block, and so a GEMV lane's
//   16-byte piece and a GEMM k-tile, has one scale and one zero point per row.
// - affine: per (row, group) the {mul, sub} that make a code's float f (int_code_float.h) the
//   weight mul * f - sub, interleaved so one 8-byte load fetches both.
#pragma once
#include <cstdint>
#include <vector>

#include "native_tensor.h"

namespace swiftlet_cuda {

constexpr int kBlockColumns = 32;

struct CodeAffine {
  float mul, sub;
};

struct GroupedIntLayout {
  int bits = 0;  // 4 or 8
  int rows = 0, cols = 0, groups = 0;
  std::vector<uint8_t> codes;          // [rows, rowBytes()]
  std::vector<CodeAffine> affine;      // [rows, groups]
  std::vector<int32_t> blockGroup;     // [cols / kBlockColumns]: the group of each block of sorted columns
  std::vector<int32_t> columnOrder;    // empty, or [cols]: the input column at each sorted position

  int rowBytes() const { return cols * bits / 8; }
};

// Throws std::invalid_argument naming the reason for buffers that do not fit the shape, a bad
// gIdx, or groups the kernels cannot take (a group not a whole number of 32-column blocks).
GroupedIntLayout repackGroupedInt(const swiftlet_common::TensorView& tensor, int bits);

}  // namespace swiftlet_cuda
