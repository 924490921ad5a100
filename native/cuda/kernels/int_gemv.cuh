// Matrix-vector products with int4 / int8 weights (src/formats/grouped_int_layout.h) for decode
// steps of 1-4 rows: y[m, n] = sum_k x[m, k] W[n, k]. Bound by reading the codes once, so each
// lane streams 16-byte pieces of the block's kIntGemvWeightRows weight rows (a warp's reads of a
// row are one coalesced 512-byte run) and every piece of x it loads serves those rows together.
// The block's warps split the columns and add their sums in shared memory at the end: enough
// reads in flight per SM even where few rows meet many columns (the MLP's down projection, 3584 x
// 18944 at the 7B shape, would otherwise leave most of each SM idle). A piece lies in
// one quantization group, so the weight's affine map (mul * f - sub) is applied once per piece:
//   sum_k (mul f_k - sub) x_k = mul * sum_k f_k x_k - sub * sum_k x_k,
// fp32 throughout, leaving one multiply-add per code and activation row.
#pragma once
#include "../src/int_kernel_tiles.h"
#include "int_codes.cuh"

template <int BITS, int M, bool F32OUT>
__device__ void intGemv(const bf16* __restrict__ x, const uint8_t* __restrict__ codes, const float2* __restrict__ affine,
                        const int* __restrict__ blockGroup, const int* __restrict__ order, void* __restrict__ y, int N,
                        int K, int groups) {
  constexpr int R = kIntGemvWeightRows;
  constexpr int U = 2;               // pieces in flight per row
  constexpr int PIECE = 128 / BITS;  // columns in 16 bytes
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int firstRow = blockIdx.x * R;
  const size_t rowBytes = (size_t)K * BITS / 8;
  const int pieces = K / PIECE;
  int rowOf[R];
#pragma unroll
  for (int r = 0; r < R; r++) rowOf[r] = min(firstRow + r, N - 1);  // past N: a repeat, never stored
  float acc[R][M];
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < M; m++) acc[r][m] = 0.f;

  for (int p0 = warp * 32 + lane; p0 < pieces; p0 += 32 * U * kIntGemvWarps) {
    uint4 w[U][R];
#pragma unroll
    for (int u = 0; u < U; u++)
#pragma unroll
      for (int r = 0; r < R; r++) {
        const int p = p0 + 32 * kIntGemvWarps * u;
        w[u][r] = p < pieces ? __ldcs(reinterpret_cast<const uint4*>(codes + rowOf[r] * rowBytes) + p) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int p = p0 + 32 * kIntGemvWarps * u;
      if (p >= pieces) break;
      const int group = __ldg(blockGroup + p * PIECE / 32);
      float2 rowAffine[R];
#pragma unroll
      for (int r = 0; r < R; r++) rowAffine[r] = __ldg(affine + (size_t)rowOf[r] * groups + group);
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
          const uint32_t* words = reinterpret_cast<const uint32_t*>(&w[u][r]);
#pragma unroll
          for (int e = 0; e < 8; e++) {
            const int code = o * 8 + e;
            f[r][e] = codeFloat<BITS>(words[code * BITS / 32], (code * BITS % 32) / BITS);
          }
        }
#pragma unroll
        for (int m = 0; m < M; m++) {
          float xf[8];
          unpack8(load8Columns(x + (size_t)m * K, p * PIECE + o * 8, order), xf);
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
        for (int m = 0; m < M; m++) acc[r][m] += rowAffine[r].x * fx[r][m] - rowAffine[r].y * sx[m];
    }
  }
  __shared__ float warpSums[kIntGemvWarps][R * M];
#pragma unroll
  for (int r = 0; r < R; r++)
#pragma unroll
    for (int m = 0; m < M; m++) {
      const float sum = warpSum(acc[r][m]);
      if (lane == 0) warpSums[warp][r * M + m] = sum;
    }
  __syncthreads();
  const int r = threadIdx.x / M, m = threadIdx.x % M;
  if (threadIdx.x < R * M && firstRow + r < N) {
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kIntGemvWarps; w++) sum += warpSums[w][threadIdx.x];
    const size_t at = (size_t)m * N + firstRow + r;
    if (F32OUT) reinterpret_cast<float*>(y)[at] = sum;
    else reinterpret_cast<bf16*>(y)[at] = __float2bfloat16(sum);
  }
}

// int{4,8}_gemv_{bf16,f32}_m{1..4}: one kernel per bit width, output type and row count.
#define INT_GEMV_KERNEL(BITS, M)                                                                                      \
  extern "C" __global__ void __launch_bounds__(32 * kIntGemvWarps) int##BITS##_gemv_bf16_m##M(                       \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y,     \
      int N, int K, int groups) {                                                                                     \
    intGemv<BITS, M, false>(x, codes, affine, blockGroup, order, y, N, K, groups);                                    \
  }                                                                                                                   \
  extern "C" __global__ void __launch_bounds__(32 * kIntGemvWarps) int##BITS##_gemv_f32_m##M(                        \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y,     \
      int N, int K, int groups) {                                                                                     \
    intGemv<BITS, M, true>(x, codes, affine, blockGroup, order, y, N, K, groups);                                     \
  }
INT_GEMV_KERNEL(4, 1)
INT_GEMV_KERNEL(4, 2)
INT_GEMV_KERNEL(4, 3)
INT_GEMV_KERNEL(4, 4)
INT_GEMV_KERNEL(8, 1)
INT_GEMV_KERNEL(8, 2)
INT_GEMV_KERNEL(8, 3)
INT_GEMV_KERNEL(8, 4)
