// Paged attention over the KV cache ([numBlocks, nKV, 16, D] per layer, bf16).
//  - prefill: flash-attention style on the tensor cores (WMMA bf16, fp32 accumulate), causal,
//    chunked-prefill aware: a sequence's new tokens attend to its cached context and themselves.
//  - decode: one query per sequence, GQA-aware (one block serves a KV head's whole query group,
//    reading K/V once), split over the context in partitions, then combined.
#pragma once
#include <mma.h>
#include "common.cuh"

namespace attn {
constexpr int BQ = 64;    // queries per prefill block (16 per warp)
constexpr int BK = 64;    // keys per prefill tile
constexpr int PART = 128;  // context tokens per decode split
}  // namespace attn

template <int D>
struct PrefillSmem {
  static constexpr int LDK = D + 8, LDS = attn::BK + 4, LDP = attn::BK + 8, LDO = D + 4;
  static constexpr size_t kBytes = (size_t)attn::BK * LDK * 2;
  static constexpr size_t bytes =
      2 * kBytes + (size_t)attn::BQ * LDS * 4 + (size_t)attn::BQ * LDP * 2 + (size_t)attn::BQ * LDO * 4;
};

// grid: (numWorkItems, nH); workItems[2i] = sequence, workItems[2i+1] = first query row of the tile.
template <int D>
__device__ void attentionPrefill(const bf16* __restrict__ q, const bf16* __restrict__ kCache,
                                 const bf16* __restrict__ vCache, const int* __restrict__ blockTables,
                                 int maxBlocks, const int* __restrict__ queryStart,
                                 const int* __restrict__ contextLens, const int* __restrict__ workItems,
                                 bf16* __restrict__ out, int nH, int nKV, float scaleLog2) {
  using namespace nvcuda;
  using namespace attn;
  using S = PrefillSmem<D>;
  constexpr int LDK = S::LDK, LDS = S::LDS, LDP = S::LDP, LDO = S::LDO, VEC = D / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* sK = reinterpret_cast<bf16*>(smem);
  bf16* sV = sK + BK * LDK;
  float* sS = reinterpret_cast<float*>(sV + BK * LDK);
  bf16* sP = reinterpret_cast<bf16*>(sS + BQ * LDS);
  float* sO = reinterpret_cast<float*>(sP + BQ * LDP);

  const int seq = workItems[2 * blockIdx.x], qTile = workItems[2 * blockIdx.x + 1];
  const int head = blockIdx.y, kvh = head / (nH / nKV);
  const int qBeg = queryStart[seq], qLen = queryStart[seq + 1] - qBeg;
  const int cached = contextLens[seq] - qLen;
  const int rows = min(BQ, qLen - qTile);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int* bt = blockTables + (size_t)seq * maxBlocks;
  const size_t qStride = (size_t)nH * D;

  // Stage this tile's queries in sK, then keep them in registers as matrix_a fragments.
  for (int i = tid; i < BQ * VEC; i += blockDim.x) {
    const int r = i / VEC, c = (i % VEC) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < rows) v = *reinterpret_cast<const uint4*>(q + (qBeg + qTile + r) * qStride + head * D + c);
    *reinterpret_cast<uint4*>(sK + r * LDK + c) = v;
  }
  for (int i = tid; i < BQ * LDO; i += blockDim.x) sO[i] = 0.f;
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qf[D / 16];
#pragma unroll
  for (int k = 0; k < D / 16; k++) wmma::load_matrix_sync(qf[k], sK + warp * 16 * LDK + k * 16, LDK);
  __syncthreads();

  // Softmax state: lanes 2r and 2r+1 share row r of this warp's 16, each owning half the columns.
  const int myRow = warp * 16 + (lane >> 1), halfSel = lane & 1;
  const int qPos = myRow < rows ? cached + qTile + myRow : -1;
  float mRow = NEG_INF, lRow = 0.f;
  const int kvEnd = cached + qTile + rows;

  for (int kv0 = 0; kv0 < kvEnd; kv0 += BK) {
    for (int i = tid; i < BK * VEC; i += blockDim.x) {
      const int r = i / VEC, c = (i % VEC) * 8, j = kv0 + r;
      uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
      if (j < kvEnd) {
        const size_t off = (((size_t)bt[j >> 4] * nKV + kvh) * 16 + (j & 15)) * D + c;
        kv = *reinterpret_cast<const uint4*>(kCache + off);
        vv = *reinterpret_cast<const uint4*>(vCache + off);
      }
      *reinterpret_cast<uint4*>(sK + r * LDK + c) = kv;
      *reinterpret_cast<uint4*>(sV + r * LDK + c) = vv;
    }
    __syncthreads();

#pragma unroll
    for (int n = 0; n < BK / 16; n++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int k = 0; k < D / 16; k++) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, sK + n * 16 * LDK + k * 16, LDK);
        wmma::mma_sync(acc, qf[k], kf, acc);
      }
      wmma::store_matrix_sync(sS + warp * 16 * LDS + n * 16, acc, LDS, wmma::mem_row_major);
    }
    __syncwarp();

    {
      const float* srow = sS + myRow * LDS + halfSel * 32;
      float vals[32];
      float mx = NEG_INF;
#pragma unroll
      for (int c = 0; c < 32; c++) {
        const int j = kv0 + halfSel * 32 + c;
        const float s = j <= qPos ? srow[c] * scaleLog2 : NEG_INF;
        vals[c] = s;
        mx = fmaxf(mx, s);
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      const float mNew = fmaxf(mRow, mx);
      const float alpha = mRow == NEG_INF ? 0.f : exp2f(mRow - mNew);
      float sum = 0.f;
      bf16* prow = sP + myRow * LDP + halfSel * 32;
#pragma unroll
      for (int c = 0; c < 32; c++) {
        const float p = vals[c] == NEG_INF ? 0.f : exp2f(vals[c] - mNew);
        const bf16 pb = __float2bfloat16(p);
        sum += __bfloat162float(pb);
        prow[c] = pb;
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      lRow = lRow * alpha + sum;
      mRow = mNew;
      float* orow = sO + myRow * LDO + halfSel * (D / 2);
#pragma unroll
      for (int d = 0; d < D / 2; d++) orow[d] *= alpha;
    }
    __syncwarp();

#pragma unroll
    for (int n = 0; n < D / 16; n++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
      wmma::load_matrix_sync(o, sO + warp * 16 * LDO + n * 16, LDO, wmma::mem_row_major);
#pragma unroll
      for (int k = 0; k < BK / 16; k++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, sP + warp * 16 * LDP + k * 16, LDP);
        wmma::load_matrix_sync(vf, sV + k * 16 * LDK + n * 16, LDK);
        wmma::mma_sync(o, pf, vf, o);
      }
      wmma::store_matrix_sync(sO + warp * 16 * LDO + n * 16, o, LDO, wmma::mem_row_major);
    }
    __syncthreads();
  }

  if (myRow < rows) {
    const float inv = lRow > 0.f ? 1.f / lRow : 0.f;
    const float* orow = sO + myRow * LDO + halfSel * (D / 2);
    bf16* dst = out + (qBeg + qTile + myRow) * qStride + head * D + halfSel * (D / 2);
#pragma unroll
    for (int d = 0; d < D / 2; d += 8) {
      float v[8];
#pragma unroll
      for (int e = 0; e < 8; e++) v[e] = orow[d + e] * inv;
      *reinterpret_cast<uint4*>(dst + d) = pack8(v);
    }
  }
}

