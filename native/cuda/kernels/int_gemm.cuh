// GEMMs with int4 / int8 weights (src/formats/grouped_int_layout.h) for steps of more than 4
// rows: y[m, n] = sum_k x[m, k] W[n, k] on the tensor cores, dequantization fused in. A block
// computes 128 weight rows x 64 activation rows, 32 columns (one quantization block, so one affine
// map per weight row) at a time: each thread reads half a weight row's codes of the tile (8 or 16
// bytes) and one 16-byte piece of x, the weights are dequantized to bf16 on their way to shared
// memory, and the 8 warps (4 x 2, 32 x 32 each) multiply with ldmatrix + mma.sync (mma.cuh). Shared
// memory holds two tiles: the next tile's global reads are issued before this tile's products, so
// they overlap, and one barrier per tile suffices.
#pragma once
#include "../src/int_kernel_tiles.h"
#include "int_codes.cuh"
#include "mma.cuh"

namespace int_gemm {
constexpr int BM = kIntGemmWeightRows, BN = kIntGemmXRows, BK = 32;
static_assert(kIntGemmThreads == 2 * BM && kIntGemmThreads == 4 * BN && kIntGemmThreads == 8 * 32,
              "a thread loads half a weight row and a quarter of an x row per tile; 8 warps of 32 x 32");
constexpr int LD = BK + 8;  // bf16 per shared row: 80 bytes, so ldmatrix's 8 rows hit distinct banks

// One tile's global reads, held in registers until the tile is stored.
template <int BITS>
struct TileRegs {
  uint32_t codes[BITS / 2];  // 16 codes of half a weight row
  float2 affine;
  uint4 x;  // 8 columns of one activation row
};

template <int BITS>
__device__ __forceinline__ void loadTile(TileRegs<BITS>& t, const uint8_t* __restrict__ codes,
                                         const float2* __restrict__ affine, const int* __restrict__ blockGroup,
                                         const int* __restrict__ order, const bf16* __restrict__ x, int tile, int m0,
                                         int n0, int N, int rows, int K, int groups) {
  const int wRow = min(m0 + (threadIdx.x >> 1), N - 1);  // past N: a repeat, never stored
  const uint8_t* src = codes + (size_t)wRow * K * BITS / 8 + (size_t)tile * BK * BITS / 8 + (threadIdx.x & 1) * 2 * BITS;
  if (BITS == 4) {
    const uint2 v = __ldcs(reinterpret_cast<const uint2*>(src));
    t.codes[0] = v.x;
    t.codes[1] = v.y;
  } else {
    const uint4 v = __ldcs(reinterpret_cast<const uint4*>(src));
    t.codes[0] = v.x;
    t.codes[1] = v.y;
    t.codes[2] = v.z;
    t.codes[3] = v.w;
  }
  t.affine = __ldg(affine + (size_t)wRow * groups + __ldg(blockGroup + tile));
  const int xRow = n0 + (threadIdx.x >> 2);
  t.x = xRow < rows ? load8Columns(x + (size_t)xRow * K, tile * BK + (threadIdx.x & 3) * 8, order) : make_uint4(0, 0, 0, 0);
}

template <int BITS>
__device__ __forceinline__ void storeTile(const TileRegs<BITS>& t, bf16* sW, bf16* sX) {
  float w[16];
#pragma unroll
  for (int i = 0; i < 16; i++) w[i] = fmaf(codeFloat<BITS>(t.codes[i * BITS / 32], (i * BITS % 32) / BITS), t.affine.x, -t.affine.y);
  uint4* dst = reinterpret_cast<uint4*>(sW + (threadIdx.x >> 1) * LD + (threadIdx.x & 1) * 16);
  dst[0] = pack8(w);
  dst[1] = pack8(w + 8);
  *reinterpret_cast<uint4*>(sX + (threadIdx.x >> 2) * LD + (threadIdx.x & 3) * 8) = t.x;
}
}  // namespace int_gemm

