// Embedding, RMSNorm fused with the residual add, q/k/v bias + q/k norm + rotary + KV-cache
// write in one pass, SiLU-and-multiply, bias add.
#pragma once
#include "common.cuh"

// residual[t] = embedTable[tokenIds[t]] (fp32: the residual stream is kept in fp32).
extern "C" __global__ void embedding_gather(const int* __restrict__ tokenIds, const bf16* __restrict__ table,
                                            float* __restrict__ residual, int hidden) {
  const int t = blockIdx.x;
  const bf16* src = table + (size_t)tokenIds[t] * hidden;
  float* dst = residual + (size_t)t * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = __bfloat162float(src[i]);
}

// residual[t] += delta[t] (+ deltaBias); out[t] = bf16(rmsnorm(residual[t]) * weight).
// delta may be null (first layer). One block per token; each thread owns runs of 8 elements
// (hidden % 8 == 0), loaded and stored 16 bytes at a time, and keeps up to NORM_RUNS of them in
// registers between the sum of squares and the output (a decode step's norms are latency-bound).
constexpr int NORM_RUNS = 2;
extern "C" __global__ void add_rmsnorm(float* __restrict__ residual, const bf16* __restrict__ delta,
                                       const float* __restrict__ deltaBias, const float* __restrict__ weight,
                                       bf16* __restrict__ out, int hidden, float eps) {
  __shared__ float scratch[32];
  const int t = blockIdx.x, runs = hidden / 8;
  float* r = residual + (size_t)t * hidden;
  float kept[NORM_RUNS][8];
  float sumSq = 0.f;
  for (int i = threadIdx.x, k = 0; i < runs; i += blockDim.x, k++) {
    float v[8];
    const float4 a = reinterpret_cast<const float4*>(r)[2 * i], b = reinterpret_cast<const float4*>(r)[2 * i + 1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    if (delta) {
      float d[8];
      unpack8(reinterpret_cast<const uint4*>(delta + (size_t)t * hidden)[i], d);
#pragma unroll
      for (int e = 0; e < 8; e++) v[e] += d[e] + (deltaBias ? deltaBias[8 * i + e] : 0.f);
      reinterpret_cast<float4*>(r)[2 * i] = make_float4(v[0], v[1], v[2], v[3]);
      reinterpret_cast<float4*>(r)[2 * i + 1] = make_float4(v[4], v[5], v[6], v[7]);
    }
#pragma unroll
    for (int e = 0; e < 8; e++) {
      sumSq += v[e] * v[e];
      if (k < NORM_RUNS) kept[k][e] = v[e];
    }
  }
  const float inv = rsqrtf(blockSum(sumSq, scratch) / hidden + eps);
  bf16* o = out + (size_t)t * hidden;
  for (int i = threadIdx.x, k = 0; i < runs; i += blockDim.x, k++) {
    float v[8];
    if (k < NORM_RUNS) {
#pragma unroll
      for (int e = 0; e < 8; e++) v[e] = kept[k][e];
    } else {
      const float4 a = reinterpret_cast<const float4*>(r)[2 * i], b = reinterpret_cast<const float4*>(r)[2 * i + 1];
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
    const float4 wa = reinterpret_cast<const float4*>(weight)[2 * i], wb = reinterpret_cast<const float4*>(weight)[2 * i + 1];
    const float w[8] = {wa.x, wa.y, wa.z, wa.w, wb.x, wb.y, wb.z, wb.w};
#pragma unroll
    for (int e = 0; e < 8; e++) v[e] *= inv * w[e];
    reinterpret_cast<uint4*>(o)[i] = pack8(v);
  }
}

// The final norm, only for the rows whose logits are wanted: out[j] = rmsnorm(residual[rows[j]] + delta[rows[j]]).
extern "C" __global__ void final_norm_rows(const float* __restrict__ residual, const bf16* __restrict__ delta,
                                           const float* __restrict__ deltaBias, const int* __restrict__ rows,
                                           const float* __restrict__ weight, bf16* __restrict__ out, int hidden,
                                           float eps) {
  __shared__ float scratch[32];
  const size_t src = (size_t)rows[blockIdx.x] * hidden;
  float sumSq = 0.f;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = residual[src + i] + __bfloat162float(delta[src + i]) + (deltaBias ? deltaBias[i] : 0.f);
    sumSq += v * v;
  }
  const float inv = rsqrtf(blockSum(sumSq, scratch) / hidden + eps);
  bf16* o = out + (size_t)blockIdx.x * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = residual[src + i] + __bfloat162float(delta[src + i]) + (deltaBias ? deltaBias[i] : 0.f);
    o[i] = __float2bfloat16(v * inv * weight[i]);
  }
}

