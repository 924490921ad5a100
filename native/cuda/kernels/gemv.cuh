// Matrix-vector products for decode steps of a few sequences: y[m, n] = x[m, :] . w[n, :], M <= 4.
// 16-byte streaming loads, several in flight: these steps are bound by reading the weights once,
// which cuBLASLt's GEMM tiles do less well at such small M. Each weight row is read by
// `warpsPerRow` warps (1, 2, 4 or 8; a 256-thread block holds 8 / warpsPerRow rows) taking turns
// over its 512-byte runs: a matrix of few rows (7B: qkv, o and down, 3.6-4.6k rows against
// ~8.4k warp slots on an H200) otherwise leaves the GPU too few loads in flight to reach DRAM
// bandwidth, while one of many rows (gate_up, lm_head) needs one warp per row.
#pragma once
#include "common.cuh"

template <int M, bool F32OUT>
__device__ void gemvSmall(const bf16* __restrict__ x, const bf16* __restrict__ w, void* __restrict__ y, int N,
                          int K, int warpsPerRow) {
  constexpr int U = 4;
  __shared__ float partial[8][M];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = warp % warpsPerRow;
  const int row = blockIdx.x * (8 / warpsPerRow) + warp / warpsPerRow;
  const int kv = row < N ? K / 8 : 0;  // NOTE: no early return: every warp reaches __syncthreads below
  const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)min(row, N - 1) * K);
  // The row's 512-byte runs (32 chunks) are dealt round-robin to its warps; U runs in flight.
  const int runStride = 32 * warpsPerRow;
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; m++) acc[m] = 0.f;
  for (int i0 = lane + part * 32; i0 < kv; i0 += runStride * U) {
    uint4 wv[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = i0 + u * runStride;
      wv[u] = i < kv ? __ldcs(wr + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = i0 + u * runStride;
      if (i < kv) {
        float wf[8];
        unpack8(wv[u], wf);
#pragma unroll
        for (int m = 0; m < M; m++) {
          float xf[8];
          unpack8(__ldg(reinterpret_cast<const uint4*>(x + (size_t)m * K) + i), xf);
#pragma unroll
          for (int e = 0; e < 8; e++) acc[m] += wf[e] * xf[e];
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; m++) acc[m] = warpSum(acc[m]);
  if (warpsPerRow > 1) {
    if (lane == 0)
#pragma unroll
      for (int m = 0; m < M; m++) partial[warp][m] = acc[m];
    __syncthreads();
    if (lane == 0 && part == 0)
#pragma unroll
      for (int m = 0; m < M; m++)
        for (int p = 1; p < warpsPerRow; p++) acc[m] += partial[warp + p][m];
  }
  if (lane == 0 && part == 0 && row < N) {
#pragma unroll
    for (int m = 0; m < M; m++) {
      if (F32OUT) reinterpret_cast<float*>(y)[(size_t)m * N + row] = acc[m];
      else reinterpret_cast<bf16*>(y)[(size_t)m * N + row] = __float2bfloat16(acc[m]);
    }
  }
}

#define GEMV_KERNEL(M)                                                                                          \
  extern "C" __global__ void __launch_bounds__(256) gemv_bf16_m##M(const bf16* x, const bf16* w, void* y, int N, \
                                                                   int K, int warpsPerRow) {                    \
    gemvSmall<M, false>(x, w, y, N, K, warpsPerRow);                                                            \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(256) gemv_f32_m##M(const bf16* x, const bf16* w, void* y, int N,  \
                                                                  int K, int warpsPerRow) {                     \
    gemvSmall<M, true>(x, w, y, N, K, warpsPerRow);                                                             \
  }
GEMV_KERNEL(1)
GEMV_KERNEL(2)
GEMV_KERNEL(3)
GEMV_KERNEL(4)
