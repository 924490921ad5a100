// The one native form of an engine step (src/runtime/types.ts StepBatch) and its one rule set.
// js_step.cc is the only file that reads the JS step object; it fills a StepInput, and both
// addons call validateStep with their limits before anything runs. Pure C++ (no N-API, no
// CUDA), so the CUDA step planner and its test build without either.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sampling_settings.h"

namespace swiftlet_common {

// Token lists of StepBatch.sampling, each flattened with a [numSeqs + 1] offsets array (empty:
// no sequence has any): (element type, values field, offsets field).
#define SWIFTLET_SAMPLING_TOKEN_LISTS(X)       \
  X(int32_t, promptTokenIds, promptStart)      \
  X(int32_t, outputTokenIds, outputStart)      \
  X(int32_t, biasTokenIds, biasStart)

struct SamplingInput {
#define SWIFTLET_FIELD(type, name) std::vector<type> name;
  SWIFTLET_SAMPLING_PER_SEQUENCE(SWIFTLET_FIELD)
#undef SWIFTLET_FIELD
#define SWIFTLET_LIST(type, values, offsets) \
  std::vector<type> values;                  \
  std::vector<int32_t> offsets;
  SWIFTLET_SAMPLING_TOKEN_LISTS(SWIFTLET_LIST)
#undef SWIFTLET_LIST
  std::vector<float> biasValues;  // parallel to biasTokenIds
  std::vector<uint32_t> seeds;    // [2 * numSeqs]: lo, hi words

  SamplingSettings settingsOf(int seq) const {
    SamplingSettings settings;
#define SWIFTLET_SETTING(type, name) settings.name = name[seq];
    SWIFTLET_SAMPLING_PER_SEQUENCE(SWIFTLET_SETTING)
#undef SWIFTLET_SETTING
    return settings;
  }
};

// Distributions wanted at given token positions (prompt_logprobs, echo).
struct PositionLogprobsInput {
  bool wanted = false;
  std::vector<int32_t> tokenIndex, targetTokenId;
  int topK = 0;
};

// Structured outputs' grammar masks (StepBatch.tokenBitmask): bit (id % 32) of word (id / 32) of
// a sequence's row is 1 where the grammar allows token id; a row with hasBitmask 0 is unconstrained.
struct TokenBitmaskInput {
  bool present = false;
  int numWords = 0;                 // u32 words per row: at least ceil(vocabSize / 32)
  std::vector<uint32_t> bitmask;    // [numSeqs * numWords]
  std::vector<uint8_t> hasBitmask;  // [numSeqs] 0 or 1

  const uint32_t* rowOf(int seq) const {
    return present && hasBitmask[seq] ? bitmask.data() + static_cast<size_t>(seq) * numWords : nullptr;
  }
};

// One engine step, copied out of the JS typed arrays on the JS thread.
struct StepInput {
  int numSeqs = 0, numTokens = 0, maxBlocksPerSeq = 0;
  std::vector<int32_t> tokenIds, positions, slotMapping;  // [numTokens]
  std::vector<int32_t> queryStart;                        // [numSeqs + 1]
  std::vector<int32_t> contextLens, adapterSlots;         // [numSeqs]
  std::vector<int32_t> blockTables;                       // [numSeqs * maxBlocksPerSeq], -1 padded
  SamplingInput sampling;
  PositionLogprobsInput positionLogprobs;
  TokenBitmaskInput tokenBitmask;
  // Token indices whose final hidden state (after the final norm) is wanted (embeddings); empty: none.
  std::vector<int32_t> hiddenStateRows;
  // [numSeqs * rotaryDim / 2] each sequence's rotary inverse frequencies (Qwen v1's dynamic NTK
  // scales the base per sequence); empty for a model whose shape has no perSequenceRope.
  std::vector<float> ropeInvFreq;
};

// What a step may ask of the model that runs it.
struct StepLimits {
  int vocabSize = 0;
  int numKvBlocks = 0;
  int maxContext = 0;    // longest context a sequence may reach (positions and contextLens below it)
  int maxNumSeqs = 0;    // 0: no limit
  int maxNumTokens = 0;  // 0: no limit (the CPU runs a long step as several chunks)
  int maxLoras = 0;
  std::function<bool(int slot)> hasAdapter;
  int ropeInvFreqWidth = 0;  // ModelShape::ropeInvFreqWidth(): ropeInvFreq floats per sequence
};

// Throws std::invalid_argument("invalid step: ...") naming the first broken rule; nothing of a
// step that fails has run.
void validateStep(const StepInput& step, const StepLimits& limits);

// The rules a step's grammar masks must follow (part of validateStep), for a mask that arrives
// after its step started (late_token_bitmask.h).
void checkTokenBitmask(const StepInput& step, const TokenBitmaskInput& mask, int vocabSize);

// The step's results, per sequence (-1 / NaN where a sequence sampled nothing).
struct StepResult {
  std::vector<int32_t> sampledTokenIds;  // [numSeqs]
  std::vector<float> sampledLogprobs;    // [numSeqs]
  int topK = 0;                          // max numLogprobs of the step
  std::vector<int32_t> topTokenIds;      // [numSeqs * topK]
  std::vector<float> topLogprobs;        // [numSeqs * topK]
  std::vector<float> positionTargetLogprobs;  // [entries]
  std::vector<int32_t> positionTopTokenIds;   // [entries * positionLogprobs.topK]
  std::vector<float> positionTopLogprobs;     // [entries * positionLogprobs.topK]
  std::vector<float> hiddenStates;            // [hiddenStateRows * hiddenSize], fp32
};

}  // namespace swiftlet_common
