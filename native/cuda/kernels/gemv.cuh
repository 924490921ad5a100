// Matrix-vector products for decode steps of a few sequences: y[m, n] = x[m, :] . w[n, :], M <= 4.
// One warp per weight row, 16-byte streaming loads, several in flight: these steps are bound by
// reading the weights once, which cuBLASLt's GEMM tiles do less well at such small M.
#pragma once
#include "common.cuh"

template <int M, bool F32OUT>
__device__ void gemvSmall(const bf16* __restrict__ x, const bf16* __restrict__ w, void* __restrict__ y, int N,
                          int K) {
  constexpr int U = 4;
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= N) return;
  const uint4* wr = reinterpret_cast<const uint4*>(w + (size_t)row * K);
  const int kv = K / 8;
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; m++) acc[m] = 0.f;
  for (int i0 = lane; i0 < kv; i0 += 32 * U) {
    uint4 wv[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = i0 + u * 32;
      wv[u] = i < kv ? __ldcs(wr + i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = i0 + u * 32;
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
  if (lane == 0) {
#pragma unroll
    for (int m = 0; m < M; m++) {
      if (F32OUT) reinterpret_cast<float*>(y)[(size_t)m * N + row] = acc[m];
      else reinterpret_cast<bf16*>(y)[(size_t)m * N + row] = __float2bfloat16(acc[m]);
    }
  }
}

#define GEMV_KERNEL(M)                                                                                          \
  extern "C" __global__ void __launch_bounds__(256) gemv_bf16_m##M(const bf16* x, const bf16* w, void* y, int N, \
                                                                   int K) {                                     \
    gemvSmall<M, false>(x, w, y, N, K);                                                                         \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(256) gemv_f32_m##M(const bf16* x, const bf16* w, void* y, int N,  \
                                                                  int K) {                                      \
    gemvSmall<M, true>(x, w, y, N, K);                                                                          \
  }
GEMV_KERNEL(1)
GEMV_KERNEL(2)
GEMV_KERNEL(3)
GEMV_KERNEL(4)
