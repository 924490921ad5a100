// Logprobs and sampling for one row of logits, next to the forward pass.
#pragma once
#include <cstdint>
#include <vector>

#include "sampling_settings.h"

namespace swiftlet {

/** One sequence's sampling settings, its seed, and spans into the step's flattened token lists. */
struct RowSampling : swiftlet_common::SamplingSettings {
  uint32_t seedLo = 0;
  uint32_t seedHi = 0;
  const int32_t* promptIds = nullptr;
  int64_t numPromptIds = 0;
  const int32_t* outputIds = nullptr;
  int64_t numOutputIds = 0;
  const int32_t* biasIds = nullptr;
  const float* biasValues = nullptr;
  int64_t numBias = 0;
};

/** Per-thread buffers, vocab-sized, allocated once. */
struct SamplingScratch {
  std::vector<float> values;
  std::vector<int32_t> ids;
  std::vector<int32_t> counts;
  std::vector<int32_t> touched;
  void resize(int vocabSize) {
    values.resize(vocabSize);
    ids.resize(vocabSize);
    counts.assign(vocabSize, 0);
    touched.reserve(1024);
  }
};

/** log(sum(exp(logits))) of the raw logits. */
float logSumExp(const float* logits, int vocabSize);

/** The k most likely ids (ties to the lower id) with their logprobs (logit - lse). */
void topLogprobs(const float* logits, int vocabSize, float lse, int k, int32_t* ids, float* logprobs);

/**
 * Applies logit bias, repetition / presence / frequency penalties and temperature, then
 * greedy argmax (temperature 0, ties to the lowest id) or min-p, top-k, top-p and one draw
 * from a counter-based generator keyed by (seed, sampleIndex).
 */
int32_t sampleToken(const float* logits, int vocabSize, const RowSampling& row, SamplingScratch& scratch);

/** Uniform double in [0, 1) from Philox4x32-10 keyed by the seed, counter = sampleIndex. */
double philoxUniform(uint32_t seedLo, uint32_t seedHi, uint32_t counter);

}  // namespace swiftlet
