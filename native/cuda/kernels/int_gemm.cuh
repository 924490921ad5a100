// GEMMs with int4 / int8 weights (src/formats/grouped_int_layout.h) for steps of more than 4
// rows: y[m, n] = sum_k x[m, k] W[n, k] on the tensor cores, dequantization fused in. A block
// computes 128 weight rows x BN activation rows (BN = 16, 32, 64 or 128: the smallest that holds
// the step, so a small batch does not pay for a big tile's products), 32 columns (one
// quantization block, so one affine map per weight row) at a time: each thread reads half a
// weight row's codes of the tile (8 or 16 bytes) and up to two 16-byte pieces of x, the weights
// are dequantized to bf16 on their way to shared memory, and the 8 warps multiply with ldmatrix +
// mma.sync (mma.cuh), each on a (128 / WM) x (BN / WN) part. Shared memory holds two tiles: the
// next tile's global reads are issued before this tile's products, so they overlap, and one
// barrier per tile suffices.
#pragma once
#include "../src/int_kernel_tiles.h"
#include "int_codes.cuh"
#include "mma.cuh"

namespace int_gemm {
constexpr int BM = kIntGemmWeightRows, BK = 32;
static_assert(kIntGemmThreads == 2 * BM && kIntGemmThreads == 8 * 32, "a thread loads half a weight row per tile; 8 warps");
constexpr int LD = BK + 8;  // bf16 per shared row: 80 bytes, so ldmatrix's 8 rows hit distinct banks

// The warps' arrangement for a BN-row tile: WM x WN warps, each MI x NI mma tiles of 16 x 8.
template <int BN>
struct Warps {
  static constexpr int WN = BN >= 128 ? 4 : BN >= 64 ? 2 : 1, WM = 8 / WN;
  static constexpr int MI = BM / WM / 16, NI = BN / WN / 8;
  static constexpr int X_PIECES = (BN * 4 + kIntGemmThreads - 1) / kIntGemmThreads;  // 16-byte pieces of x per thread
  static_assert(NI % 2 == 0 && MI >= 1, "B fragments are loaded two n-tiles at a time");
};

// One tile's global reads, held in registers until the tile is stored.
template <int BITS, int BN>
struct TileRegs {
  uint32_t codes[BITS / 2];  // 16 codes of half a weight row
  float2 affine;
  uint4 x[Warps<BN>::X_PIECES];  // 8 columns of an activation row each
};

template <int BITS, int BN>
__device__ __forceinline__ void loadTile(TileRegs<BITS, BN>& t, const uint8_t* __restrict__ codes,
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
#pragma unroll
  for (int i = 0; i < Warps<BN>::X_PIECES; i++) {
    const int piece = threadIdx.x + i * kIntGemmThreads, xRow = n0 + piece / 4;
    const bool valid = piece < BN * 4 && xRow < rows;
    t.x[i] = valid ? load8Columns(x + (size_t)xRow * K, tile * BK + (piece % 4) * 8, order) : make_uint4(0, 0, 0, 0);
  }
}

template <int BITS, int BN>
__device__ __forceinline__ void storeTile(const TileRegs<BITS, BN>& t, bf16* sW, bf16* sX) {
  float w[16];
#pragma unroll
  for (int i = 0; i < 16; i++) w[i] = fmaf(codeFloat<BITS>(t.codes[i * BITS / 32], (i * BITS % 32) / BITS), t.affine.x, -t.affine.y);
  uint4* dst = reinterpret_cast<uint4*>(sW + (threadIdx.x >> 1) * LD + (threadIdx.x & 1) * 16);
  dst[0] = pack8(w);
  dst[1] = pack8(w + 8);
#pragma unroll
  for (int i = 0; i < Warps<BN>::X_PIECES; i++) {
    const int piece = threadIdx.x + i * kIntGemmThreads;
    if (piece < BN * 4) *reinterpret_cast<uint4*>(sX + (piece / 4) * LD + (piece % 4) * 8) = t.x[i];
  }
}
}  // namespace int_gemm

