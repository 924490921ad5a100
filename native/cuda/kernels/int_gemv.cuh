// Matrix-vector products with int4 / int8 weights (src/formats/grouped_int_layout.h) for decode
// steps of 1-4 rows: y[m, n] = sum_k x[m, k] W[n, k]. Bound by reading the codes once, so every
// lane streams 16-byte pieces (a warp's reads of a row are one coalesced 512-byte run) and each
// piece of x it loads serves a set of kIntGemvWeightRows weight rows together.
//
// Work split, as the bf16 GEMV's (gemv.cuh): a set of weight rows is read by `warpsPerSet` warps
// (1, 2, 4 or 8; formats/grouped_int.cc picks it per shape) taking turns over its pieces, and a
// block of kIntGemvWarps warps holds kIntGemvWarps / warpsPerSet sets. A matrix of many rows
// (gate_up) gives each warp a whole set, so it streams 4 rows from start to end; one of few rows
// and many columns (down) splits a set's columns so that enough warps have reads in flight.
// Each warp loads its next piece (codes and the groups' affine maps) before multiplying the
// current one: the affine map hangs on the group index, and without the prefetch every piece
// would wait out those dependent round trips with nothing else in flight.
//
// A piece lies in one quantization group, so the weight's affine map (mul * f - sub) is applied
// once per piece:  sum_k (mul f_k - sub) x_k = mul * sum_k f_k x_k - sub * sum_k x_k,
// fp32 throughout, leaving one multiply-add per code and activation row.
#pragma once
#include "../src/int_kernel_tiles.h"
#include "int_codes.cuh"