template <int BITS, bool F32OUT>
__device__ void intGemm(const bf16* __restrict__ x, const uint8_t* __restrict__ codes, const float2* __restrict__ affine,
                        const int* __restrict__ blockGroup, const int* __restrict__ order, void* __restrict__ y, int N,
                        int K, int groups, int rows) {
  using namespace int_gemm;
  __shared__ __align__(16) bf16 sW[2][BM * LD];
  __shared__ __align__(16) bf16 sX[2][BN * LD];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = warp & 3, wn = warp >> 2;  // this warp's 32 x 32 of the block's 128 x 64
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int tiles = K / BK;
  float acc[2][4][4] = {};

  TileRegs<BITS> regs;
  loadTile<BITS>(regs, codes, affine, blockGroup, order, x, 0, m0, n0, N, rows, K, groups);
  for (int tile = 0; tile < tiles; tile++) {
    bf16* w = sW[tile & 1];
    bf16* xs = sX[tile & 1];
    storeTile<BITS>(regs, w, xs);
    __syncthreads();
    if (tile + 1 < tiles) loadTile<BITS>(regs, codes, affine, blockGroup, order, x, tile + 1, m0, n0, N, rows, K, groups);
#pragma unroll
    for (int ks = 0; ks < BK / 16; ks++) {
      unsigned a[2][4];
#pragma unroll
      for (int mi = 0; mi < 2; mi++)
        ldmatrixX4(smemAddr(w + (wm * 32 + mi * 16 + (lane & 15)) * LD + ks * 16 + (lane >> 4) * 8), a[mi][0], a[mi][1],
                   a[mi][2], a[mi][3]);
#pragma unroll
      for (int nj = 0; nj < 2; nj++) {
        unsigned b0, b1, b2, b3;
        ldmatrixX4(smemAddr(xs + (wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + ks * 16 + ((lane >> 3) & 1) * 8),
                   b0, b1, b2, b3);
#pragma unroll
        for (int mi = 0; mi < 2; mi++) {
          mmaBf16(acc[mi][2 * nj], a[mi], b0, b1);
          mmaBf16(acc[mi][2 * nj + 1], a[mi], b2, b3);
        }
      }
    }
  }

  // Fragment c of tile (mi, ni): weight rows g and g + 8, activation rows 2q and 2q + 1.
  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int mi = 0; mi < 2; mi++)
#pragma unroll
    for (int ni = 0; ni < 4; ni++)
#pragma unroll
      for (int c = 0; c < 4; c++) {
        const int col = m0 + wm * 32 + mi * 16 + g + (c >> 1) * 8;
        const int row = n0 + wn * 32 + ni * 8 + 2 * q + (c & 1);
        if (col >= N || row >= rows) continue;
        const size_t at = (size_t)row * N + col;
        if (F32OUT) reinterpret_cast<float*>(y)[at] = acc[mi][ni][c];
        else reinterpret_cast<bf16*>(y)[at] = __float2bfloat16(acc[mi][ni][c]);
      }
}

#define INT_GEMM_KERNEL(BITS)                                                                                         \
  extern "C" __global__ void __launch_bounds__(kIntGemmThreads) int##BITS##_gemm_bf16(                               \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y,     \
      int N, int K, int groups, int rows) {                                                                           \
    intGemm<BITS, false>(x, codes, affine, blockGroup, order, y, N, K, groups, rows);                                 \
  }                                                                                                                   \
  extern "C" __global__ void __launch_bounds__(kIntGemmThreads) int##BITS##_gemm_f32(                                \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y,     \
      int N, int K, int groups, int rows) {                                                                           \
    intGemm<BITS, true>(x, codes, affine, blockGroup, order, y, N, K, groups, rows);                                  \
  }
INT_GEMM_KERNEL(4)
INT_GEMM_KERNEL(8)
