// int4 / int8 weights (src/formats/grouped_int_layout.h) dequantized to a bf16 [N, K] matrix in
// the checkpoint's column order (act-order columns scattered back), for steps large enough that
// cuBLASLt's GEMM on bf16 beats the fused int GEMM (src/formats/grouped_int.cc says when). Each
// thread turns 8 codes into 8 weights per iteration.
#pragma once
#include "int_codes.cuh"

template <int BITS>
__device__ void intDequantize(const uint8_t* __restrict__ codes, const float2* __restrict__ affine,
                              const int* __restrict__ blockGroup, const int* __restrict__ order, bf16* __restrict__ out,
                              int N, int K, int groups) {
  const size_t octets = (size_t)N * K / 8;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < octets; i += (size_t)gridDim.x * blockDim.x) {
    const int row = (int)(i / (K / 8)), col = (int)(i % (K / 8)) * 8;
    const uint32_t* words = reinterpret_cast<const uint32_t*>(codes + (size_t)row * K * BITS / 8 + (size_t)col * BITS / 8);
    uint32_t w[BITS / 4];
#pragma unroll
    for (int j = 0; j < BITS / 4; j++) w[j] = __ldcs(words + j);
    const float2 a = __ldg(affine + (size_t)row * groups + __ldg(blockGroup + col / 32));
    float v[8];
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] = fmaf(codeFloat<BITS>(w[e * BITS / 32], (e * BITS % 32) / BITS), a.x, -a.y);
    bf16* dst = out + (size_t)row * K;
    if (!order) {
      *reinterpret_cast<uint4*>(dst + col) = pack8(v);
    } else {
#pragma unroll
      for (int e = 0; e < 8; e++) dst[__ldg(order + col + e)] = __float2bfloat16(v[e]);
    }
  }
}

extern "C" __global__ void int4_dequantize(const uint8_t* codes, const float2* affine, const int* blockGroup,
                                           const int* order, bf16* out, int N, int K, int groups) {
  intDequantize<4>(codes, affine, blockGroup, order, out, N, K, groups);
}
extern "C" __global__ void int8_dequantize(const uint8_t* codes, const float2* affine, const int* blockGroup,
                                           const int* order, bf16* out, int N, int K, int groups) {
  intDequantize<8>(codes, affine, blockGroup, order, out, N, K, groups);
}
