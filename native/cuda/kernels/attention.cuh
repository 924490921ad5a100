// Paged attention over the KV cache ([numBlocks, nKV, 16, D] per layer, bf16).
//  - prefill: FlashAttention-2 style on the tensor cores (mma.sync bf16, fp32 accumulate), causal,
//    chunked-prefill aware: a sequence's new tokens attend to its cached context and themselves.
//  - decode: one query per sequence, GQA-aware (one block serves a KV head's whole query group,
//    reading K/V once), split over the context in partitions, then combined.
#pragma once
#include "common.cuh"
#include "mma.cuh"
#include "../src/attention_tiles.h"


template <int D>
struct PrefillSmem {
  static constexpr int TILE_BYTES = attn::BK * D * 2;  // 64 tokens of K (or V)
  static constexpr int STAGE_BYTES = 2 * TILE_BYTES;
  static constexpr int Q_OFFSET = 2 * STAGE_BYTES;     // two stages: the next tile loads during this one
  static_assert(Q_OFFSET + attn::BQ * D * 2 == attn::prefillSmemBytes(D), "prefill layout");
};

// Byte offset of 16-byte chunk `chunk` of row `row` in a [rows][D] bf16 tile. Rows of 128 bytes or
// more have their chunks XORed with row % 8 so that ldmatrix's 8 rows hit 8 different bank groups.
template <int D>
__device__ __forceinline__ unsigned tileOffset(int row, int chunk) {
  return (unsigned)(row * D * 2 + ((D >= 64 ? (chunk ^ (row & 7)) : chunk) << 4));
}

// One key tile of the online softmax, for a warp's 16 query rows held in mma fragments (this
// thread's rows g and g + 8, see mmaBf16): s holds the tile's scores (log2 units, -inf where
// masked), ST tiles of 8 keys. The running max m and sum l move to the new max, O is rescaled to
// it, and P = exp2(s - m) comes back in pa as bf16 A fragments (16 keys each: S's accumulator
// layout is A's, tile 2k giving keys 0-7 and tile 2k + 1 keys 8-15). l sums the rounded P, what
// actually multiplies V.
template <int ST, int NT>
__device__ __forceinline__ void onlineSoftmaxTile(const float (&s)[ST][4], float (&m)[2], float (&l)[2],
                                                  float (&o)[NT][4], unsigned (&pa)[ST / 2][4]) {
  float rowMax[2] = {NEG_INF, NEG_INF}, alpha[2], mUse[2], rowSum[2] = {0.f, 0.f};
#pragma unroll
  for (int n = 0; n < ST; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) rowMax[e >> 1] = fmaxf(rowMax[e >> 1], s[n][e]);
#pragma unroll
  for (int h = 0; h < 2; h++) {
    rowMax[h] = fmaxf(rowMax[h], __shfl_xor_sync(0xffffffffu, rowMax[h], 1));
    rowMax[h] = fmaxf(rowMax[h], __shfl_xor_sync(0xffffffffu, rowMax[h], 2));
    const float mNew = fmaxf(m[h], rowMax[h]);
    alpha[h] = m[h] == NEG_INF ? 0.f : exp2f(m[h] - mNew);
    m[h] = mNew;
    // NOTE: a row that has seen only masked keys keeps m = -inf; its p must be exp2(-inf) = 0, not NaN.
    mUse[h] = mNew == NEG_INF ? 0.f : mNew;
  }
#pragma unroll
  for (int n = 0; n < ST; n++) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const unsigned packed = packBf16(exp2f(s[n][2 * h] - mUse[h]), exp2f(s[n][2 * h + 1] - mUse[h]));
      pa[n >> 1][(n & 1) * 2 + h] = packed;
      const __nv_bfloat162 rounded = *reinterpret_cast<const __nv_bfloat162*>(&packed);
      rowSum[h] += __low2float(rounded) + __high2float(rounded);
    }
  }
#pragma unroll
  for (int h = 0; h < 2; h++) {
    rowSum[h] += __shfl_xor_sync(0xffffffffu, rowSum[h], 1);
    rowSum[h] += __shfl_xor_sync(0xffffffffu, rowSum[h], 2);
    l[h] = l[h] * alpha[h] + rowSum[h];
  }
#pragma unroll
  for (int n = 0; n < NT; n++) {
    o[n][0] *= alpha[0];
    o[n][1] *= alpha[0];
    o[n][2] *= alpha[1];
    o[n][3] *= alpha[1];
  }
}