template <int BITS, int BN, bool F32OUT>
__device__ void intGemm(const bf16* __restrict__ x, const uint8_t* __restrict__ codes, const float2* __restrict__ affine,
                        const int* __restrict__ blockGroup, const int* __restrict__ order, void* __restrict__ y, int N,
                        int K, int groups, int rows) {
  using namespace int_gemm;
  using W = Warps<BN>;
  __shared__ __align__(16) bf16 sW[2][BM * LD];
  __shared__ __align__(16) bf16 sX[2][BN * LD];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wm = warp % W::WM, wn = warp / W::WM;  // this warp's part of the block's tile
  const int mBase = wm * (BM / W::WM), nBase = wn * (BN / W::WN);
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int tiles = K / BK;
  float acc[W::MI][W::NI][4] = {};

  TileRegs<BITS, BN> regs;
  loadTile<BITS, BN>(regs, codes, affine, blockGroup, order, x, 0, m0, n0, N, rows, K, groups);
  for (int tile = 0; tile < tiles; tile++) {
    bf16* w = sW[tile & 1];
    bf16* xs = sX[tile & 1];
    storeTile<BITS, BN>(regs, w, xs);
    __syncthreads();
    if (tile + 1 < tiles) loadTile<BITS, BN>(regs, codes, affine, blockGroup, order, x, tile + 1, m0, n0, N, rows, K, groups);
#pragma unroll
    for (int ks = 0; ks < BK / 16; ks++) {
      unsigned a[W::MI][4];
#pragma unroll
      for (int mi = 0; mi < W::MI; mi++)
        ldmatrixX4(smemAddr(w + (mBase + mi * 16 + (lane & 15)) * LD + ks * 16 + (lane >> 4) * 8), a[mi][0], a[mi][1],
                   a[mi][2], a[mi][3]);
#pragma unroll
      for (int nj = 0; nj < W::NI / 2; nj++) {
        unsigned b0, b1, b2, b3;
        ldmatrixX4(smemAddr(xs + (nBase + nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + ks * 16 + ((lane >> 3) & 1) * 8),
                   b0, b1, b2, b3);
#pragma unroll
        for (int mi = 0; mi < W::MI; mi++) {
          mmaBf16(acc[mi][2 * nj], a[mi], b0, b1);
          mmaBf16(acc[mi][2 * nj + 1], a[mi], b2, b3);
        }
      }
    }
  }

  // Fragment c of tile (mi, ni): weight rows g and g + 8, activation rows 2q and 2q + 1.
  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int mi = 0; mi < W::MI; mi++)
#pragma unroll
    for (int ni = 0; ni < W::NI; ni++)
#pragma unroll
      for (int c = 0; c < 4; c++) {
        const int col = m0 + mBase + mi * 16 + g + (c >> 1) * 8;
        const int row = n0 + nBase + ni * 8 + 2 * q + (c & 1);
        if (col >= N || row >= rows) continue;
        const size_t at = (size_t)row * N + col;
        if (F32OUT) reinterpret_cast<float*>(y)[at] = acc[mi][ni][c];
        else reinterpret_cast<bf16*>(y)[at] = __float2bfloat16(acc[mi][ni][c]);
      }
}

// int{4,8}_gemm_{bf16,f32}_n{16,32,64,128}: one kernel per bit width, output type and tile rows.
#define INT_GEMM_KERNEL(BITS, BN)                                                                                     \
  extern "C" __global__ void __launch_bounds__(kIntGemmThreads) int##BITS##_gemm_bf16_n##BN(                          \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y,     \
      int N, int K, int groups, int rows) {                                                                           \
    intGemm<BITS, BN, false>(x, codes, affine, blockGroup, order, y, N, K, groups, rows);                             \
  }                                                                                                                   \
  extern "C" __global__ void __launch_bounds__(kIntGemmThreads) int##BITS##_gemm_f32_n##BN(                           \
      const bf16* x, const uint8_t* codes, const float2* affine, const int* blockGroup, const int* order, void* y,     \
      int N, int K, int groups, int rows) {                                                                           \
    intGemm<BITS, BN, true>(x, codes, affine, blockGroup, order, y, N, K, groups, rows);                              \
  }
INT_GEMM_KERNEL(4, 16)
INT_GEMM_KERNEL(4, 32)
INT_GEMM_KERNEL(4, 64)
INT_GEMM_KERNEL(4, 128)
INT_GEMM_KERNEL(8, 16)
INT_GEMM_KERNEL(8, 32)
INT_GEMM_KERNEL(8, 64)
INT_GEMM_KERNEL(8, 128)
