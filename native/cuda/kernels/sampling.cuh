// Sampling next to the logits. Logprobs are of the raw distribution (before penalties and
// temperature), as vLLM's default. Random draws are a pure function of (seed, sampleIndex, token):
// Gumbel-max over the filtered distribution, so a request's tokens never depend on its batch.
#pragma once
#include "common.cuh"
#include "../src/step_rows.h"

struct ArgMax {
  float v;
  int i;
};

// Larger value wins; equal values: the smaller index (greedy picks the first maximum).
__device__ __forceinline__ ArgMax better(ArgMax a, ArgMax b) {
  if (b.v > a.v || (b.v == a.v && b.i >= 0 && (a.i < 0 || b.i < a.i))) return b;
  return a;
}

__device__ ArgMax blockArgMax(ArgMax x) {
  __shared__ float sv[32];
  __shared__ int si[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, numWarps = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ArgMax y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
    x = better(x, y);
  }
  __syncthreads();
  if (lane == 0) {
    sv[warp] = x.v;
    si[warp] = x.i;
  }
  __syncthreads();
  x = lane < numWarps ? ArgMax{sv[lane], si[lane]} : ArgMax{NEG_INF, -1};
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ArgMax y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
    x = better(x, y);
  }
  return x;
}

// Log-sum-exp of a row, the target's logprob and the top k (value desc, id asc), by k passes.
__device__ void rowLogprobs(const float* __restrict__ row, int V, int k, int target, float* lseOut,
                           float* targetOut, int* topIds, float* topLps) {
  __shared__ float scratch[32];
  float mx = NEG_INF;
  for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, row[v]);
  mx = blockMax(mx, scratch);
  float sum = 0.f;
  for (int v = threadIdx.x; v < V; v += blockDim.x) sum += expf(row[v] - mx);
  sum = blockSum(sum, scratch);
  const float lse = mx + logf(sum);
  if (threadIdx.x == 0) {
    if (lseOut) *lseOut = lse;
    if (targetOut) *targetOut = target >= 0 && target < V ? row[target] - lse : __int_as_float(0x7fc00000);
  }
  float prevV = __int_as_float(0x7f800000);
  int prevI = -1;
  for (int r = 0; r < k; r++) {
    ArgMax best{NEG_INF, -1};
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
      const float x = row[v];
      if (x < prevV || (x == prevV && v > prevI)) best = better(best, ArgMax{x, v});
    }
    best = blockArgMax(best);
    if (threadIdx.x == 0) {
      topIds[r] = best.i;
      topLps[r] = best.i >= 0 ? best.v - lse : NEG_INF;
    }
    prevV = best.v;
    prevI = best.i;
  }
}

// grid: sample rows [rowBegin, rowEnd) whose logits are in this chunk (logits row = logitRow - chunkBase).
extern "C" __global__ void sample_row_logprobs(const float* __restrict__ logits, int V, int chunkBase,
                                               const SampleRow* __restrict__ rows, int rowBegin, int topK,
                                               float* __restrict__ lse, int* __restrict__ topIds,
                                               float* __restrict__ topLps) {
  const int r = rowBegin + blockIdx.x;
  const SampleRow p = rows[r];
  const int k = p.numLogprobs > 0 ? topK : 0;
  rowLogprobs(logits + (size_t)(p.logitRow - chunkBase) * V, V, k, -1, lse + r, nullptr,
              topIds + (size_t)r * topK, topLps + (size_t)r * topK);
  if (k == 0 && topK > 0) {
    for (int i = threadIdx.x; i < topK; i += blockDim.x) {
      topIds[(size_t)r * topK + i] = -1;
      topLps[(size_t)r * topK + i] = __int_as_float(0x7fc00000);
    }
  }
}

extern "C" __global__ void position_row_logprobs(const float* __restrict__ logits, int V, int chunkBase,
                                                 const PositionRow* __restrict__ rows, int rowBegin, int topK,
                                                 float* __restrict__ targetLps, int* __restrict__ topIds,
                                                 float* __restrict__ topLps) {
  const int r = rowBegin + blockIdx.x;
  const PositionRow p = rows[r];
  rowLogprobs(logits + (size_t)(p.logitRow - chunkBase) * V, V, topK, p.target, nullptr, targetLps + r,
              topIds + (size_t)r * topK, topLps + (size_t)r * topK);
}