// grid: (numWorkItems, nH); workItems[2i] = sequence, workItems[2i+1] = first query row of the tile.
// FlashAttention-2 style: each warp owns 16 query rows with S, P and O in mma.sync fragments;
// the block's 128 threads copy each 64-token K/V tile into shared memory with cp.async while the
// tile before it is multiplied. Causal: a row sees the cached context and the new tokens up to itself.
template <int D>
__device__ void attentionPrefill(const bf16* __restrict__ q, const bf16* __restrict__ kCache,
                                 const bf16* __restrict__ vCache, const int* __restrict__ blockTables,
                                 int maxBlocks, const int* __restrict__ queryStart,
                                 const int* __restrict__ contextLens, const int* __restrict__ workItems,
                                 bf16* __restrict__ out, int nH, int nKV, float scaleLog2) {
  using namespace attn;
  using Smem = PrefillSmem<D>;
  constexpr int VEC = D / 8, KS = D / 16, NT = D / 8, ST = BK / 8;  // ST: S tiles of 8 tokens
  extern __shared__ __align__(128) unsigned char smem[];
  const unsigned sBase = smemAddr(smem), sQ = sBase + Smem::Q_OFFSET;

  const int seq = workItems[2 * blockIdx.x], qTile = workItems[2 * blockIdx.x + 1];
  const int head = blockIdx.y, kvh = head / (nH / nKV);
  const int qBeg = queryStart[seq], qLen = queryStart[seq + 1] - qBeg;
  const int cached = contextLens[seq] - qLen;
  const int rows = min(BQ, qLen - qTile);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, quad = lane & 3, g = lane >> 2;
  const int* bt = blockTables + (size_t)seq * maxBlocks;
  const size_t qStride = (size_t)nH * D;
  const int kvEnd = cached + qTile + rows;
  const int numTiles = (kvEnd + BK - 1) / BK;

  // Tile t of K and V into stage s; tokens past the context are zeros (their blocks may not exist).
  auto loadTile = [&](int t, int s) {
    for (int c = tid; c < BK * VEC; c += blockDim.x) {
      const int r = c / VEC, j = t * BK + r;
      const bool ok = j < kvEnd;
      const size_t off = ok ? (((size_t)bt[j >> 4] * nKV + kvh) * 16 + (j & 15)) * D + (c % VEC) * 8 : 0;
      const unsigned dst = sBase + s * Smem::STAGE_BYTES + tileOffset<D>(r, c % VEC);
      cpAsync16Zfill(dst, kCache + off, ok);
      cpAsync16Zfill(dst + Smem::TILE_BYTES, vCache + off, ok);
    }
  };
  loadTile(0, 0);
  cpAsyncCommit();

  for (int c = tid; c < BQ * VEC; c += blockDim.x) {
    const int r = c / VEC;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < rows) v = *reinterpret_cast<const uint4*>(q + (qBeg + qTile + r) * qStride + head * D + (c % VEC) * 8);
    *reinterpret_cast<uint4*>(smem + Smem::Q_OFFSET + tileOffset<D>(r, c % VEC)) = v;
  }
  __syncthreads();
  unsigned qa[KS][4];
#pragma unroll
  for (int ks = 0; ks < KS; ks++)
    ldmatrixX4(sQ + tileOffset<D>(warp * 16 + (lane & 15), ks * 2 + (lane >> 4)), qa[ks][0], qa[ks][1], qa[ks][2],
               qa[ks][3]);

  // This thread's rows: warp * 16 + g and + 8 (-1: past the tile, sees nothing).
  int qPos[2];
#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int r = warp * 16 + g + 8 * h;
    qPos[h] = r < rows ? cached + qTile + r : -1;
  }
  const int warpLastPos = warp * 16 < rows ? cached + qTile + min(rows - 1, warp * 16 + 15) : -1;
  const int warpFirstPos = cached + qTile + warp * 16;  // tiles ending before it need no mask
  float o[NT][4];
