#include "step_contract.h"

#include <algorithm>
#include <stdexcept>

#include "layout.h"

namespace swiftlet_common {
namespace {

[[noreturn]] void fail(const std::string& message) { throw std::invalid_argument("invalid step: " + message); }

std::string sequence(int s) { return "sequence " + std::to_string(s); }

void checkLength(size_t actual, size_t expected, const char* name, const char* expectedText) {
  if (actual != expected) {
    fail(std::string(name) + " has " + std::to_string(actual) + " entries, expected " + expectedText + " = " +
         std::to_string(expected));
  }
}

// An offsets array of a flattened token list: empty (no sequence has any) or [numSeqs + 1],
// from 0 to the list's length, never decreasing.
void checkOffsets(const std::vector<int32_t>& offsets, size_t numValues, int numSeqs, const char* name) {
  if (offsets.empty()) {
    if (numValues != 0) fail(std::string(name) + " is empty but its list has " + std::to_string(numValues) + " entries");
    return;
  }
  checkLength(offsets.size(), static_cast<size_t>(numSeqs) + 1, name, "numSeqs + 1");
  if (offsets[0] != 0 || static_cast<size_t>(offsets[numSeqs]) != numValues) {
    fail(std::string(name) + " must run from 0 to its list's length " + std::to_string(numValues));
  }
  for (int s = 0; s < numSeqs; s++)
    if (offsets[s + 1] < offsets[s]) fail(std::string(name) + " decreases at " + sequence(s));
}

void checkArrayLengths(const StepInput& step) {
  const size_t T = static_cast<size_t>(step.numTokens), S = static_cast<size_t>(step.numSeqs);
  checkLength(step.tokenIds.size(), T, "tokenIds", "numTokens");
  checkLength(step.positions.size(), T, "positions", "numTokens");
  checkLength(step.slotMapping.size(), T, "slotMapping", "numTokens");
  checkLength(step.queryStart.size(), S + 1, "queryStart", "numSeqs + 1");
  checkLength(step.contextLens.size(), S, "contextLens", "numSeqs");
  checkLength(step.adapterSlots.size(), S, "adapterSlots", "numSeqs");
  if (step.maxBlocksPerSeq < 0) fail("maxBlocksPerSeq is negative");
  checkLength(step.blockTables.size(), S * step.maxBlocksPerSeq, "blockTables", "numSeqs * maxBlocksPerSeq");
  const SamplingInput& sampling = step.sampling;
#define SWIFTLET_CHECK_FIELD(type, name) checkLength(sampling.name.size(), S, "sampling." #name, "numSeqs");
  SWIFTLET_SAMPLING_PER_SEQUENCE(SWIFTLET_CHECK_FIELD)
#undef SWIFTLET_CHECK_FIELD
  checkLength(sampling.seeds.size(), 2 * S, "sampling.seeds", "2 * numSeqs");
#define SWIFTLET_CHECK_LIST(type, values, offsets) \
  checkOffsets(sampling.offsets, sampling.values.size(), step.numSeqs, "sampling." #offsets);
  SWIFTLET_SAMPLING_TOKEN_LISTS(SWIFTLET_CHECK_LIST)
#undef SWIFTLET_CHECK_LIST
  checkLength(sampling.biasValues.size(), sampling.biasTokenIds.size(), "sampling.biasValues", "biasTokenIds' length");
}

void checkSequence(const StepInput& step, const StepLimits& limits, int s) {
  const int begin = step.queryStart[s], end = step.queryStart[s + 1];
  const int contextLen = step.contextLens[s];
  if (contextLen < end - begin || contextLen > limits.maxContext) {
    fail(sequence(s) + " has context length " + std::to_string(contextLen) + ", outside " + std::to_string(end - begin) +
         ".." + std::to_string(limits.maxContext));
  }
  const int64_t numSlots = static_cast<int64_t>(limits.numKvBlocks) * kKvBlockSize;
  for (int t = begin; t < end; t++) {
    const int32_t id = step.tokenIds[t], position = step.positions[t], slot = step.slotMapping[t];
    if (id < 0 || id >= limits.vocabSize) fail("token id " + std::to_string(id) + " is outside the vocabulary");
    if (position < 0 || position >= contextLen) {
      fail("position " + std::to_string(position) + " of " + sequence(s) + " is outside its context of " +
           std::to_string(contextLen));
    }
    if (slot < 0 || slot >= numSlots) fail("slot " + std::to_string(slot) + " is outside the KV cache");
  }
  const int numBlocks = (contextLen + kKvBlockSize - 1) / kKvBlockSize;
  if (numBlocks > step.maxBlocksPerSeq) fail(sequence(s) + " needs more blocks than maxBlocksPerSeq");
  for (int b = 0; b < numBlocks; b++) {
    const int32_t block = step.blockTables[static_cast<size_t>(s) * step.maxBlocksPerSeq + b];
    if (block < 0 || block >= limits.numKvBlocks) fail(sequence(s) + " has block id " + std::to_string(block) + " outside the KV cache");
  }
  const int adapterSlot = step.adapterSlots[s];
  if (adapterSlot != -1) {
    const std::string uses = sequence(s) + " uses adapter slot " + std::to_string(adapterSlot);
    if (limits.maxLoras == 0) fail(uses + ", but LoRA is off (maxLoras 0)");
    if (adapterSlot < 0 || adapterSlot >= limits.maxLoras || !limits.hasAdapter || !limits.hasAdapter(adapterSlot)) {
      fail(uses + ", which holds no adapter");
    }
  }
  if (step.sampling.numLogprobs[s] > limits.vocabSize) fail(sequence(s) + " asks for more logprobs than the vocabulary has");
}

void checkPositionLogprobs(const PositionLogprobsInput& positions, int numTokens, int vocabSize) {
  if (!positions.wanted) return;
  checkLength(positions.targetTokenId.size(), positions.tokenIndex.size(), "positionLogprobs.targetTokenId", "tokenIndex's length");
  if (positions.topK < 0 || positions.topK > vocabSize) fail("positionLogprobs.topK is outside 0..vocabSize");
  for (size_t e = 0; e < positions.tokenIndex.size(); e++) {
    if (positions.tokenIndex[e] < 0 || positions.tokenIndex[e] >= numTokens) fail("positionLogprobs.tokenIndex is outside the step's tokens");
    if (positions.targetTokenId[e] < -1 || positions.targetTokenId[e] >= vocabSize) {
      fail("positionLogprobs.targetTokenId " + std::to_string(positions.targetTokenId[e]) + " is outside the vocabulary");
    }
  }
}

void checkHiddenStateRows(const std::vector<int32_t>& rows, int numTokens) {
  for (const int32_t row : rows)
    if (row < 0 || row >= numTokens) fail("hiddenStateRows holds " + std::to_string(row) + ", outside the step's tokens");
}

}  // namespace

// A constrained row must leave its sequence a token to sample, and its sampled logits row must
// not also serve positionLogprobs (the samplers mask that row in place).
void checkTokenBitmask(const StepInput& step, const TokenBitmaskInput& mask, int vocabSize) {
  if (!mask.present) return;
  const int minWords = (vocabSize + 31) / 32;
  if (mask.numWords < minWords) {
    fail("tokenBitmask.numWords " + std::to_string(mask.numWords) + " is below ceil(vocabSize / 32) = " + std::to_string(minWords));
  }
  const size_t S = static_cast<size_t>(step.numSeqs);
  checkLength(mask.hasBitmask.size(), S, "tokenBitmask.hasBitmask", "numSeqs");
  checkLength(mask.bitmask.size(), S * mask.numWords, "tokenBitmask.bitmask", "numSeqs * numWords");
  for (int s = 0; s < step.numSeqs; s++) {
    if (mask.hasBitmask[s] > 1) fail("tokenBitmask.hasBitmask of " + sequence(s) + " must be 0 or 1");
    const uint32_t* row = mask.rowOf(s);
    if (row == nullptr || !step.sampling.doSample[s]) continue;
    bool isAnyAllowed = false;
    for (int w = 0; w < minWords && !isAnyAllowed; w++) {
      const int bitsInWord = std::min(32, vocabSize - w * 32);
      const uint32_t inVocab = bitsInWord == 32 ? 0xffffffffu : (1u << bitsInWord) - 1;
      isAnyAllowed = (row[w] & inVocab) != 0;
    }
    if (!isAnyAllowed) fail("tokenBitmask of " + sequence(s) + " allows no token of the vocabulary");
  }
  if (!step.positionLogprobs.wanted) return;
  for (int32_t index : step.positionLogprobs.tokenIndex) {
    const int s = static_cast<int>(std::upper_bound(step.queryStart.begin(), step.queryStart.end(), index) - step.queryStart.begin()) - 1;
    if (mask.rowOf(s) != nullptr && step.sampling.doSample[s] && index == step.queryStart[s + 1] - 1) {
      fail("positionLogprobs.tokenIndex " + std::to_string(index) + " is the sampled token of constrained " + sequence(s));
    }
  }
}

void validateStep(const StepInput& step, const StepLimits& limits) {
  if (step.numSeqs <= 0 || step.numTokens <= 0) fail("a step needs at least one sequence and one token");
  if (limits.maxNumSeqs > 0 && step.numSeqs > limits.maxNumSeqs) {
    fail("step has " + std::to_string(step.numSeqs) + " sequences, more than maxNumSeqs " + std::to_string(limits.maxNumSeqs));
  }
  if (limits.maxNumTokens > 0 && step.numTokens > limits.maxNumTokens) {
    fail("step has " + std::to_string(step.numTokens) + " tokens, more than maxNumTokens " + std::to_string(limits.maxNumTokens));
  }
  checkArrayLengths(step);
  if (step.queryStart[0] != 0 || step.queryStart[step.numSeqs] != step.numTokens) fail("queryStart must run from 0 to numTokens");
  // NOTE: checked whole before any sequence's tokens are read, so every span lies within numTokens.
  for (int s = 0; s < step.numSeqs; s++)
    if (step.queryStart[s + 1] <= step.queryStart[s]) fail(sequence(s) + " has no tokens (queryStart must increase)");
  for (int s = 0; s < step.numSeqs; s++) checkSequence(step, limits, s);
  checkPositionLogprobs(step.positionLogprobs, step.numTokens, limits.vocabSize);
  checkTokenBitmask(step, step.tokenBitmask, limits.vocabSize);
  checkHiddenStateRows(step.hiddenStateRows, step.numTokens);
  checkLength(step.ropeInvFreq.size(), static_cast<size_t>(step.numSeqs) * limits.ropeInvFreqWidth, "ropeInvFreq",
              "numSeqs * the model's per-sequence rotary width");
}

}  // namespace swiftlet_common
