// What the integer-weight kernels (int_gemv.cuh, int_dequantize.cuh) share: a code's float with no
// conversion instruction (src/int_code_float.h says how) and 8 consecutive sorted columns of an
// activation row, gathered through the act-order column order when there is one.
#pragma once
#include "../src/int_code_float.h"
#include "common.cuh"

// The float of code j of a 32-bit word (int4: 8 codes, nibble j; int8: 4 codes, byte j):
// 128 + code * codeStep(BITS), exactly.
template <int BITS>
__device__ __forceinline__ float codeFloat(uint32_t word, int j) {
  constexpr uint32_t kMantissa = BITS == 4 ? 0x000F0000u : 0x007F8000u;
  const int shift = (BITS == 4 ? 16 : 15) - BITS * j;
  const uint32_t placed = shift >= 0 ? word << shift : word >> -shift;
  return __uint_as_float(0x43000000u | (placed & kMantissa));
}

// x[col .. col + 8) of one row in sorted column order (col a multiple of 8); `order` null when the
// columns are not permuted (then one 16-byte load).
__device__ __forceinline__ uint4 load8Columns(const bf16* __restrict__ row, int col, const int* __restrict__ order) {
  if (!order) return __ldg(reinterpret_cast<const uint4*>(row + col));
  uint4 out;
  unsigned short* h = reinterpret_cast<unsigned short*>(&out);
#pragma unroll
  for (int i = 0; i < 8; i++) h[i] = __ldg(reinterpret_cast<const unsigned short*>(row) + __ldg(order + col + i));
  return out;
}