#pragma unroll
  for (int n = 0; n < NT; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.f, 0.f};

  for (int t = 0; t < numTiles; t++) {
    cpAsyncWait<0>();
    __syncthreads();
    // The stage refilled here was read in iteration t - 1, which every warp has finished.
    if (t + 1 < numTiles) loadTile(t + 1, (t + 1) & 1);
    cpAsyncCommit();
    const int kv0 = t * BK;
    if (kv0 > warpLastPos) continue;  // past every row of this warp (causal)
    const unsigned sK = sBase + (t & 1) * Smem::STAGE_BYTES, sV = sK + Smem::TILE_BYTES;

    float s[ST][4];
#pragma unroll
    for (int n = 0; n < ST; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
#pragma unroll
      for (int n = 0; n < ST; n += 2) {
        unsigned b0, b1, b2, b3;
        ldmatrixX4(sK + tileOffset<D>(n * 8 + (lane & 7) + ((lane >> 4) << 3), ks * 2 + ((lane >> 3) & 1)), b0, b1,
                   b2, b3);
        mmaBf16(s[n], qa[ks], b0, b1);
        mmaBf16(s[n + 1], qa[ks], b2, b3);
      }
    }
    // Only the tiles that reach a row's own position (the diagonal) need the causal mask: the
    // others are visible to every row of the warp (padding rows compute finite values never written).
    const bool masked = kv0 + BK - 1 > warpFirstPos;
#pragma unroll
    for (int n = 0; n < ST; n++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        s[n][e] *= scaleLog2;
        if (masked && kv0 + n * 8 + 2 * quad + (e & 1) > qPos[e >> 1]) s[n][e] = NEG_INF;
      }
    }
    unsigned pa[BK / 16][4];
    onlineSoftmaxTile(s, m, l, o, pa);
#pragma unroll
    for (int k = 0; k < BK / 16; k++) {
#pragma unroll
      for (int n = 0; n < NT; n += 2) {
        unsigned b0, b1, b2, b3;
        ldmatrixX4Trans(sV + tileOffset<D>(k * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, n + (lane >> 4)), b0, b1, b2,
                        b3);
        mmaBf16(o[n], pa[k], b0, b1);
        mmaBf16(o[n + 1], pa[k], b2, b3);
      }
    }
  }
  cpAsyncWait<0>();

#pragma unroll
  for (int h = 0; h < 2; h++) {
    const int r = warp * 16 + g + 8 * h;
    if (r >= rows) continue;
    const float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;
    bf16* dst = out + (qBeg + qTile + r) * qStride + head * D + 2 * quad;
#pragma unroll
    for (int n = 0; n < NT; n++)
      *reinterpret_cast<__nv_bfloat162*>(dst + n * 8) = __floats2bfloat162_rn(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
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
// block 128 (4 warps). A split is a run of 16-token cache blocks, taken 4 at a time (one per
// warp): all threads copy a group's K and V into shared memory with cp.async, DECODE_STAGES - 1
// groups ahead of the one being multiplied, so each block keeps tens of KB in flight. Each warp
// keeps its own online softmax with S, P and O in mma.sync fragments (registers), and the 4 are
// merged at the end into the split's partial output (the attention output itself when the
// sequence has one split).
// NOTE: slots past the context in the last block are masked in S, but P (zero there) still
// multiplies their V rows: the cache is zeroed at allocation so those are never NaN.
template <int D>
struct DecodeTcSmem {
  static constexpr int PAGE_BYTES = 16 * D * 2;                                 // one cache block of K (or V)
  static constexpr int STAGE_BYTES = 2 * attn::DECODE_WARPS * PAGE_BYTES;       // K and V of a group of blocks
  static constexpr int Q_OFFSET = attn::DECODE_STAGES * STAGE_BYTES;
  static_assert(Q_OFFSET + PAGE_BYTES == attn::decodeSmemBytes(D), "decode layout");
};

template <int D>
__device__ void attentionDecodeTc(const bf16* __restrict__ q, const bf16* __restrict__ kCache,
                                  const bf16* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocks,
                                  const int* __restrict__ queryStart, const int* __restrict__ contextLens,
                                  float* __restrict__ partOut, float* __restrict__ partMax,
                                  float* __restrict__ partSum, bf16* __restrict__ out, int nH, int nKV, int maxSplits,
                                  int splitLimit, float scaleLog2) {
  using Smem = DecodeTcSmem<D>;
  constexpr int NW = attn::DECODE_WARPS, VEC = D / 8, KS = D / 16, NT = D / 8, STAGES = attn::DECODE_STAGES;
  extern __shared__ __align__(128) unsigned char smem[];
  const unsigned sBase = smemAddr(smem), sQ = sBase + Smem::Q_OFFSET;
  __shared__ float sM[NW][16], sL[NW][16];
  const int seq = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int qb = queryStart[seq];
  if (queryStart[seq + 1] - qb != 1) return;
  const int ctx = contextLens[seq];
  int numSplits, tps;
  decodeSplits(ctx, 16, splitLimit, numSplits, tps);
  if (split >= numSplits) return;
  const int page0 = split * tps, page1 = min((ctx + 15) / 16, page0 + tps);
  const int numGroups = (page1 - page0 + NW - 1) / NW;
  const int G = nH / nKV;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int* bt = blockTables + (size_t)seq * maxBlocks;

  // The cache block ids of group i, read one group ahead of their copies so that the block-table
  // load is not a round trip in front of every group's cp.async.
  int ids[NW];
  auto fetchIds = [&](int i) {
#pragma unroll
    for (int w = 0; w < NW; w++) {
      const int page = page0 + i * NW + w;
      ids[w] = page < page1 ? bt[page] : -1;
    }
  };
  // The group whose block ids are in `ids` (K then V) into stage s; blocks past the split are left unread.
  auto loadGroup = [&](int s) {
#pragma unroll
    for (int kv = 0; kv < 2; kv++) {
#pragma unroll
      for (int w = 0; w < NW; w++) {
        if (ids[w] < 0) break;
        const bf16* src = (kv ? vCache : kCache) + ((size_t)ids[w] * nKV + kvh) * 16 * D;
        const unsigned dst = sBase + s * Smem::STAGE_BYTES + (kv * NW + w) * Smem::PAGE_BYTES;
        for (int c = tid; c < 16 * VEC; c += blockDim.x)
          cpAsync16(dst + tileOffset<D>(c / VEC, c % VEC), src + c * 8);
      }
    }
  };
#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < numGroups) {
      fetchIds(s);
      loadGroup(s);
    }
    cpAsyncCommit();
  }
  fetchIds(STAGES - 1);

  // The query tile (rows past G zero), then its A fragments for every 16 dims.
  for (int c = tid; c < 16 * VEC; c += blockDim.x) {
    const int r = c / VEC;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < G) v = *reinterpret_cast<const uint4*>(q + ((size_t)qb * nH + kvh * G + r) * D + (c % VEC) * 8);
    *reinterpret_cast<uint4*>(smem + Smem::Q_OFFSET + tileOffset<D>(r, c % VEC)) = v;
  }
  __syncthreads();
  unsigned qa[KS][4];
