// The integer formats' inner kernel: packed weight rows (layout in grouped_int.h) times q8
// activation rows (q8_activations.h), for a range of weight rows and every activation row:
//   y[m, r] = sum_b s[r, g(b)] * xScale[m, b] * dot(codes_b, xq_b) - sum_g s[r, g] * z[r, g] * xGroupSum[m, g]
//   (the zero term only where some zero point is not the format's code offset)
// Chosen once by cpuid: AVX-512 VNNI, else AVX2 (+ FMA, F16C), else a scalar loop (int_tiles.h).
// NOTE (batch invariance): every (r, m) pair is computed by the same chain of operations whatever
// tile it falls in, so a row's result never depends on the other rows of the batch.
#pragma once
#include <cstdint>

namespace swiftlet {

struct IntRowsArgs {
  const uint8_t* codes;         // [rows, rowBytes]
  int64_t rowBytes;
  const uint16_t* scales;       // [rows, groups], IEEE half
  const float* scaledZeros;     // [rows, groups]: scale * (zero - the format's code offset); null: all zero
  int64_t groups;
  const int32_t* blockGroup;    // [numBlocks]: the group of each 32-column block
  int64_t numBlocks;
  const int8_t* x;              // [M, numBlocks * 32]
  const float* xScales;         // [M, numBlocks]
  const float* xGroupSums;      // [M, groups]: sum over the group's blocks of xScale * sum(xq) (read only with scaledZeros)
  int64_t M;
  float* y;                     // [M, ldy]
  int64_t ldy;
};

// Writes y[m, r] for r in [rowBegin, rowEnd) and every m.
using IntRowsKernel = void (*)(const IntRowsArgs& args, int64_t rowBegin, int64_t rowEnd);

struct IntDotKernels {
  IntRowsKernel int8;  // codes: signed bytes (code - 128), 32 per block
  IntRowsKernel int4;  // codes: 16 bytes per block, column i in the low nibble of byte i, column 16 + i in its high nibble
  const char* isa;
};

const IntDotKernels& intDotKernels();

// Weight rows per tile of the kernels: callers split work in multiples of it, so that threads
// get whole tiles (any split gives the same results).
constexpr int64_t kIntTileRows = 4;

}  // namespace swiftlet
