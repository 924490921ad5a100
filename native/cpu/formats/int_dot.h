// One weight row times one q8 activation row, block by block (32 columns), for the integer
// formats' packed rows (layout in grouped_int.h):
//   sum_b rowScales[blockGroup[b]] * xScales[b] * dot(codes of block b, xValues of block b).
// Chosen once by cpuid: AVX2 where the CPU has it, else a scalar loop (same sums, in order).
#pragma once
#include <cstdint>

namespace swiftlet {

using IntRowDot = float (*)(const uint8_t* codes, const int8_t* xValues, const float* xScales, const float* rowScales,
                            const int32_t* blockGroup, int64_t numBlocks);

struct IntDotKernels {
  IntRowDot int8;  // codes: signed bytes (code - 128), 32 per block
  IntRowDot int4;  // codes: 16 bytes per block, column i in the low nibble of byte i, column 16 + i in its high nibble
  const char* isa;
};

const IntDotKernels& intDotKernels();

}  // namespace swiftlet