namespace int_gemv {

constexpr int R = kIntGemvWeightRows;

// One lane's piece of its set's rows: 16 bytes of codes per row and the rows' affine maps for the
// piece's group.
struct Piece {
  uint4 codes[R];
  float2 affine[R];
};

__device__ __forceinline__ Piece loadPiece(const uint4* const (&rowCodes)[R], const float2* const (&rowAffine)[R],
                                           const int* __restrict__ blockGroup, int piece, int columnsPerPiece) {
  Piece out;
#pragma unroll
  for (int r = 0; r < R; r++) out.codes[r] = __ldcs(rowCodes[r] + piece);
  const int group = __ldg(blockGroup + piece * columnsPerPiece / 32);
#pragma unroll
  for (int r = 0; r < R; r++) out.affine[r] = __ldg(rowAffine[r] + group);
  return out;
}

// acc[r][m] += the piece's contribution to row r of the set and activation row m.
template <int BITS, int M, bool PERMUTED>
__device__ __forceinline__ void accumulatePiece(const Piece& in, const bf16* __restrict__ x, const int* __restrict__ order,
                                                int K, int firstColumn, float (&acc)[R][M]) {
  constexpr int PIECE = 128 / BITS;
  float fx[R][M], sx[M];
#pragma unroll
  for (int m = 0; m < M; m++) {
    sx[m] = 0.f;
#pragma unroll
    for (int r = 0; r < R; r++) fx[r][m] = 0.f;
  }
#pragma unroll
  for (int o = 0; o < PIECE / 8; o++) {  // 8 columns at a time
    float f[R][8];
#pragma unroll
    for (int r = 0; r < R; r++) {
      const uint32_t* words = reinterpret_cast<const uint32_t*>(&in.codes[r]);
#pragma unroll
      for (int e = 0; e < 8; e++) {
        const int code = o * 8 + e;
        f[r][e] = codeFloat<BITS>(words[code * BITS / 32], (code * BITS % 32) / BITS);
      }
    }
#pragma unroll
    for (int m = 0; m < M; m++) {
      float xf[8];
      unpack8(load8Columns(x + (size_t)m * K, firstColumn + o * 8, PERMUTED ? order : nullptr), xf);
#pragma unroll
      for (int e = 0; e < 8; e++) {
        sx[m] += xf[e];
#pragma unroll
        for (int r = 0; r < R; r++) fx[r][m] = fmaf(f[r][e], xf[e], fx[r][m]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < M; m++) acc[r][m] += in.affine[r].x * fx[r][m] - in.affine[r].y * sx[m];
}

template <int BITS, int M, bool F32OUT, bool PERMUTED>
__device__ void intGemv(const bf16* __restrict__ x, const uint8_t* __restrict__ codes, const float2* __restrict__ affine,
                        const int* __restrict__ blockGroup, const int* __restrict__ order, void* __restrict__ y, int N,
                        int K, int groups, int warpsPerSet) {
  constexpr int PIECE = 128 / BITS;  // columns in 16 bytes
  __shared__ float partial[kIntGemvWarps][R * M];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = warp % warpsPerSet;
  const int firstRow = (blockIdx.x * (kIntGemvWarps / warpsPerSet) + warp / warpsPerSet) * R;
  const int pieces = firstRow < N ? K / PIECE : 0;  // NOTE: no early return: every warp reaches __syncthreads below
  const size_t rowBytes = (size_t)K * BITS / 8;
  const uint4* rowCodes[R];
  const float2* rowAffine[R];
#pragma unroll
  for (int r = 0; r < R; r++) {
    const int row = min(firstRow + r, N - 1);  // past N: a repeat, never stored
    rowCodes[r] = reinterpret_cast<const uint4*>(codes + row * rowBytes);
    rowAffine[r] = affine + (size_t)row * groups;
  }
  float acc[R][M];
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < M; m++) acc[r][m] = 0.f;

  const int stride = 32 * warpsPerSet;
  int p = part * 32 + lane;
  Piece current;
  if (p < pieces) current = loadPiece(rowCodes, rowAffine, blockGroup, p, PIECE);
  for (; p < pieces; p += stride) {
    const bool more = p + stride < pieces;
    Piece next;
    if (more) next = loadPiece(rowCodes, rowAffine, blockGroup, p + stride, PIECE);
    accumulatePiece<BITS, M, PERMUTED>(current, x, order, K, p * PIECE, acc);
    if (more) current = next;
  }

#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < M; m++) {
      const float sum = warpSum(acc[r][m]);
      if (lane == 0) partial[warp][r * M + m] = sum;
    }
  __syncthreads();
  // The set's first warp adds its warps' sums: lane r * M + m holds (row r, activation row m).
  if (part == 0 && lane < R * M && firstRow + lane / M < N) {
    float sum = 0.f;
    for (int w = 0; w < warpsPerSet; w++) sum += partial[warp + w][lane];
    const size_t at = (size_t)(lane % M) * N + firstRow + lane / M;
    if (F32OUT) reinterpret_cast<float*>(y)[at] = sum;
    else reinterpret_cast<bf16*>(y)[at] = __float2bfloat16(sum);
  }
}

// Both column orders in one kernel: the act-order gather stays out of the unpermuted loop.
template <int BITS, int M, bool F32OUT>
__device__ void intGemvAnyOrder(const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup,
                                const int* order, void* y, int N, int K, int groups, int warpsPerSet) {
  if (order) intGemv<BITS, M, F32OUT, true>(x, codes, affine, blockGroup, order, y, N, K, groups, warpsPerSet);
  else intGemv<BITS, M, F32OUT, false>(x, codes, affine, blockGroup, order, y, N, K, groups, warpsPerSet);
}

}  // namespace int_gemv

// int{4,8}_gemv_{bf16,f32}_m{1..4}: one kernel per bit width, output type and row count.
#define INT_GEMV_KERNEL(BITS, M)                                                                                  \
  extern "C" __global__ void __launch_bounds__(32 * kIntGemvWarps) int##BITS##_gemv_bf16_m##M(                   \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y, \
      int N, int K, int groups, int warpsPerSet) {                                                                \
    int_gemv::intGemvAnyOrder<BITS, M, false>(x, codes, affine, blockGroup, order, y, N, K, groups, warpsPerSet); \
  }                                                                                                               \
  extern "C" __global__ void __launch_bounds__(32 * kIntGemvWarps) int##BITS##_gemv_f32_m##M(                    \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y, \
      int N, int K, int groups, int warpsPerSet) {                                                                \
    int_gemv::intGemvAnyOrder<BITS, M, true>(x, codes, affine, blockGroup, order, y, N, K, groups, warpsPerSet);  \
  }
INT_GEMV_KERNEL(4, 1)
INT_GEMV_KERNEL(4, 2)
INT_GEMV_KERNEL(4, 3)
INT_GEMV_KERNEL(4, 4)
INT_GEMV_KERNEL(8, 1)
INT_GEMV_KERNEL(8, 2)
INT_GEMV_KERNEL(8, 3)
INT_GEMV_KERNEL(8, 4)