// grid (T, head groups); one warp per head. qkv: [T, (nH + 2 nKV) * D] straight from the
// fused projection. Adds the bias, applies q/k RMSNorm (Qwen3) and rotary (HF rotate_half layout,
// or pairs (2i, 2i + 1) when ropeInterleaved: ChatGLM), scales q by Qwen v1's log-n factor past
// lognContext (0: off), writes q to qOut [T, nH, D] and k, v into the paged cache at slotMapping[t]
// (skipped when < 0). Cache layout per layer: [numBlocks, nKV, 16, D]. With tokenSeq (Qwen v1's
// dynamic NTK), token t rotates by row tokenSeq[t] of seqInvFreq ([seqs, rotaryDim / 2]), not invFreq.
extern "C" __global__ void qkv_rope_cache(const bf16* __restrict__ qkv, const float* __restrict__ bias,
                                          const float* __restrict__ qNorm, const float* __restrict__ kNorm,
                                          const int* __restrict__ positions, const int* __restrict__ slotMapping,
                                          const float* __restrict__ modelInvFreq, const int* __restrict__ tokenSeq,
                                          const float* __restrict__ seqInvFreq, float attnScale, int rotaryDim,
                                          bf16* __restrict__ qOut, bf16* __restrict__ kCache,
                                          bf16* __restrict__ vCache, int nH, int nKV, int D, float eps,
                                          int ropeInterleaved, int lognContext) {
  extern __shared__ float headBuf[];
  const int t = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, numWarps = blockDim.x >> 5;
  float* x = headBuf + warp * D;
  const float pos = (float)positions[t];
  const float lognScale = lognContext > 0 && positions[t] >= lognContext ? logf(pos + 1.f) / logf((float)lognContext) : 1.f;
  const int slot = slotMapping[t];
  const int numHeads = nH + 2 * nKV, half = rotaryDim / 2;
  const float* invFreq = tokenSeq ? seqInvFreq + (size_t)tokenSeq[t] * half : modelInvFreq;
  const size_t rowBase = (size_t)t * numHeads * D;
  for (int h = blockIdx.y * numWarps + warp; h < numHeads; h += numWarps * gridDim.y) {
    for (int d = lane; d < D; d += 32) {
      float v = __bfloat162float(qkv[rowBase + (size_t)h * D + d]);
      if (bias) v += bias[h * D + d];
      x[d] = v;
    }
    __syncwarp();
    const bool isQ = h < nH, isK = !isQ && h < nH + nKV;
    const float* normW = isQ ? qNorm : (isK ? kNorm : nullptr);
    if (normW) {
      float ss = 0.f;
      for (int d = lane; d < D; d += 32) ss += x[d] * x[d];
      const float inv = rsqrtf(warpSum(ss) / D + eps);
      __syncwarp();
      for (int d = lane; d < D; d += 32) x[d] = __bfloat162float(__float2bfloat16(x[d] * inv)) * normW[d];
      __syncwarp();
    }
    float y[8];  // NOTE: D <= 256, so a lane holds at most 8 values.
    int n = 0;
    for (int d = lane; d < D; d += 32, n++) {
      float v = x[d];
      if ((isQ || isK) && d < rotaryDim) {
        // The pair's first element subtracts its partner's sine term, the second adds it.
        const bool first = ropeInterleaved ? (d & 1) == 0 : d < half;
        const int i = ropeInterleaved ? d >> 1 : (first ? d : d - half);
        const int partner = ropeInterleaved ? d ^ 1 : (first ? d + half : d - half);
        const float f = pos * invFreq[i];
        const float c = cosf(f) * attnScale, s = sinf(f) * attnScale;
        v = first ? x[d] * c - x[partner] * s : x[d] * c + x[partner] * s;
      }
      y[n] = isQ ? v * lognScale : v;
    }
    __syncwarp();
    n = 0;
    for (int d = lane; d < D; d += 32, n++) {
      const bf16 v = __float2bfloat16(y[n]);
      if (isQ) {
        qOut[((size_t)t * nH + h) * D + d] = v;
      } else if (slot >= 0) {
        const int kvh = isK ? h - nH : h - nH - nKV;
        const size_t off = (((size_t)(slot >> 4) * nKV + kvh) * 16 + (slot & 15)) * D + d;
        (isK ? kCache : vCache)[off] = v;
      }
    }
  }
}