#pragma unroll
  for (int ks = 0; ks < KS; ks++)
    ldmatrixX4(sQ + tileOffset<D>(lane & 15, ks * 2 + (lane >> 4)), qa[ks][0], qa[ks][1], qa[ks][2], qa[ks][3]);

  // This thread's rows of the 16: g and g + 8; its S columns (tokens) 2q, 2q + 1, 8 + 2q, 9 + 2q.
  const int quad = lane & 3;
  float o[NT][4];
#pragma unroll
  for (int n = 0; n < NT; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.f, 0.f};

  for (int i = 0; i < numGroups; i++) {
    cpAsyncWait<STAGES - 2>();
    __syncthreads();
    // The stage refilled here was read in iteration i - 1, which every warp has finished.
    if (i + STAGES - 1 < numGroups) {
      loadGroup((i + STAGES - 1) % STAGES);
      fetchIds(i + STAGES);
    }
    cpAsyncCommit();
    const int page = page0 + i * NW + warp;
    if (page >= page1) continue;
    const unsigned sK = sBase + (i % STAGES) * Smem::STAGE_BYTES + warp * Smem::PAGE_BYTES;
    const unsigned sV = sK + NW * Smem::PAGE_BYTES;

    float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
      unsigned b0, b1, b2, b3;
      ldmatrixX4(sK + tileOffset<D>((lane & 7) + ((lane >> 4) << 3), ks * 2 + ((lane >> 3) & 1)), b0, b1, b2,
                 b3);
      mmaBf16(s[0], qa[ks], b0, b1);
      mmaBf16(s[1], qa[ks], b2, b3);
    }
#pragma unroll
    for (int t = 0; t < 2; t++)
#pragma unroll
      for (int e = 0; e < 4; e++)
        s[t][e] = page * 16 + t * 8 + 2 * quad + (e & 1) < ctx ? s[t][e] * scaleLog2 : NEG_INF;
    unsigned pa[1][4];
    onlineSoftmaxTile(s, m, l, o, pa);
