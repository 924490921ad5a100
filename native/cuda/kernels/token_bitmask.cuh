// Structured outputs' grammar masks, applied to the logits in place before any sampling kernel
// reads them: logprobs are then of the masked distribution, as vLLM applies its grammar bitmask
// to the logits before its sampler.
#pragma once
#include "common.cuh"
#include "../src/step_rows.h"

// grid: sample rows [rowBegin, rowBegin + gridDim.x) whose logits are in this chunk; rows without
// a mask (bitmaskRow -1) return at once. Bit (id % 32) of word (id / 32) is 1 where id is allowed.
extern "C" __global__ void apply_token_bitmask(float* __restrict__ logits, int V, int chunkBase,
                                               const SampleRow* __restrict__ rows, int rowBegin,
                                               const unsigned* __restrict__ bitmask, int numWords) {
  const SampleRow p = rows[rowBegin + blockIdx.x];
  if (p.bitmaskRow < 0) return;
  float* row = logits + (size_t)(p.logitRow - chunkBase) * V;
  const unsigned* words = bitmask + (size_t)p.bitmaskRow * numWords;
  for (int v = threadIdx.x; v < V; v += blockDim.x)
    if (!((words[v >> 5] >> (v & 31)) & 1u)) row[v] = NEG_INF;
}