// Logit bias then penalties (vLLM's order), into `processed`; `counts` is all zero on entry and exit.
// Bits of counts: low 28 = occurrences in the output, bit 29 = applied, bit 30 = in the prompt.
extern "C" __global__ void apply_penalties(const float* __restrict__ logits, float* __restrict__ processed, int V,
                                           int chunkBase, const SampleRow* __restrict__ rows, int rowBegin,
                                           const int* __restrict__ promptIds, const int* __restrict__ outputIds,
                                           const int* __restrict__ biasIds, const float* __restrict__ biasValues,
                                           int* __restrict__ counts) {
  const int r = rowBegin + blockIdx.x;
  const SampleRow p = rows[r];
  if (!p.needsProcessing) return;
  const size_t off = (size_t)(p.logitRow - chunkBase) * V;
  const float* src = logits + off;
  float* dst = processed + off;
  int* cnt = counts + (size_t)blockIdx.x * V;
  for (int v = threadIdx.x; v < V; v += blockDim.x) dst[v] = src[v];
  __syncthreads();
  for (int i = p.biasBeg + threadIdx.x; i < p.biasEnd; i += blockDim.x) {
    const int t = biasIds[i];
    if (t >= 0 && t < V) dst[t] += biasValues[i];
  }
  const bool usesPrompt = p.repetitionPenalty != 1.f;
  for (int i = p.outputBeg + threadIdx.x; i < p.outputEnd; i += blockDim.x) {
    const int t = outputIds[i];
    if (t >= 0 && t < V) atomicAdd(cnt + t, 1);
  }
  if (usesPrompt) {
    for (int i = p.promptBeg + threadIdx.x; i < p.promptEnd; i += blockDim.x) {
      const int t = promptIds[i];
      if (t >= 0 && t < V) atomicOr(cnt + t, 1 << 30);
    }
  }
  __syncthreads();
  const int numOut = p.outputEnd - p.outputBeg, numPrompt = usesPrompt ? p.promptEnd - p.promptBeg : 0;
  for (int i = threadIdx.x; i < numOut + numPrompt; i += blockDim.x) {
    const int t = i < numOut ? outputIds[p.outputBeg + i] : promptIds[p.promptBeg + i - numOut];
    if (t < 0 || t >= V) continue;
    const int old = atomicOr(cnt + t, 1 << 29);
    if (old & (1 << 29)) continue;
    const int c = old & ((1 << 28) - 1);
    float x = dst[t];
    if (p.repetitionPenalty != 1.f) x = x > 0.f ? x / p.repetitionPenalty : x * p.repetitionPenalty;
    x -= p.frequencyPenalty * (float)c + p.presencePenalty * (c > 0 ? 1.f : 0.f);
    dst[t] = x;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < numOut + numPrompt; i += blockDim.x) {
    const int t = i < numOut ? outputIds[p.outputBeg + i] : promptIds[p.promptBeg + i - numOut];
    if (t >= 0 && t < V) cnt[t] = 0;
  }
}