#define PREFILL_KERNEL(D)                                                                                        \
  extern "C" __global__ void __launch_bounds__(128) attention_prefill_d##D(                                      \
      const bf16* q, const bf16* kCache, const bf16* vCache, const int* blockTables, int maxBlocks,              \
      const int* queryStart, const int* contextLens, const int* workItems, bf16* out, int nH, int nKV,          \
      float scaleLog2) {                                                                                         \
    attentionPrefill<D>(q, kCache, vCache, blockTables, maxBlocks, queryStart, contextLens, workItems, out, nH, \
                        nKV, scaleLog2);                                                                         \
  }
PREFILL_KERNEL(16)
PREFILL_KERNEL(32)
PREFILL_KERNEL(64)
PREFILL_KERNEL(128)

// How a decode sequence's context is split: chunks of PART tokens, at most maxSplits splits,
// each split a run of consecutive chunks. Shared by the decode kernel and the combine.
__device__ __forceinline__ void decodeSplits(int ctx, int chunkTokens, int splitLimit, int& numSplits,
                                             int& chunksPerSplit) {
  const int numChunks = (ctx + chunkTokens - 1) / chunkTokens;
  chunksPerSplit = max(1, (numChunks + splitLimit - 1) / splitLimit);
  numSplits = (numChunks + chunksPerSplit - 1) / chunksPerSplit;
}