#pragma unroll
    for (int n = 0; n < NT; n += 2) {
      unsigned b0, b1, b2, b3;
      ldmatrixX4Trans(sV + tileOffset<D>((lane & 7) + ((lane >> 3) & 1) * 8, n + (lane >> 4)), b0, b1, b2, b3);
      mmaBf16(o[n], pa[0], b0, b1);
      mmaBf16(o[n + 1], pa[0], b2, b3);
    }
  }
  cpAsyncWait<0>();
  __syncthreads();

  // Merge the warps: each leaves its O (fp32, [16][D]) in the now idle stages, and its m and l.
  // NOTE: rows padded by 8 floats, so the 4 rows each half-warp's 8-byte stores span fall in
  // different banks (unpadded, a row is a multiple of 128 bytes and they all collide).
  constexpr int LDO = D + 8;
  static_assert(NW * 16 * LDO * 4 <= STAGES * Smem::STAGE_BYTES, "merge buffer fits in the stages");
  float* sO = reinterpret_cast<float*>(smem);
  const int g = lane >> 2;
#pragma unroll
  for (int n = 0; n < NT; n++) {
    float* row0 = sO + (warp * 16 + g) * LDO + n * 8 + 2 * quad;
    *reinterpret_cast<float2*>(row0) = make_float2(o[n][0], o[n][1]);
    *reinterpret_cast<float2*>(row0 + 8 * LDO) = make_float2(o[n][2], o[n][3]);
  }
  if (quad == 0) {
    sM[warp][g] = m[0];
    sM[warp][g + 8] = m[1];
    sL[warp][g] = l[0];
    sL[warp][g + 8] = l[1];
  }
  __syncthreads();
  const size_t partBase = ((size_t)seq * nH + kvh * G) * maxSplits + split;
  for (int i = tid; i < G * D; i += blockDim.x) {
    const int r = i / D, d = i % D;
    float gm = NEG_INF;
#pragma unroll
    for (int w = 0; w < NW; w++) gm = fmaxf(gm, sM[w][r]);
    float merged = 0.f, den = 0.f;
#pragma unroll
    for (int w = 0; w < NW; w++) {
      const float wt = sM[w][r] == NEG_INF ? 0.f : exp2f(sM[w][r] - gm);
      merged += sO[(w * 16 + r) * LDO + d] * wt;
      den += sL[w][r] * wt;
    }
    // One split (every sequence of a large batch): the final output, and the combine skips it.
    if (numSplits == 1) {
      out[((size_t)qb * nH + kvh * G + r) * D + d] = __float2bfloat16(den > 0.f ? merged / den : 0.f);
      continue;
    }
    partOut[(partBase + (size_t)r * maxSplits) * D + d] = merged;
    if (d == 0) {
      partMax[partBase + (size_t)r * maxSplits] = gm;
      partSum[partBase + (size_t)r * maxSplits] = den;
    }
  }
}

#define DECODE_TC_KERNEL(D)                                                                                   \
  extern "C" __global__ void __launch_bounds__(128) attention_decode_tc_d##D(                                 \
      const bf16* q, const bf16* kCache, const bf16* vCache, const int* blockTables, int maxBlocks,           \
      const int* queryStart, const int* contextLens, float* partOut, float* partMax, float* partSum, bf16* out, \
      int nH, int nKV, int maxSplits, int splitLimit, float scaleLog2) {                                      \
    attentionDecodeTc<D>(q, kCache, vCache, blockTables, maxBlocks, queryStart, contextLens, partOut, partMax, \
                         partSum, out, nH, nKV, maxSplits, splitLimit, scaleLog2);                            \
  }
DECODE_TC_KERNEL(16)
DECODE_TC_KERNEL(32)
DECODE_TC_KERNEL(64)
DECODE_TC_KERNEL(128)

// grid: (numSeqs, nH); block: max(D, 32). Merges the splits of one query head; a sequence of one
// split is left alone when its decode kernel wrote the output itself (singleWritten: the tensor-core one).
extern "C" __global__ void attention_decode_combine(const float* __restrict__ partOut,
                                                    const float* __restrict__ partMax,
                                                    const float* __restrict__ partSum,
                                                    const int* __restrict__ queryStart,
                                                    const int* __restrict__ contextLens, bf16* __restrict__ out,
                                                    int nH, int D, int maxSplits, int chunkTokens, int splitLimit,
                                                    int singleWritten) {
  const int seq = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
  const int qb = queryStart[seq];
  if (queryStart[seq + 1] - qb != 1 || d >= D) return;
  int numSplits, cps;
  decodeSplits(contextLens[seq], chunkTokens, splitLimit, numSplits, cps);
  if (numSplits == 1 && singleWritten) return;
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
