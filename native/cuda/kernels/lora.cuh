// LoRA for mixed batches: every token uses the adapter of its sequence (tokenSlot[t], -1 = base),
// y += scale * (x @ A^T) @ B^T, as a "shrink" (u = x @ A^T, rank wide) and an "expand" (y += B u).
// A fused projection ([q; k; v], [gate; up]) has one segment per part: u holds numSeg * R values
// per token (R = maxLoraRank, segment s at s * R), and expand column c of the fused output reads
// segment (c >= segEnd0) + (c >= segEnd1).
// Weights (fp32, as PEFT keeps them) of every slot share one layout, `slotStride` elements apart:
//   A: [numSeg * R, K] (segment s's rank rows at s * R),  B: [N, R] (row c's first rank[slot] entries).
// Rows past an adapter's rank are zero on the device, and only the first rank[slot] are read.
// NOTE: slots, ranks and scales are read on the device, so a captured graph serves any adapters.
#pragma once
#include "common.cuh"

#define LORA_TILE 8

// grid (ceil(T / LORA_TILE), numSeg * ceil(R / 4)), block 128: one warp per rank row r, for a tile
// of LORA_TILE tokens (a row of A is loaded once for the tokens of the tile that share its slot).
extern "C" __global__ void __launch_bounds__(128)
    lora_shrink(const bf16* __restrict__ x, int ldx, int K, const int* __restrict__ tokenSlot, int T,
                const float* __restrict__ A, long long slotStride, const int* __restrict__ ranks, int R,
                float* __restrict__ u, int uld) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rowGroups = (R + 3) / 4;
  const int seg = blockIdx.y / rowGroups, r = (blockIdx.y % rowGroups) * 4 + warp;
  const int t0 = blockIdx.x * LORA_TILE;
  const float* arow[LORA_TILE];
  bool any = false;
#pragma unroll
  for (int i = 0; i < LORA_TILE; i++) {
    const int t = t0 + i;
    const int slot = t < T ? tokenSlot[t] : -1;
    arow[i] = slot >= 0 && r < ranks[slot] ? A + slot * slotStride + (size_t)(seg * R + r) * K : nullptr;
    any |= arow[i] != nullptr;
  }
  if (!any) return;
  float acc[LORA_TILE];
#pragma unroll
  for (int i = 0; i < LORA_TILE; i++) acc[i] = 0.f;
  const int kv = K / 8;
  for (int j = lane; j < kv; j += 32) {
    const float* last = nullptr;
    float af[8];
#pragma unroll
    for (int i = 0; i < LORA_TILE; i++) {
      if (!arow[i]) continue;
      if (arow[i] != last) {
        const float4 lo = __ldg(reinterpret_cast<const float4*>(arow[i]) + 2 * j),
                     hi = __ldg(reinterpret_cast<const float4*>(arow[i]) + 2 * j + 1);
        af[0] = lo.x, af[1] = lo.y, af[2] = lo.z, af[3] = lo.w, af[4] = hi.x, af[5] = hi.y, af[6] = hi.z, af[7] = hi.w;
        last = arow[i];
      }
      float xf[8];
      unpack8(__ldg(reinterpret_cast<const uint4*>(x + (size_t)(t0 + i) * ldx) + j), xf);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[i] += af[e] * xf[e];
    }
  }
#pragma unroll
  for (int i = 0; i < LORA_TILE; i++) {
    const float v = warpSum(acc[i]);
    if (lane == 0 && arow[i]) u[(size_t)(t0 + i) * uld + seg * R + r] = v;
  }
}

// grid (ceil(T / LORA_TILE), ceil(N / 256)), block 256, dynamic shared LORA_TILE * uld floats:
// one thread per output column, for a tile of tokens (its row of B stays in L1 across them).
extern "C" __global__ void __launch_bounds__(256)
    lora_expand(const float* __restrict__ u, int uld, const int* __restrict__ tokenSlot, int T,
                const float* __restrict__ B, long long slotStride, const int* __restrict__ ranks,
                const float* __restrict__ scales, int R, bf16* __restrict__ y, int ldy, int N, int segEnd0,
                int segEnd1) {
  extern __shared__ float us[];
  const int t0 = blockIdx.x * LORA_TILE;
  int slots[LORA_TILE];
  bool any = false;
#pragma unroll
  for (int i = 0; i < LORA_TILE; i++) {
    const int t = t0 + i;
    slots[i] = t < T ? tokenSlot[t] : -1;
    if (slots[i] >= 0 && ranks[slots[i]] == 0) slots[i] = -1;
    any |= slots[i] >= 0;
  }
  if (!any) return;
#pragma unroll
  for (int i = 0; i < LORA_TILE; i++) {
    if (slots[i] < 0) continue;
    for (int j = threadIdx.x; j < uld; j += blockDim.x) us[i * uld + j] = u[(size_t)(t0 + i) * uld + j];
  }
  __syncthreads();
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= N) return;
  const int seg = (c >= segEnd0) + (c >= segEnd1);
#pragma unroll
  for (int i = 0; i < LORA_TILE; i++) {
    const int slot = slots[i];
    if (slot < 0) continue;
    const int rank = ranks[slot];
    const float* brow = B + slot * slotStride + (size_t)c * R;
    const float* ur = us + i * uld + seg * R;
    float sum = 0.f;
    for (int k = 0; k < rank; k++) sum += __ldg(brow + k) * ur[k];
    bf16* out = y + (size_t)(t0 + i) * ldy + c;
    *out = __float2bfloat16(__bfloat162float(*out) + scales[slot] * sum);
  }
}