// grid: (numSeqs, nKV, maxSplits); block 128. Sequences whose query length is not 1 are left to
// the prefill kernel. Each block walks its split chunk by chunk with an online softmax and writes
// a partial output (unnormalised), its running max (log2 units) and sum.
template <int D, int MAXG, int U>
__device__ void attentionDecode(const bf16* __restrict__ q, const bf16* __restrict__ kCache,
                                const bf16* __restrict__ vCache, const int* __restrict__ blockTables,
                                int maxBlocks, const int* __restrict__ queryStart,
                                const int* __restrict__ contextLens, float* __restrict__ partOut,
                                float* __restrict__ partMax, float* __restrict__ partSum, int nH, int nKV,
                                int maxSplits, float scaleLog2) {
  using attn::PART;
  constexpr int TPT = D / 8, TPW = 32 / TPT, NW = 4;
  __shared__ float sS[MAXG][PART];
  __shared__ float sRed[NW][MAXG * D];
  __shared__ float sM[MAXG], sL[MAXG], sAlpha[MAXG];
  const int seq = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int qb = queryStart[seq];
  if (queryStart[seq + 1] - qb != 1) return;
  const int ctx = contextLens[seq];
  int numSplits, cps;
  decodeSplits(ctx, PART, maxSplits, numSplits, cps);
  if (split >= numSplits) return;
  const int begin = split * cps * PART, end = min(ctx, begin + cps * PART);
  const int G = nH / nKV;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, sub = lane / TPT, part = lane % TPT;
  const int* bt = blockTables + (size_t)seq * maxBlocks;
  // This lane's 8 dims of U token groups of one cache (K or V), from token start + base on; every
  // load is issued before any is used, so each lane has U 16-byte loads in flight. Zero past n.
  auto loadGroups = [&](const bf16* __restrict__ cache, int start, int n, int base, float (&out)[U][8]) {
#pragma unroll
    for (int u = 0; u < U; u++) {
      const int i = base + u * NW * TPW + sub;
      if (i < n) {
        const int j = start + i;
        const size_t off = (((size_t)bt[j >> 4] * nKV + kvh) * 16 + (j & 15)) * D + part * 8;
        unpack8(*reinterpret_cast<const uint4*>(cache + off), out[u]);
      } else {
#pragma unroll
        for (int e = 0; e < 8; e++) out[u][e] = 0.f;
      }
    }
  };

  float qr[MAXG][8], acc[MAXG][8];
#pragma unroll
  for (int g = 0; g < MAXG; g++) {
#pragma unroll
    for (int e = 0; e < 8; e++) acc[g][e] = 0.f;
    if (g < G) {
      unpack8(*reinterpret_cast<const uint4*>(q + ((size_t)qb * nH + kvh * G + g) * D + part * 8), qr[g]);
#pragma unroll
      for (int e = 0; e < 8; e++) qr[g][e] *= scaleLog2;
    }
  }
  if (threadIdx.x < MAXG) {
    sM[threadIdx.x] = NEG_INF;
    sL[threadIdx.x] = 0.f;
  }

  for (int start = begin; start < end; start += PART) {
    const int n = min(end - start, PART);
    for (int base = warp * TPW; base < n; base += NW * TPW * U) {
      float k[U][8];
      loadGroups(kCache, start, n, base, k);
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int i = base + u * NW * TPW + sub;
#pragma unroll
        for (int g = 0; g < MAXG; g++) {
          if (g < G) {
            float dot = 0.f;
#pragma unroll
            for (int e = 0; e < 8; e++) dot += qr[g][e] * k[u][e];
#pragma unroll
            for (int o = TPT / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
            if (i < n && part == 0) sS[g][i] = dot;
          }
        }
      }
    }
    __syncthreads();

    for (int g = warp; g < G; g += NW) {
      float mx = NEG_INF;
      for (int i = lane; i < n; i += 32) mx = fmaxf(mx, sS[g][i]);
      mx = warpMax(mx);
      const float mOld = sM[g], mNew = fmaxf(mOld, mx);
      float sum = 0.f;
      for (int i = lane; i < n; i += 32) {
        const float p = exp2f(sS[g][i] - mNew);
        sS[g][i] = p;
        sum += p;
      }
      sum = warpSum(sum);
      __syncwarp();
      if (lane == 0) {
        const float alpha = mOld == NEG_INF ? 0.f : exp2f(mOld - mNew);
        sAlpha[g] = alpha;
        sL[g] = sL[g] * alpha + sum;
        sM[g] = mNew;
      }
    }
    __syncthreads();

#pragma unroll
    for (int g = 0; g < MAXG; g++) {
      if (g < G) {
        const float alpha = sAlpha[g];
#pragma unroll
        for (int e = 0; e < 8; e++) acc[g][e] *= alpha;
      }
    }
    for (int base = warp * TPW; base < n; base += NW * TPW * U) {
      float v[U][8];
      loadGroups(vCache, start, n, base, v);
#pragma unroll
      for (int u = 0; u < U; u++) {
        const int i = base + u * NW * TPW + sub;
        if (i < n) {
#pragma unroll
          for (int g = 0; g < MAXG; g++) {
            if (g < G) {
              const float p = sS[g][i];
#pragma unroll
              for (int e = 0; e < 8; e++) acc[g][e] += p * v[u][e];
            }
          }
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int g = 0; g < MAXG; g++) {
    if (g < G) {
#pragma unroll
      for (int e = 0; e < 8; e++) {
#pragma unroll
        for (int o = TPT; o < 32; o <<= 1) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
        if (sub == 0) sRed[warp][g * D + part * 8 + e] = acc[g][e];
      }
    }
  }
  __syncthreads();
  const size_t partBase = ((size_t)seq * nH + kvh * G) * maxSplits + split;
  for (int i = threadIdx.x; i < G * D; i += blockDim.x) {
    const int g = i / D, d = i % D;
    const float v = sRed[0][i] + sRed[1][i] + sRed[2][i] + sRed[3][i];
    partOut[(partBase + (size_t)g * maxSplits) * D + d] = v;
  }
  if (threadIdx.x < G) {
    partMax[partBase + (size_t)threadIdx.x * maxSplits] = sM[threadIdx.x];
    partSum[partBase + (size_t)threadIdx.x * maxSplits] = sL[threadIdx.x];
  }
}

// U: token groups whose loads are issued together (more bytes in flight, more registers).
#define DECODE_KERNEL(D, G, U)                                                                              \
  extern "C" __global__ void __launch_bounds__(128) attention_decode_d##D##_g##G##_u##U(                    \
      const bf16* q, const bf16* kCache, const bf16* vCache, const int* blockTables, int maxBlocks,         \
      const int* queryStart, const int* contextLens, float* partOut, float* partMax, float* partSum,       \
      int nH, int nKV, int maxSplits, float scaleLog2) {                                                    \
    attentionDecode<D, G, U>(q, kCache, vCache, blockTables, maxBlocks, queryStart, contextLens, partOut,  \
                             partMax, partSum, nH, nKV, maxSplits, scaleLog2);                              \
  }
DECODE_KERNEL(16, 8, 1)
DECODE_KERNEL(32, 8, 1)
DECODE_KERNEL(64, 8, 1)
DECODE_KERNEL(128, 8, 1)
DECODE_KERNEL(64, 8, 4)
DECODE_KERNEL(128, 8, 4)
DECODE_KERNEL(16, 16, 1)
DECODE_KERNEL(32, 16, 1)
DECODE_KERNEL(64, 16, 1)
DECODE_KERNEL(128, 16, 1)

// Decode on the tensor cores, GQA packed: the G query heads of one KV head are the rows of a
// 16-row tile, so one pass over a KV block serves them all. grid: (numSeqs, nKV, splitLimit);
// block 128. A split is a run of 16-token cache blocks; its 4 warps take blocks in turn, each with
// its own online softmax, reading K and V fragments straight from the paged cache, then merge.
// NOTE: slots past the context in the last block are masked in S, but P (zero there) still
// multiplies their V rows: the cache is zeroed at allocation so those are never NaN.
template <int D>
__device__ void attentionDecodeTc(const bf16* __restrict__ q, const bf16* __restrict__ kCache,
                                  const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
                                  const int* __restrict__ queryStart, const int* __restrict__ contextLens,
                                  float* __restrict__ partOut, float* __restrict__ partMax,
                                  float* __restrict__ partSum, int nH, int nKV, int maxSplits, int splitLimit,
                                  float scaleLog2) {
  using namespace nvcuda;
  constexpr int NW = 4, LDQ = D + 8, LDS = 16 + 4, LDP = 16 + 8, LDO = D + 4, VEC = D / 8;
  __shared__ __align__(128) bf16 sQ[16 * LDQ];
  __shared__ __align__(128) float sS[NW][16 * LDS];
  __shared__ __align__(128) bf16 sP[NW][16 * LDP];
  __shared__ __align__(128) float sO[NW][16 * LDO];
  __shared__ float sM[NW][16], sL[NW][16];
  const int seq = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int qb = queryStart[seq];
  if (queryStart[seq + 1] - qb != 1) return;
  const int ctx = contextLens[seq];
  int numSplits, tps;
  decodeSplits(ctx, 16, splitLimit, numSplits, tps);
  if (split >= numSplits) return;
  const int numTiles = (ctx + 15) / 16;
  const int tile0 = split * tps, tile1 = min(numTiles, tile0 + tps);
  const int G = nH / nKV;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int* bt = blockTables + (size_t)seq * maxBlocks;

  for (int i = tid; i < 16 * VEC; i += blockDim.x) {
    const int r = i / VEC, c = (i % VEC) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < G) v = *reinterpret_cast<const uint4*>(q + ((size_t)qb * nH + kvh * G + r) * D + c);
    *reinterpret_cast<uint4*>(sQ + r * LDQ + c) = v;
  }
  float* myO = sO[warp];
  for (int i = lane; i < 16 * LDO; i += 32) myO[i] = 0.f;
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qf[D / 16];
#pragma unroll
  for (int k = 0; k < D / 16; k++) wmma::load_matrix_sync(qf[k], sQ + k * 16, LDQ);

  const int row = lane >> 1, halfSel = lane & 1;
  float m = NEG_INF, l = 0.f;
  float* myS = sS[warp];
  bf16* myP = sP[warp];
  for (int tile = tile0 + warp; tile < tile1; tile += NW) {
    const size_t base = ((size_t)bt[tile] * nKV + kvh) * 16 * D;
    const int numTok = min(16, ctx - tile * 16);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.f);
    wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kf[D / 16];
    wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vf[D / 16];
    // NOTE: V does not depend on the softmax: load it with K, so one memory round trip serves both.
#pragma unroll
    for (int k = 0; k < D / 16; k++) wmma::load_matrix_sync(kf[k], kCache + base + k * 16, D);
#pragma unroll
    for (int n = 0; n < D / 16; n++) wmma::load_matrix_sync(vf[n], vCache + base + n * 16, D);
#pragma unroll
    for (int k = 0; k < D / 16; k++) wmma::mma_sync(acc, qf[k], kf[k], acc);
    wmma::store_matrix_sync(myS, acc, LDS, wmma::mem_row_major);
    __syncwarp();
    float vals[8];
    float mx = NEG_INF;
#pragma unroll
    for (int c = 0; c < 8; c++) {
      const int col = halfSel * 8 + c;
      vals[c] = col < numTok ? myS[row * LDS + col] * scaleLog2 : NEG_INF;
      mx = fmaxf(mx, vals[c]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mNew = fmaxf(m, mx);
    const float alpha = m == NEG_INF ? 0.f : exp2f(m - mNew);
    float sum = 0.f;
#pragma unroll
    for (int c = 0; c < 8; c++) {
      const bf16 pb = __float2bfloat16(vals[c] == NEG_INF ? 0.f : exp2f(vals[c] - mNew));
      sum += __bfloat162float(pb);
      myP[row * LDP + halfSel * 8 + c] = pb;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * alpha + sum;
    m = mNew;
#pragma unroll
    for (int d = 0; d < D / 2; d++) myO[row * LDO + halfSel * (D / 2) + d] *= alpha;
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pf;
    wmma::load_matrix_sync(pf, myP, LDP);
#pragma unroll
    for (int n = 0; n < D / 16; n++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
      wmma::load_matrix_sync(o, myO + n * 16, LDO, wmma::mem_row_major);
      wmma::mma_sync(o, pf, vf[n], o);
      wmma::store_matrix_sync(myO + n * 16, o, LDO, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (halfSel == 0) {
    sM[warp][row] = m;
    sL[warp][row] = l;
  }
  __syncthreads();
  const size_t partBase = ((size_t)seq * nH + kvh * G) * maxSplits + split;
  for (int i = tid; i < G * D; i += blockDim.x) {
    const int g = i / D, d = i % D;
    float gm = NEG_INF;
#pragma unroll
    for (int w = 0; w < NW; w++) gm = fmaxf(gm, sM[w][g]);
    float o = 0.f, den = 0.f;
#pragma unroll
    for (int w = 0; w < NW; w++) {
      const float wt = sM[w][g] == NEG_INF ? 0.f : exp2f(sM[w][g] - gm);
      o += sO[w][g * LDO + d] * wt;
      den += sL[w][g] * wt;
    }
    partOut[(partBase + (size_t)g * maxSplits) * D + d] = o;
    if (d == 0) {
      partMax[partBase + (size_t)g * maxSplits] = gm;
      partSum[partBase + (size_t)g * maxSplits] = den;
    }
  }
}

#define DECODE_TC_KERNEL(D)                                                                                   \
  extern "C" __global__ void __launch_bounds__(128) attention_decode_tc_d##D(                                 \
      const bf16* q, const bf16* kCache, const bf16* vCache, const int* blockTables, int maxBlocks,           \
      const int* queryStart, const int* contextLens, float* partOut, float* partMax, float* partSum, int nH, \
      int nKV, int maxSplits, int splitLimit, float scaleLog2) {                                              \
    attentionDecodeTc<D>(q, kCache, vCache, blockTables, maxBlocks, queryStart, contextLens, partOut, partMax, \
                         partSum, nH, nKV, maxSplits, splitLimit, scaleLog2);                                 \
  }
DECODE_TC_KERNEL(16)
DECODE_TC_KERNEL(32)
DECODE_TC_KERNEL(64)
DECODE_TC_KERNEL(128)

// grid: (numSeqs, nH); block: max(D, 32). Merges the splits of one query head.
extern "C" __global__ void attention_decode_combine(const float* __restrict__ partOut,
                                                    const float* __restrict__ partMax,
                                                    const float* __restrict__ partSum,
                                                    const int* __restrict__ queryStart,
                                                    const int* __restrict__ contextLens, bf16* __restrict__ out,
                                                    int nH, int D, int maxSplits, int chunkTokens, int splitLimit) {
  const int seq = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
  const int qb = queryStart[seq];
  if (queryStart[seq + 1] - qb != 1 || d >= D) return;
  int numSplits, cps;
  decodeSplits(contextLens[seq], chunkTokens, splitLimit, numSplits, cps);
  const size_t base = ((size_t)seq * nH + h) * maxSplits;
  float gmax = NEG_INF;
  for (int s = 0; s < numSplits; s++) gmax = fmaxf(gmax, partMax[base + s]);
  float num = 0.f, den = 0.f;
  for (int s = 0; s < numSplits; s++) {
    const float w = exp2f(partMax[base + s] - gmax);
    num += partOut[(base + s) * D + d] * w;
    den += partSum[base + s] * w;
  }
  out[((size_t)qb * nH + h) * D + d] = __float2bfloat16(den > 0.f ? num / den : 0.f);
}