__device__ __forceinline__ uint32_t orderedKey(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

__device__ __forceinline__ float gumbel(uint64_t seed, int sampleIndex, int token) {
  const uint64_t h = mix64(mix64(seed ^ mix64((uint64_t)(uint32_t)sampleIndex)) ^ (uint64_t)(uint32_t)token);
  const float u = ((float)(h >> 40) + 0.5f) * (1.f / 16777216.f);
  return -logf(-logf(u));
}

// The largest key t with W({v : key(x_v) >= t, key(x_v) >= minKey}) >= target, where W counts
// (mass = false) or sums exp(x - xmax) in 2^-32 fixed point (mass = true: exact, order-free).
// For mass, target is a fraction of the total. Radix select, 8 bits per pass.
__device__ uint32_t radixThreshold(const float* __restrict__ row, int V, float invT, float xmax, uint32_t minKey,
                                   bool mass, double target) {
  __shared__ unsigned long long hist[256];
  __shared__ uint32_t sPrefix;
  __shared__ unsigned long long sAbove, sTarget;
  uint32_t prefix = 0, mask = 0;
  if (threadIdx.x == 0) sAbove = 0;
  for (int pass = 0; pass < 4; pass++) {
    const int shift = 24 - 8 * pass;
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
      const float x = row[v] * invT;
      const uint32_t key = orderedKey(x);
      if (key < minKey || (key & mask) != prefix) continue;
      const unsigned long long w = mass ? (unsigned long long)(exp2f((x - xmax) * 1.4426950408889634f) * 4294967296.f) : 1ull;
      atomicAdd(&hist[(key >> shift) & 255], w);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      if (pass == 0) {
        unsigned long long total = 0;
        for (int b = 0; b < 256; b++) total += hist[b];
        sTarget = mass ? (unsigned long long)ceil(target * (double)total) : (unsigned long long)target;
        if (sTarget == 0) sTarget = 1;
      }
      unsigned long long cum = sAbove;
      int chosen = -1;
      for (int b = 255; b >= 0; b--) {
        if (hist[b] == 0) continue;
        chosen = b;
        if (cum + hist[b] >= sTarget) break;
        cum += hist[b];
      }
      if (chosen < 0) chosen = 0;
      // NOTE: when the target is never reached, `chosen` is the lowest non-empty bin: keep everything.
      if (cum + hist[chosen] < sTarget) cum -= 0;
      sAbove = cum;
      sPrefix = prefix | ((uint32_t)chosen << shift);
    }
    __syncthreads();
    prefix = sPrefix;
    mask |= 255u << shift;
    __syncthreads();
  }
  return prefix;
}

// grid: sample rows [rowBegin, rowBegin + gridDim.x) in this chunk; block 1024.
extern "C" __global__ void sample_rows(const float* __restrict__ logits, const float* __restrict__ processed,
                                       int V, int chunkBase, const SampleRow* __restrict__ rows, int rowBegin,
                                       const float* __restrict__ lse, int* __restrict__ sampledIds,
                                       float* __restrict__ sampledLps) {
  __shared__ float scratch[32];
  const int r = rowBegin + blockIdx.x;
  const SampleRow p = rows[r];
  const size_t off = (size_t)(p.logitRow - chunkBase) * V;
  const float* raw = logits + off;
  const float* row = p.needsProcessing ? processed + off : raw;
  ArgMax best{NEG_INF, -1};
  if (!(p.temperature > 0.f)) {
    for (int v = threadIdx.x; v < V; v += blockDim.x) best = better(best, ArgMax{row[v], v});
    best = blockArgMax(best);
  } else {
    const float invT = 1.f / p.temperature;
    // Plain temperature needs neither the maximum nor a threshold: one Gumbel pass, as greedy's one argmax pass.
    const bool needsMax = p.minP > 0.f || (p.topP < 1.f && p.topP > 0.f);
    float xmax = 0.f;
    if (needsMax) {
      float mx = NEG_INF;
      for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, row[v] * invT);
      xmax = blockMax(mx, scratch);
    }
    uint32_t minKey = 0;
    if (p.minP > 0.f) minKey = orderedKey(xmax + logf(fminf(p.minP, 1.f)));
    if (p.topK > 0 && p.topK < V) {
      const uint32_t k = radixThreshold(row, V, invT, xmax, minKey, false, (double)p.topK);
      minKey = max(minKey, k);
    }
    if (p.topP < 1.f && p.topP > 0.f) {
      const uint32_t k = radixThreshold(row, V, invT, xmax, minKey, true, (double)p.topP);
      minKey = max(minKey, k);
    }
    const uint64_t seed = ((uint64_t)p.seedHi << 32) | p.seedLo;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
      const float x = row[v] * invT;
      if (orderedKey(x) < minKey || x == NEG_INF) continue;
      best = better(best, ArgMax{x + gumbel(seed, p.sampleIndex, v), v});
    }
    best = blockArgMax(best);
  }
  if (threadIdx.x == 0) {
    int token = best.i;
    if (token < 0) token = 0;  // NOTE: only when every logit is -inf or NaN.
    sampledIds[r] = token;
    sampledLps[r] = raw[token] - lse[r];
  }
}