// gateUp: [T, 2I] (gate then up); out: [T, I] = silu(gate) * up.
extern "C" __global__ void silu_mul(const bf16* __restrict__ gateUp, const float* __restrict__ bias,
                                    bf16* __restrict__ out, int numTokens, int inter) {
  const size_t total = (size_t)numTokens * inter;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t t = i / inter, c = i % inter;
    float g = __bfloat162float(gateUp[t * 2 * inter + c]);
    float u = __bfloat162float(gateUp[t * 2 * inter + inter + c]);
    if (bias) {
      g += bias[c];
      u += bias[inter + c];
    }
    out[i] = __float2bfloat16(g / (1.f + expf(-g)) * u);
  }
}

// Vectorised form for inter % 8 == 0 and no bias (every supported dense model).
extern "C" __global__ void silu_mul8(const bf16* __restrict__ gateUp, bf16* __restrict__ out, int numTokens,
                                     int inter) {
  const int vecPerRow = inter / 8;
  const size_t total = (size_t)numTokens * vecPerRow;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t t = i / vecPerRow, c = (i % vecPerRow) * 8;
    float g[8], u[8], o[8];
    unpack8(*reinterpret_cast<const uint4*>(gateUp + t * 2 * inter + c), g);
    unpack8(*reinterpret_cast<const uint4*>(gateUp + t * 2 * inter + inter + c), u);
#pragma unroll
    for (int k = 0; k < 8; k++) o[k] = g[k] / (1.f + expf(-g[k])) * u[k];
    *reinterpret_cast<uint4*>(out + t * inter + c) = pack8(o);
  }
}

// x[t, :] += bias (bf16 in place): o / down biases of Llama variants that have them.
extern "C" __global__ void add_bias(bf16* __restrict__ x, const float* __restrict__ bias, int numTokens, int n) {
  const size_t total = (size_t)numTokens * n;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    x[i] = __float2bfloat16(__bfloat162float(x[i]) + bias[i % n]);
}

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Random weights for benchmarks: uniform in [-scale, scale), a pure function of (seed, index).
extern "C" __global__ void fill_uniform_bf16(bf16* __restrict__ dst, size_t n, uint64_t seed, float scale) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const uint64_t h = splitmix64(seed ^ splitmix64(i));
    const float u = (float)(h >> 40) * (1.f / 16777216.f);
    dst[i] = __float2bfloat16((2.f * u - 1.f) * scale);
  }
}

// Random 32-bit words (packed integer weight codes: every bit pattern is a valid code).
extern "C" __global__ void fill_random_u32(uint32_t* __restrict__ dst, size_t n, uint64_t seed) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = (uint32_t)(splitmix64(seed ^ splitmix64(i)) >> 32);
}

extern "C" __global__ void fill_uniform_f32(float* __restrict__ dst, size_t n, uint64_t seed, float center,
                                            float scale) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const uint64_t h = splitmix64(seed ^ splitmix64(i));
    const float u = (float)(h >> 40) * (1.f / 16777216.f);
    dst[i] = center + (2.f * u - 1.f) * scale;
  }
}
